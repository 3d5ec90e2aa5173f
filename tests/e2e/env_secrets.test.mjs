// No GlassTape secret reaches an upstream server (issue 13, item 6). glasstape runs with
// GT_ED25519_PRIVATE_KEY (and other GT_ variables) set, in front of fixtures/env_server.mjs,
// which reports the environment it was started with and what it can read of its parent's
// (/proc/<ppid>/environ). For both fronts (`run`, and `serve` with isolated and shared
// servers):
//   - by default the server gets the environment minus every GT_ variable;
//   - `env_passthrough` gives it only the variables named, plus `env`;
//   - the key's value appears nowhere the server can see, nor in glasstape's log (at debug
//     level) or its receipts.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, test } from 'node:test';

import { E2E_DIR, NODE, killQuietly, modes, requireBinary, tmpDir, waitUntil, withTimeout } from './lib/harness.mjs';
import { RawPeer } from './lib/raw.mjs';

const ENV_SERVER = path.join(E2E_DIR, 'fixtures', 'env_server.mjs');
const T = { timeout: 60_000 };

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url');
  return { b64: seed.toString('base64'), hex: seed.toString('hex') };
}

// glasstape's own environment for a test: the key, two more GT_ variables, and variables a
// server may or may not be given.
function proxyEnv(key) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('GT_')) delete env[k];
  return {
    ...env,
    GT_ED25519_PRIVATE_KEY: key.b64,
    GT_KEYS_DIR: '/nonexistent/keys',
    GT_E2E_OTHER: 'gt-e2e-other-value',
    E2E_VISIBLE: 'visible',
    E2E_PASS_ONE: 'one',
    E2E_PASS_TWO: 'two',
  };
}

function setup(server = {}) {
  const dir = tmpDir('gt-e2e-env-');
  const report = path.join(dir, 'report.json');
  const config = {
    servers: { envsrv: { command: [NODE, ENV_SERVER, report], restart: { max: 0 }, ...server } },
    identity: { agent_id: 'env-e2e-agent' },
    log_level: 'debug',
    http: { listen: '127.0.0.1:0', path: '/mcp' },
    governance: { audit: { dir: path.join(dir, 'audit'), record_args: 'full', fsync: 'off' } },
  };
  const file = path.join(dir, 'glasstape.yaml');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return { dir, report, config: file, audit: path.join(dir, 'audit') };
}

async function readReport(file) {
  await waitUntil(() => fs.existsSync(file), 20_000, `the server's report ${file}`);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// Every byte under `dir`, as one string (the audit log, its checkpoint, ...).
function allBytes(dir) {
  let out = '';
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out += fs.readFileSync(path.join(e.parentPath ?? e.path, e.name), 'latin1');
  }
  return out;
}

function assertNoKey(text, key, where) {
  assert.ok(!text.includes(key.b64), `the key (base64) appears in ${where}`);
  assert.ok(!text.includes(key.hex), `the key (hex) appears in ${where}`);
}

// What the server saw: no GT_ variable, no trace of the key, not even in its parent's block.
function assertNoSecrets(report, key) {
  const gt = Object.keys(report.env).filter((k) => k.startsWith('GT_'));
  assert.deepEqual(gt, [], 'no GT_ variable reaches the server');
  assertNoKey(JSON.stringify(report.env), key, "the server's environment");
  assertNoKey(JSON.stringify(report.parent_environ), key, "glasstape's /proc/<pid>/environ");
}

// ------------------------------------------------------------------------ glasstape serve

async function startServe(s, env) {
  const bin = requireBinary();
  const proc = spawn(bin, ['serve', '--config', s.config, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let log = '';
  proc.stdout.on('data', (d) => (log += d.toString()));
  proc.stderr.on('data', (d) => (log += d.toString()));
  const exited = new Promise((r) => proc.on('exit', (code, sig) => r({ code, sig })));
  let port;
  try {
    await waitUntil(() => {
      const m = /serving MCP at http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(log);
      if (m) port = Number(m[1]);
      if (proc.exitCode !== null) throw new Error(`glasstape serve exited early:\n${log}`);
      return !!port;
    }, 20_000, 'glasstape serve to listen');
  } catch (e) {
    killQuietly(proc.pid);
    throw e;
  }
  return {
    port,
    log: () => log,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const r = await withTimeout(exited, 10_000, 'glasstape serve to stop');
      assert.deepEqual(r, { code: 0, sig: null }, log.slice(-4000));
    },
  };
}

function post(port, body, headers = {}) {
  const payload = JSON.stringify(body);
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: '/mcp', agent: false,
      headers: {
        Host: `127.0.0.1:${port}`, 'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream', 'Content-Length': Buffer.byteLength(payload),
        ...headers,
      },
    }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(payload);
  }), 15_000, 'a POST to glasstape serve');
}

