// HTTP upstreams: glasstape in front of REMOTE MCP servers (issue 7, part 3).
//   `glasstape run --config F` (stdio front) with a `url:` server, as mcp-remote is used, and
//   `glasstape serve` (HTTP front) with a `url:` server. The remote servers are the official
//   TypeScript SDK's StreamableHTTPServerTransport (stateful) and its legacy
//   SSEServerTransport (tests/e2e/fixtures/http_server.mjs), which logs every HTTP request
//   it receives, so the tests see exactly what reached the server: headers, methods, tools.
// These run through glasstape only (GT_E2E_MODE=direct skips them).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

import {
  E2E_DIR,
  NODE,
  assertDenied,
  connect,
  killQuietly,
  modes,
  requireBinary,
  signal,
  textOf,
  tmpDir,
  waitUntil,
  withTimeout,
  writeConfig,
} from './lib/harness.mjs';

const FIXTURE = path.join(E2E_DIR, 'fixtures', 'http_server.mjs');
const T = { timeout: 60_000 };
const TOKEN = 'configured-token-0451';
const SAMPLING = { sampling: async () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: 'forty-two' } }) };

// Starts the fixture; resolves once it listens. opts: legacy, port, tls {cert, key}.
async function startFixture(opts = {}) {
  const dir = tmpDir('gt-e2e-remote-');
  const logFile = opts.logFile || path.join(dir, 'requests.jsonl');
  const args = [FIXTURE, '--log', logFile, '--port', String(opts.port ?? 0)];
  if (opts.legacy) args.push('--legacy');
  if (opts.tls) args.push('--tls', opts.tls.cert, opts.tls.key);
  const proc = spawn(NODE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise((r) => proc.on('exit', r));
  let url;
  await waitUntil(
    () => {
      const m = /listening on (\S+)/.exec(out);
      if (m) url = m[1];
      if (proc.exitCode !== null) throw new Error(`the fixture exited early:\n${out}`);
      return !!url;
    },
    30_000,
    'the remote MCP fixture to listen',
  );
  return {
    url,
    port: Number(new URL(url).port),
    logFile,
    requests: () =>
      fs.existsSync(logFile)
        ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
        : [],
    async stop(sig = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
      await withTimeout(exited, 10_000, 'the fixture to exit');
    },
  };
}

// Connects the SDK client to `glasstape run --config <config with a url server>`.
async function runRemote(t, server, extra = {}) {
  const config = writeConfig({ servers: { remote: server }, ...extra });
  const s = await connect('proxy', [], {
    config,
    handlers: SAMPLING,
    env: { GT_TEST_TOKEN: TOKEN },
  });
  t.after(() => s.close());
  return s;
}

function toolCalls(requests, name) {
  return requests.filter((r) => r.method === 'POST' && r.rpc === `tools/call ${name}`);
}

const skip = !modes().includes('proxy') && 'HTTP upstreams are tested through glasstape only';

describe('HTTP upstream: Streamable HTTP through `glasstape run`', { skip }, () => {
  test('tools/list, an allowed call, a denied call, progress, sampling, headers, DELETE at the end', T, async (t) => {
    const remote = await startFixture();
    t.after(() => remote.stop());
    const s = await runRemote(t, {
      url: remote.url,
      headers: { Authorization: 'Bearer ${GT_TEST_TOKEN}', 'X-Team': 'e2e' },
    }, { governance: { deny_tools: ['forbidden_tool'] } });

    const { tools } = await s.client.listTools();
    // The fixture lists five tools; deny_tools hides forbidden_tool, and calling it is still denied.
    assert.deepEqual(tools.map((x) => x.name).sort(), ['echo', 'progress', 'sample', 'slow']);
    assert.equal(textOf(await s.client.callTool({ name: 'echo', arguments: { message: 'hi' } })), 'echo: hi');

    const denied = await s.client.callTool({ name: 'forbidden_tool', arguments: {} });
    assertDenied(assert, denied, 'forbidden_tool');
    assert.equal(toolCalls(remote.requests(), 'forbidden_tool').length, 0, 'a denied call must never reach the server');

    const progress = [];
    const r = await s.client.callTool({ name: 'progress', arguments: {} }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    assert.equal(textOf(r), 'done');
    assert.deepEqual(progress, [1, 2, 3]);

    const sampled = await s.client.callTool({ name: 'sample', arguments: { prompt: 'meaning?' } });
    assert.equal(textOf(sampled), 'sampled: forty-two');

    // What reached the server: the configured headers on every request, the session and the
    // negotiated version after initialize, and nothing else of GlassTape's.
    const reqs = remote.requests();
    const init = reqs.find((x) => x.rpc === 'initialize');
    assert.ok(init, 'the server saw initialize');
    assert.equal(init.headers['mcp-session-id'], undefined);
    for (const x of reqs) {
      assert.equal(x.headers.authorization, `Bearer ${TOKEN}`, `${x.method} ${x.rpc}: Authorization`);
      assert.equal(x.headers['x-team'], 'e2e');
    }
    const calls = toolCalls(reqs, 'echo');
    assert.equal(calls.length, 1);
    assert.match(calls[0].headers['mcp-session-id'] ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(calls[0].headers['mcp-protocol-version'], '2025-11-25');
    assert.match(calls[0].headers.accept, /application\/json/);
    assert.match(calls[0].headers.accept, /text\/event-stream/);
    // The GET stream for server messages was opened after initialization.
    await waitUntil(() => remote.requests().some((x) => x.method === 'GET'), 10_000, 'the GET stream');

    // Closing the client ends the session on the server (DELETE).
    await s.close();
    await waitUntil(() => remote.requests().some((x) => x.method === 'DELETE'), 10_000, 'DELETE of the session');
    const del = remote.requests().find((x) => x.method === 'DELETE');
    assert.equal(del.headers['mcp-session-id'], calls[0].headers['mcp-session-id']);
  });

  test('a server restart (session 404): glasstape re-initializes and calls work again', T, async (t) => {
    const dir = tmpDir('gt-e2e-restart-');
    const logFile = path.join(dir, 'requests.jsonl');
    let remote = await startFixture({ logFile });
    const port = remote.port;
    t.after(() => remote.stop());
    const s = await runRemote(t, { url: remote.url, restart: { max: 10, backoff_ms: 100 } });
    assert.equal(textOf(await s.client.callTool({ name: 'echo', arguments: { message: 'one' } })), 'echo: one');
    const firstSession = toolCalls(remote.requests(), 'echo')[0].headers['mcp-session-id'];

    await remote.stop('SIGKILL');
    fs.rmSync(logFile);
    remote = await startFixture({ port, logFile });

    // The old session is unknown to the new server: its 404 makes glasstape replay the
    // client's initialize. A call caught in the switch may fail; one soon succeeds.
    let text;
    await waitUntil(async () => {
      try {
        text = textOf(await s.client.callTool({ name: 'echo', arguments: { message: 'two' } }));
        return true;
      } catch (e) {
        assert.ok(e instanceof McpError, `a JSON-RPC error, not ${e}`);
        return false;
      }
    }, 20_000, 'a call to succeed after the server restarted', 200);
    assert.equal(text, 'echo: two');
    const reqs = remote.requests();
    assert.ok(reqs.some((x) => x.rpc === 'initialize'), 'the new server was initialized by glasstape');
    const ok = toolCalls(reqs, 'echo').at(-1);
    assert.ok(ok.headers['mcp-session-id'] && ok.headers['mcp-session-id'] !== firstSession, 'a new session');
    assert.equal(ok.headers['mcp-protocol-version'], '2025-11-25');
  });

  test('a server that is down: calls get a JSON-RPC error, nothing hangs', T, async (t) => {
    const remote = await startFixture();
    const s = await runRemote(t, { url: remote.url, restart: { max: 0 } });
    assert.equal(textOf(await s.client.callTool({ name: 'echo', arguments: { message: 'up' } })), 'echo: up');
    await remote.stop('SIGKILL');
    const started = Date.now();
    await assert.rejects(
      s.client.callTool({ name: 'echo', arguments: { message: 'down' } }),
      (e) => e instanceof McpError && /unreachable|unavailable/i.test(e.message) && e.message.includes('remote'),
    );
    assert.ok(Date.now() - started < 10_000, 'the error came promptly');
    // Still down: the next call fails at once too.
    await assert.rejects(s.client.callTool({ name: 'echo', arguments: { message: 'again' } }), McpError);
  });

  test('nothing listening at all: initialize fails with a clear error', T, async (t) => {
    // A port that was just free.
    const probe = await startFixture();
    const url = probe.url;
    await probe.stop();
    const config = writeConfig({ servers: { remote: { url, restart: { max: 0 } } } });
    await assert.rejects(connect('proxy', [], { config }), (e) => /unreachable/.test(e.message) && /refused/i.test(e.message));
    t.diagnostic(`url ${url}`);
  });

  test('a slow call does not hold up others (connection pool)', T, async (t) => {
    const remote = await startFixture();
    t.after(() => remote.stop());
    const s = await runRemote(t, { url: remote.url });
    const slow = s.client.callTool({ name: 'slow', arguments: { ms: 3000 } });
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      assert.equal(textOf(await s.client.callTool({ name: 'echo', arguments: { message: `q${i}` } })), `echo: q${i}`);
    }
    assert.ok(Date.now() - started < 2500, `five quick calls took ${Date.now() - started} ms behind a slow one`);
    assert.equal(textOf(await slow), 'slept 3000');
  });
});

describe('HTTP upstream: legacy HTTP+SSE (2024-11-05)', { skip }, () => {
  for (const forced of [false, true]) {
    test(forced ? 'transport: sse forces the legacy transport' : 'auto: falls back when initialize is refused', T, async (t) => {
      const remote = await startFixture({ legacy: true });
      t.after(() => remote.stop());
      const server = { url: remote.url, headers: { Authorization: 'Bearer ${GT_TEST_TOKEN}' } };
      if (forced) server.transport = 'sse';
      const s = await runRemote(t, server, { governance: { deny_tools: ['forbidden_tool'] } });
      const { tools } = await s.client.listTools();
      assert.ok(tools.some((x) => x.name === 'echo'));
      assert.equal(textOf(await s.client.callTool({ name: 'echo', arguments: { message: 'old' } })), 'echo: old');
      assertDenied(assert, await s.client.callTool({ name: 'forbidden_tool', arguments: {} }), 'forbidden_tool');
      const progress = [];
      const r = await s.client.callTool({ name: 'progress', arguments: {} }, undefined, {
        onprogress: (p) => progress.push(p.progress),
      });
      assert.equal(textOf(r), 'done');
      assert.deepEqual(progress, [1, 2, 3]);
      assert.equal(textOf(await s.client.callTool({ name: 'sample', arguments: { prompt: 'p' } })), 'sampled: forty-two');
      const reqs = remote.requests();
      assert.ok(reqs.some((x) => x.method === 'GET' && x.path === '/sse'));
      assert.ok(reqs.some((x) => x.method === 'POST' && x.path.startsWith('/messages?sessionId=') && x.rpc === 'tools/call echo'));
      assert.equal(toolCalls(reqs, 'forbidden_tool').length, 0);
      // Forced: no Streamable HTTP attempt at all.
      assert.equal(reqs.some((x) => x.method === 'POST' && x.path === '/sse'), !forced);
      for (const x of reqs) assert.equal(x.headers.authorization, `Bearer ${TOKEN}`);
    });
  }
});

// ------------------------------------------------------------------------ https

function haveOpenssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// A throw-away CA and a server certificate it signed for the name localhost (only).
function makeCa() {
  const dir = tmpDir('gt-e2e-ca-');
  const f = (n) => path.join(dir, n);
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'),
    '-days', '2', '-subj', '/CN=GlassTape e2e test CA');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'),
    '-subj', '/CN=localhost');
  fs.writeFileSync(f('ext.cnf'), 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n');
  run('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf'));
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

describe('HTTP upstream: https', { skip: skip || (!haveOpenssl() && 'openssl is missing: cannot make a test CA') }, () => {
  test('verifies the certificate against ca_file; without it the connection is refused', T, async (t) => {
    const pki = makeCa();
    const remote = await startFixture({ tls: pki });
    t.after(() => remote.stop());
    assert.match(remote.url, /^https:\/\/localhost:/);
    const s = await runRemote(t, { url: remote.url, ca_file: pki.ca, headers: { Authorization: 'Bearer ${GT_TEST_TOKEN}' } });
    assert.equal(textOf(await s.client.callTool({ name: 'echo', arguments: { message: 'secure' } })), 'echo: secure');
    assert.equal(toolCalls(remote.requests(), 'echo')[0].headers.authorization, `Bearer ${TOKEN}`);

    // The same server without its CA: the system store does not trust it.
    const config = writeConfig({ servers: { remote: { url: remote.url, restart: { max: 0 } } } });
    await assert.rejects(connect('proxy', [], { config }), (e) => /certificate verify failed/i.test(e.message));
    // Nor under another name than the certificate's: the same server as 127.0.0.1, which
    // the certificate does not name (host name verification).
    const wrongName = remote.url.replace('localhost', '127.0.0.1');
    const config2 = writeConfig({ servers: { remote: { url: wrongName, ca_file: pki.ca, restart: { max: 0 } } } });
    await assert.rejects(connect('proxy', [], { config: config2 }), (e) => /certificate verify failed/i.test(e.message));
    assert.equal(toolCalls(remote.requests(), 'echo').length, 1, 'nothing was sent over the unverified connections');
  });
});

// ------------------------------------------------------------------------ HTTP front

async function startServe(t, server) {
  const bin = requireBinary();
  const dir = tmpDir('gt-e2e-serve-remote-');
  const file = path.join(dir, 'glasstape.yaml');
  fs.writeFileSync(file, JSON.stringify({
    servers: { remote: server },
    http: { listen: '127.0.0.1:0', path: '/mcp' },
    governance: { deny_tools: ['forbidden_tool'] },
  }));
  const proc = spawn(bin, ['serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GT_TEST_TOKEN: TOKEN } });
  let log = '';
  proc.stdout.on('data', (d) => (log += d));
  proc.stderr.on('data', (d) => (log += d));
  const exited = new Promise((r) => proc.on('exit', (code, sig) => r({ code, sig })));
  let url;
  await waitUntil(() => {
    const m = /serving MCP at (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(log);
    if (m) url = m[1];
    if (proc.exitCode !== null) throw new Error(`glasstape serve exited early:\n${log}`);
    return !!url;
  }, 20_000, 'glasstape serve to listen');
  t.after(async () => {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    const r = await Promise.race([exited, new Promise((res) => setTimeout(res, 8000))]);
    if (!r) killQuietly(proc.pid);
  });
  return { url, log: () => log, exited, proc };
}

describe('HTTP upstream: behind `glasstape serve`', { skip }, () => {
  test("the client's own headers never reach the server; the configured ones do", T, async (t) => {
    const remote = await startFixture();
    t.after(() => remote.stop());
    const serve = await startServe(t, { url: remote.url, headers: { Authorization: 'Bearer ${GT_TEST_TOKEN}' } });
    const clients = [];
    for (const secret of ['client-secret-A', 'client-secret-B']) {
      const transport = new StreamableHTTPClientTransport(new URL(serve.url), {
        requestInit: { headers: { Authorization: `Bearer ${secret}`, 'X-Client-Secret': secret, Cookie: `s=${secret}` } },
      });
      const client = new Client({ name: 'gt-e2e', version: '1' }, { capabilities: { sampling: {} } });
      client.setRequestHandler((await import('@modelcontextprotocol/sdk/types.js')).CreateMessageRequestSchema,
        async () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: secret } }));
      await withTimeout(client.connect(transport), 20_000, 'connect through glasstape serve');
      t.after(() => client.close().catch(() => {}));
      clients.push({ client, secret });
    }
    for (const { client, secret } of clients) {
      assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: secret } })), `echo: ${secret}`);
      assert.equal(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'x' } })), `sampled: ${secret}`);
      assertDenied(assert, await client.callTool({ name: 'forbidden_tool', arguments: {} }), 'forbidden_tool');
    }
    const reqs = remote.requests();
    // Two client sessions, two upstream sessions (isolated).
    const sessions = new Set(toolCalls(reqs, 'echo').map((x) => x.headers['mcp-session-id']));
    assert.equal(sessions.size, 2);
    assert.equal(toolCalls(reqs, 'forbidden_tool').length, 0);
    for (const x of reqs) {
      assert.equal(x.headers.authorization, `Bearer ${TOKEN}`);
      assert.equal(x.headers['x-client-secret'], undefined);
      assert.equal(x.headers.cookie, undefined);
      const text = JSON.stringify(x.headers);
      assert.ok(!text.includes('client-secret'), `a client header leaked upstream: ${text}`);
    }
  });
});
