// Signed receipts checked by an independent implementation: Node's crypto.verify (Ed25519)
// over the DSSE PAE bytes, the npm `canonicalize` package (RFC 8785) for the payload bytes,
// node:crypto SHA-256 for the hash chain and an RFC 6962 Merkle root written here, against a
// log that `glasstape run` wrote for real calls. Then `glasstape verify` on the real log and
// on tampered copies, a GT_ED25519_PRIVATE_KEY made by Node, and kill -9 under load.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import canonicalize from 'canonicalize';

import {
  EVERYTHING,
  assertDenied,
  connect,
  glasstapeBin,
  modes,
  requireBinary,
  textOf,
  tmpDir,
  waitUntil,
  writeConfig,
} from './lib/harness.mjs';

const T = { timeout: 60_000 };
const PAYLOAD_TYPE = 'application/vnd.glasstape.receipt+json';

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest();
const sha256hex = (bytes) => sha256(bytes).toString('hex');

// DSSE v1 pre-authentication encoding, from the spec (lengths in bytes, ASCII decimal).
function pae(type, body) {
  const t = Buffer.from(type, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${body.length} `), body,
  ]);
}

function ed25519Key(raw32) {
  return crypto.createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw32).toString('base64url') },
    format: 'jwk',
  });
}

// RFC 6962 §2.1, straight from the definition.
function merkleRoot(leaves) {
  if (leaves.length === 0) return sha256(Buffer.alloc(0));
  if (leaves.length === 1) return sha256(Buffer.concat([Buffer.from([0]), leaves[0]]));
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha256(Buffer.concat([
    Buffer.from([1]), merkleRoot(leaves.slice(0, k)), merkleRoot(leaves.slice(k)),
  ]));
}

// A C2SP signed note: text, blank line, "— name base64(keyhash4 || sig)" lines.
function verifyNote(note, name, raw32) {
  const sep = note.lastIndexOf('\n\n');
  const text = note.slice(0, sep + 1);
  const sigLines = note.slice(sep + 2).split('\n').filter(Boolean);
  const keyHash = sha256(Buffer.concat([
    Buffer.from(`${name}\n`), Buffer.from([1]), Buffer.from(raw32),
  ])).subarray(0, 4);
  for (const line of sigLines) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const blob = Buffer.from(m[2], 'base64');
    if (!blob.subarray(0, 4).equals(keyHash)) continue;
    return { text, ok: crypto.verify(null, Buffer.from(text), ed25519Key(raw32), blob.subarray(4)) };
  }
  return { text, ok: false };
}

function readLog(dir) {
  const files = fs.readdirSync(dir).filter((f) => /^audit(-\d{12})?\.jsonl$/.test(f)).sort();
  const lines = [];
  for (const f of files) {
    const text = fs.readFileSync(path.join(dir, f));
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      if (text[i] === 0x0a) {
        lines.push(text.subarray(start, i));
        start = i + 1;
      }
    }
    assert.equal(start, text.length, `${f} ends with a complete line`);
  }
  return lines;
}

// Checks every line the way a third party would, with only public keys. Returns payloads.
function independentlyVerify(lines, publicKeys) {
  const payloads = [];
  let prev = '0'.repeat(64);
  const leaves = [];
  lines.forEach((line, i) => {
    const env = JSON.parse(line.toString('utf8'));
    assert.equal(env.payloadType, PAYLOAD_TYPE);
    const body = Buffer.from(env.payload, 'base64');
    const p = JSON.parse(body.toString('utf8'));
    // The signed bytes are exactly RFC 8785 of the payload, as another implementation makes them.
    assert.equal(body.toString('utf8'), canonicalize(p), `line ${i + 1}: payload is JCS`);
    const raw = publicKeys[p.key_id];
    assert.ok(raw, `line ${i + 1}: key ${p.key_id} is known`);
    assert.equal(env.signatures.length, 1);
    assert.equal(env.signatures[0].keyid, p.key_id);
    const sig = Buffer.from(env.signatures[0].sig, 'base64');
    assert.ok(crypto.verify(null, pae(PAYLOAD_TYPE, body), ed25519Key(raw), sig),
      `line ${i + 1}: Ed25519 signature over the PAE verifies`);
    assert.equal(p.seq, i, `line ${i + 1}: seq`);
    assert.equal(p.prev, prev, `line ${i + 1}: prev is the SHA-256 of the previous line`);
    if (p.kind === 'checkpoint') {
      assert.equal(p.tree_size, i);
      assert.equal(p.root, merkleRoot(leaves).toString('base64'), `checkpoint at ${i}: RFC 6962 root`);
      const note = verifyNote(p.note, p.origin, raw);
      assert.ok(note.ok, `checkpoint at ${i}: signed note verifies`);
      assert.equal(note.text, `${p.origin}\n${p.tree_size}\n${p.root}\n`);
    }
    prev = sha256hex(line);
    leaves.push(line);
    payloads.push(p);
  });
  return payloads;
}

function runGlasstape(args, env) {
  return spawnSync(glasstapeBin(), args, { env: cleanEnv(env), encoding: 'utf8' });
}

function setup(extraAudit = {}) {
  const root = tmpDir('gt-e2e-audit-');
  const auditDir = path.join(root, 'audit');
  const keysDir = path.join(root, 'keys');
  const config = writeConfig({
    identity: { agent_id: 'e2e-agent' },
    governance: {
      deny_tools: ['get-sum'],
      audit: { dir: auditDir, record_args: 'full', checkpoint_every: 3, ...extraAudit },
    },
  });
  return { root, auditDir, keysDir, config, env: { GT_KEYS_DIR: keysDir } };
}

// The test's environment without a signing key of its own, plus `extra`.
function cleanEnv(extra) {
  const env = { ...process.env, ...extra };
  delete env.GT_ED25519_PRIVATE_KEY;
  return env;
}

function keyringKeys(keysDir) {
  const ring = JSON.parse(fs.readFileSync(path.join(keysDir, 'default', 'keyring.json'), 'utf8'));
  return Object.fromEntries(ring.keys.map((k) => [k.key_id, Buffer.from(k.public_key, 'base64')]));
}

if (modes().includes('proxy')) {
  describe('receipts and the audit log (proxy)', () => {
    // fsync off: the proxy writes each record on its session thread when the writer is idle.
    for (const fsync of ['group', 'off']) {
      test(`every decision and result is signed, chained and checkpointed; verified independently (fsync ${fsync})`, T, async (t) => {
        requireBinary();
        const s0 = setup({ fsync });
        const s = await connect('proxy', EVERYTHING, { config: s0.config, capabilities: {}, env: cleanEnv(s0.env) });
        let closed = false;
        t.after(() => { if (!closed) s.close(); });
        const listed = await s.waitForTools(['echo']);
        // deny_tools hides get-sum; calling it anyway is judged, denied and recorded below.
        assert.ok(!listed.some((x) => x.name === 'get-sum'), 'get-sum is hidden from tools/list');
        const args = { message: 'receipts ✓ "quoted"' };
        const r1 = await s.client.callTool({ name: 'echo', arguments: args });
        assert.equal(r1.isError ?? false, false, textOf(r1));
        const denied = await s.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
        const d = assertDenied(assert, denied, 'get-sum');
        assert.ok(d.receipt_id, 'the denial carries its receipt id');
        const echoResponse = s.serverMessages.find((m) => m.result && textOf(m.result).includes('receipts ✓'));
        await s.close();
        closed = true;
        // The proxy wrote its final checkpoint on the way out.
        await waitUntil(() => {
          try {
            const lines = readLog(s0.auditDir);
            return JSON.parse(Buffer.from(JSON.parse(lines.at(-1)).payload, 'base64')).kind === 'checkpoint';
          } catch {
            return false;
          }
        }, 10_000, 'the final checkpoint');

        const lines = readLog(s0.auditDir);
        const payloads = independentlyVerify(lines, keyringKeys(s0.keysDir));
        const decisions = payloads.filter((p) => p.kind === 'decision');
        const allow = decisions.find((p) => p.tool === 'echo');
        assert.ok(allow, 'a decision record for echo');
        assert.equal(allow.decision, 'allow');
        assert.equal(allow.agent, 'e2e-agent');
        assert.equal(allow.tenant, 'default');
        assert.equal(allow.args_mode, 'full');
        assert.deepEqual(allow.args, args);
        // The SHA-256 of the exact argument bytes the client sent.
        assert.equal(allow.args_sha256, sha256hex(Buffer.from(JSON.stringify(args))));
        for (const k of ['format', 'id', 'ts', 'session', 'server', 'reason', 'policy', 'rule_id',
          'schema_outcome', 'mode', 'seq', 'prev', 'key_id']) {
          assert.ok(k in allow, `decision record has \`${k}\``);
        }
        assert.match(allow.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
        const result = payloads.find((p) => p.kind === 'result' && p.decision_id === allow.id);
        assert.ok(result, 'a result record linked to the decision');
        assert.equal(result.is_error, false);
        assert.ok(echoResponse, 'the client saw the echo result');
        assert.equal(result.result_sha256, sha256hex(Buffer.from(canonicalize(echoResponse.result))));
        const deny = decisions.find((p) => p.id === d.receipt_id);
        assert.ok(deny, 'the denial is in the log under the receipt id the client got');
        assert.equal(deny.decision, 'deny');
        assert.equal(deny.code, d.code);
        assert.ok(!payloads.some((p) => p.kind === 'result' && p.decision_id === deny.id),
          'a denied call has no result');
        assert.ok(payloads.filter((p) => p.kind === 'checkpoint').length >= 2);

        // glasstape verify agrees (exit 0), and names the damage on a tampered copy (exit 1).
        const ok = runGlasstape(['verify', s0.auditDir], { GT_KEYS_DIR: s0.keysDir });
        assert.equal(ok.status, 0, ok.stdout + ok.stderr);
        assert.match(ok.stdout, /^ok: /m);
        const tampered = path.join(s0.root, 'tampered');
        fs.mkdirSync(tampered);
        const i = payloads.indexOf(deny);
        const env = JSON.parse(lines[i]);
        env.payload = Buffer.from(canonicalize({ ...deny, decision: 'allow' })).toString('base64');
        const edited = lines.map((l, k) => (k === i ? Buffer.from(JSON.stringify(env)) : l));
        fs.writeFileSync(path.join(tampered, 'audit.jsonl'), Buffer.concat(edited.flatMap((l) => [l, Buffer.from('\n')])));
        const bad = runGlasstape(['verify', tampered, '--keyring', path.join(s0.keysDir, 'default', 'keyring.json')], {});
        assert.equal(bad.status, 1, bad.stdout + bad.stderr);
        assert.match(bad.stdout, new RegExp(`DAMAGED: edited at .*:${i + 1} \\(seq ${i}\\)`));

        // glasstape tail shows the denial.
        const tail = runGlasstape(['tail', s0.auditDir, '--denied', '--json'], {});
        assert.equal(tail.status, 0, tail.stderr);
        const shown = tail.stdout.trim().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(shown.map((p) => p.id), [deny.id]);
      });
    }

    test('GT_ED25519_PRIVATE_KEY: a key made by Node signs the receipts', T, async (t) => {
      requireBinary();
      const s0 = setup();
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
      const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url');
      const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
      const keyId = sha256hex(raw).slice(0, 16);
      const s = await connect('proxy', EVERYTHING, {
        config: s0.config, capabilities: {},
        env: { ...cleanEnv(s0.env), GT_ED25519_PRIVATE_KEY: seed.toString('base64') },
      });
      t.after(() => s.close());
      await s.waitForTools(['echo']);
      await s.client.callTool({ name: 'echo', arguments: { message: 'env key' } });
      await s.close();
      await waitUntil(() => fs.existsSync(path.join(s0.auditDir, 'checkpoint')), 10_000, 'checkpoint');
      const payloads = independentlyVerify(readLog(s0.auditDir), { [keyId]: raw });
      assert.ok(payloads.every((p) => p.key_id === keyId));
      assert.ok(!fs.existsSync(path.join(s0.keysDir, 'default', 'e2e-agent', 'agent.key')),
        'no key file is written for an environment key');
      const malformed = spawnSync(glasstapeBin(), ['run', '--config', s0.config, '--', ...EVERYTHING], {
        env: { ...cleanEnv(s0.env), GT_ED25519_PRIVATE_KEY: 'not-a-key' }, encoding: 'utf8', input: '',
        timeout: 20_000,
      });
      assert.notEqual(malformed.status, 0);
      assert.match(malformed.stderr, /GT_ED25519_PRIVATE_KEY: not valid base64/);
      assert.ok(!malformed.stderr.includes('not-a-key'), 'the value itself is not echoed');
    });

    // A killed process loses no written record in either mode (off trusts the page cache to
    // the kernel, which survives the process).
    for (const fsync of ['group', 'off']) {
      test(`kill -9 under load: the restarted proxy recovers and the log verifies (fsync ${fsync})`, T, async (t) => {
        requireBinary();
        const s0 = setup({ fsync });
        const env = cleanEnv(s0.env);
        const s = await connect('proxy', EVERYTHING, { config: s0.config, capabilities: {}, env });
        t.after(() => s.close());
        await s.waitForTools(['echo']);
        let done = 0;
        const inflight = [];
        for (let i = 0; i < 400; i++) {
          inflight.push(s.client.callTool({ name: 'echo', arguments: { message: `m${i}` } })
            .then(() => { done += 1; }, () => {}));
        }
        await waitUntil(() => done >= 20, 20_000, 'some calls answered');
        process.kill(s.pid, 'SIGKILL');
        await Promise.allSettled(inflight);
        await s.close();
        // Start again: recovery happens at startup; one more call, then a clean exit.
        const again = await connect('proxy', EVERYTHING, { config: s0.config, capabilities: {}, env });
        await again.waitForTools(['echo']);
        const r = await again.client.callTool({ name: 'echo', arguments: { message: 'after the crash' } });
        assert.equal(r.isError ?? false, false, textOf(r));
        await again.close();
        await waitUntil(() => {
          const lines = readLog(s0.auditDir);
          return JSON.parse(Buffer.from(JSON.parse(lines.at(-1)).payload, 'base64')).kind === 'checkpoint';
        }, 10_000, 'the final checkpoint');
        const v = runGlasstape(['verify', s0.auditDir], { GT_KEYS_DIR: s0.keysDir });
        assert.equal(v.status, 0, v.stdout + v.stderr);
        const payloads = independentlyVerify(readLog(s0.auditDir), keyringKeys(s0.keysDir));
        const answered = payloads.filter((p) => p.kind === 'decision' && p.decision === 'allow').length;
        assert.ok(answered >= done, `every answered call has its decision record (${answered} >= ${done})`);
        assert.equal(payloads.filter((p) => p.kind === 'start').length, 2);
      });
    }
  });
}
