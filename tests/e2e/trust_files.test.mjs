// Files GlassTape trusts are refused as ssh's StrictModes refuses them (issue 13, item 7):
// a keyring or key that someone else could have written, or one below a directory that
// others can write, stops `glasstape verify` (exit 2), `serve` and `run` (exit 1), and
// `policy sign`/`check` (exit 2), with a message that names the path and the fix.
// The tests run as root: "someone else" is uid 65534.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { E2E_DIR, NODE, modes, requireBinary, tmpDir } from './lib/harness.mjs';
import { RawPeer } from './lib/raw.mjs';

const ENV_SERVER = path.join(E2E_DIR, 'fixtures', 'env_server.mjs');
const T = { timeout: 60_000 };
const OTHER_UID = 65534;

function cleanEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  delete env.GT_ED25519_PRIVATE_KEY;
  return env;
}

function glasstape(args, env = {}) {
  return spawnSync(requireBinary(), args, { env: cleanEnv(env), encoding: 'utf8', input: '', timeout: 20_000 });
}

// A config in front of the env fixture, and an audit log with a few records in it.
async function setup() {
  const root = tmpDir('gt-e2e-trust-');
  const keysDir = path.join(root, 'keys');
  const auditDir = path.join(root, 'audit');
  const config = path.join(root, 'glasstape.yaml');
  fs.writeFileSync(config, JSON.stringify({
    servers: { envsrv: { command: [NODE, ENV_SERVER], restart: { max: 0 } } },
    identity: { agent_id: 'trust-agent' },
    http: { listen: '127.0.0.1:0' },
    governance: { audit: { dir: auditDir, keys_dir: keysDir, fsync: 'off' } },
  }));
  const peer = new RawPeer(requireBinary(), ['run', '--config', config], { env: cleanEnv() });
  await peer.initialize();
  const exit = await peer.close();
  assert.equal(exit.code, 0, peer.stderrText);
  const keyring = path.join(keysDir, 'default', 'keyring.json');
  assert.ok(fs.existsSync(keyring));
  return { root, keysDir, auditDir, config, keyring };
}

function canChown(p) {
  try {
    fs.chownSync(p, OTHER_UID, -1);
    return true;
  } catch {
    return false;
  }
}

if (modes().includes('proxy')) {
  describe('trusted files', () => {
    test('verify refuses a keyring others could have written, naming the path and the fix', T, async (t) => {
      const s = await setup();
      const env = { GT_KEYS_DIR: s.keysDir };
      let r = glasstape(['verify', s.auditDir], env);
      assert.equal(r.status, 0, r.stdout + r.stderr);

      // A keyring of another user, mode 0666 (it was trusted before).
      const original = fs.statSync(s.keyring);
      fs.chmodSync(s.keyring, 0o666);
      r = glasstape(['verify', s.auditDir], env);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`keyring \`${s.keyring}\` is writable by group or others \\(mode 0666\\); refusing it \\(run \`chmod go-w ${s.keyring}\`\\)`));
      if (canChown(s.keyring)) {
        r = glasstape(['verify', s.auditDir], env);
        assert.equal(r.status, 2, r.stdout + r.stderr);
        assert.match(r.stderr, new RegExp(`keyring \`${s.keyring}\` is owned by uid ${OTHER_UID}, not by the current user \\(uid \\d+\\) or root; refusing it \\(run \`chown \\d+ ${s.keyring}\``));
        // --keyring FILE is held to the same rule.
        r = glasstape(['verify', s.auditDir, '--keyring', s.keyring], env);
        assert.equal(r.status, 2, r.stdout + r.stderr);
        assert.match(r.stderr, /is owned by uid 65534/);
        fs.chownSync(s.keyring, original.uid, -1);
      } else {
        t.diagnostic('not root: the ownership check is not exercised');
      }
      fs.chmodSync(s.keyring, 0o644);
      assert.equal(glasstape(['verify', s.auditDir], env).status, 0);

      // A world-writable keys directory.
      fs.chmodSync(s.keysDir, 0o777);
      r = glasstape(['verify', s.auditDir], env);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`directory \`${s.keysDir}\` above keyring \`${s.keyring}\` is writable by group or others \\(mode 0777\\); refusing it \\(run \`chmod go-w ${s.keysDir}\`\\)`));
      fs.chmodSync(s.keysDir, 0o700);
      assert.equal(glasstape(['verify', s.auditDir], env).status, 0);
    });

    test('serve and run refuse a world-writable keys directory and a key file of another user', T, async (t) => {
      const s = await setup();
      fs.chmodSync(s.keysDir, 0o777);
      for (const front of [['serve', '--config', s.config], ['run', '--config', s.config]]) {
        const r = glasstape(front);
        // Exit 2: it cannot run (README, exit codes).
        assert.equal(r.status, 2, `${front[0]}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, new RegExp(`directory \`${s.keysDir}\` above key file \`[^\`]*agent\\.key\` is writable by group or others \\(mode 0777\\); refusing it \\(run \`chmod go-w ${s.keysDir}\`\\)`));
      }
      fs.chmodSync(s.keysDir, 0o700);
      const keyFile = path.join(s.keysDir, 'default', 'trust-agent', 'agent.key');
      if (!canChown(keyFile)) {
        t.diagnostic('not root: the ownership check is not exercised');
        return;
      }
      const r = glasstape(['serve', '--config', s.config]);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`key file \`${keyFile}\` is owned by uid ${OTHER_UID}`));
    });

    test('policy sign refuses a private key others can read; check refuses a writable public key', T, () => {
      const root = tmpDir('gt-e2e-trust-policy-');
      const dir = path.join(root, 'policies');
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'echo.yaml'),
        'policy_id: echo\nversion: "1"\ntools: [echo]\nrules:\n  allow:\n    - {id: all, condition: ""}\n');
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
      const keyFile = path.join(root, 'policy.key');
      fs.writeFileSync(keyFile, Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url').toString('base64'), { mode: 0o644 });
      fs.chmodSync(keyFile, 0o644);
      let r = glasstape(['policy', 'sign', dir, '--key', keyFile]);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`key file \`${keyFile}\` has mode 0644 and is accessible by group or others; refusing it \\(run \`chmod 600 ${keyFile}\`\\)`));
      fs.chmodSync(keyFile, 0o600);
      r = glasstape(['policy', 'sign', dir, '--key', keyFile]);
      assert.equal(r.status, 0, r.stdout + r.stderr);

      const pubFile = path.join(root, 'policy.pub');
      fs.writeFileSync(pubFile, Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('base64'));
      fs.chmodSync(pubFile, 0o644);
      r = glasstape(['policy', 'verify', dir, '--public-key', pubFile]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      fs.chmodSync(pubFile, 0o666);
      r = glasstape(['policy', 'verify', dir, '--public-key', pubFile]);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`public key file \`${pubFile}\` is writable by group or others \\(mode 0666\\); refusing it \\(run \`chmod go-w ${pubFile}\`\\)`));
    });
  });
}