async function initializeSession(port) {
  const r = await post(port, {
    jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'env-e2e', version: '1' } },
  });
  assert.equal(r.status, 200, r.text);
  return r.headers['mcp-session-id'];
}

if (modes().includes('proxy')) {
  describe('no GlassTape secret reaches an upstream server', () => {
    test('run: the server gets the environment minus every GT_ variable', T, async (t) => {
      requireBinary();
      const key = newKey();
      const s = setup();
      const peer = new RawPeer(requireBinary(), ['run', '--config', s.config], { env: proxyEnv(key) });
      t.after(() => peer.close());
      await peer.initialize();
      const report = await readReport(s.report);
      assertNoSecrets(report, key);
      assert.equal(report.env.E2E_VISIBLE, 'visible', 'other variables are inherited');
      assert.equal(report.env.PATH, process.env.PATH);
      // A call goes through (and is recorded): the key is not in a receipt either.
      const list = await peer.request(2, 'tools/list', {});
      assert.equal(list.result.tools[0].name, 'env');
      const call = await peer.request(3, 'tools/call', { name: 'env', arguments: { probe: 1 } });
      assert.ok(call.result, JSON.stringify(call));
      assertNoKey(call.result.content[0].text, key, 'the tool result');
      await peer.close();
      assert.ok(allBytes(s.audit).length > 0, 'receipts were written');
      assertNoKey(allBytes(s.audit), key, 'the audit log');
      assertNoKey(peer.stderrText, key, "glasstape's log");
    });

    test('run: env_passthrough gives a clean environment, plus `env`', T, async (t) => {
      requireBinary();
      const key = newKey();
      const s = setup({ env_passthrough: ['PATH', 'E2E_PASS_*', 'GT_E2E_OTHER'], env: { ADDED: 'added' } });
      const peer = new RawPeer(requireBinary(), ['run', '--config', s.config], { env: proxyEnv(key) });
      t.after(() => peer.close());
      await peer.initialize();
      const report = await readReport(s.report);
      assertNoKey(JSON.stringify(report), key, 'the report');
      assert.deepEqual(report.env, {
        PATH: process.env.PATH,
        E2E_PASS_ONE: 'one',
        E2E_PASS_TWO: 'two',
        GT_E2E_OTHER: 'gt-e2e-other-value', // a GT_ variable named exactly passes
        ADDED: 'added',
      });
      await peer.close();
    });

    for (const sharing of ['isolated', 'shared']) {
      test(`serve (${sharing}): the server gets the environment minus every GT_ variable`, T, async (t) => {
        const key = newKey();
        const s = setup({ sharing });
        const srv = await startServe(s, proxyEnv(key));
        let stopped = false;
        t.after(() => { if (!stopped) return srv.stop().catch(() => {}); });
        await initializeSession(srv.port);
        const report = await readReport(s.report);
        assertNoSecrets(report, key);
        assert.equal(report.env.E2E_VISIBLE, 'visible');
        stopped = true;
        await srv.stop();
        assertNoKey(srv.log(), key, "glasstape's log");
        assertNoKey(allBytes(s.audit), key, 'the audit log');
      });

      test(`serve (${sharing}): env_passthrough gives a clean environment`, T, async (t) => {
        const key = newKey();
        const s = setup({ sharing, env_passthrough: ['E2E_PASS_ONE'], env: { ADDED: 'x' } });
        const srv = await startServe(s, proxyEnv(key));
        let stopped = false;
        t.after(() => { if (!stopped) return srv.stop().catch(() => {}); });
        await initializeSession(srv.port);
        const report = await readReport(s.report);
        assert.deepEqual(report.env, { E2E_PASS_ONE: 'one', ADDED: 'x' });
        assertNoKey(JSON.stringify(report), key, 'the report');
        stopped = true;
        await srv.stop();
      });
    }

    test('a config that would give a server the key is refused at startup', T, () => {
      const key = newKey();
      for (const server of [{ env_passthrough: ['GT_ED25519_PRIVATE_KEY'] },
        { env: { K: '${GT_ED25519_PRIVATE_KEY}' } }]) {
        const s = setup(server);
        for (const front of [['serve', '--config', s.config], ['run', '--config', s.config]]) {
          const r = spawnSync(requireBinary(), front, { env: proxyEnv(key), encoding: 'utf8', input: '', timeout: 20_000 });
          assert.equal(r.status, 2, r.stderr);
          assert.match(r.stderr, /GT_ED25519_PRIVATE_KEY.* is never given to a server/);
          assertNoKey(r.stderr, key, 'the error');
          assert.ok(!fs.existsSync(s.report), 'the server was not started');
        }
      }
    });
  });
}
