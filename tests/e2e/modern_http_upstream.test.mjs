// MCP 2026-07-28 to a `url:` server (issue 16): `glasstape run` (stdio front), and once
// `glasstape serve` (HTTP front), in front of an SDK v2 Streamable HTTP server (fixtures/modern_http_server.mjs), driven by the SDK v2 client
// pinned to 2026-07-28, and by raw lines where the wire matters. The fixture logs every HTTP
// request it receives, so the tests see what reached it: a 2026-07-28 request needs no
// initialize and carries no session, and its MCP-Protocol-Version, Mcp-Method, Mcp-Name and
// Mcp-Param-* headers say exactly what the body GlassTape judged says. Errors the server
// answers with an HTTP status reach the client as JSON-RPC errors for their request. A 2025
// client (SDK v1, initialize) keeps working through the same config, also mixed with 2026
// requests on one upstream. These run through glasstape only (GT_E2E_MODE=direct skips them).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

import {
  DECISION_META_KEY,
  E2E_DIR,
  NODE,
  assertDenied,
  connect,
  glasstapeBin,
  isAlive,
  killQuietly,
  modes,
  recordPayload,
  requireBinary,
  textOf,
  tmpDir,
  waitUntil,
  withTimeout,
  writeConfig,
} from './lib/harness.mjs';
import { RawPeer } from './lib/raw.mjs';

const T = { timeout: 60_000 };
const MODERN_FIXTURE = path.join(E2E_DIR, 'fixtures', 'modern_http_server.mjs');
const LEGACY_FIXTURE = path.join(E2E_DIR, 'fixtures', 'http_server.mjs');
const VERSION = '2026-07-28';
const META = {
  'io.modelcontextprotocol/protocolVersion': VERSION,
  'io.modelcontextprotocol/clientCapabilities': {},
};

// The stock transport probes server/discover on a second copy of the process; this subclass
// probes in place, so one glasstape runs.
class InPlaceStdio extends StdioClientTransport {}

const POLICY = `policy_id: modern.http
version: "1"
tools: [get_sum, echo, route, bad_route, slow]
rules:
  deny:
    - id: small-sums-only
      condition: "has(args.a) && args.a > 100"
      reason: sums stay small
  allow:
    - id: rest
      condition: ""
`;

// Starts a fixture that prints `listening on <url>` and logs its requests to a file.
async function startServer(script, args) {
  const dir = tmpDir('gt-e2e-modern-http-');
  const logFile = path.join(dir, 'requests.jsonl');
  const proc = spawn(NODE, [script, ...args, '--log', logFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise((r) => proc.on('exit', r));
  let url;
  await waitUntil(() => {
    const m = /listening on (\S+)/.exec(out);
    if (m) url = m[1];
    if (proc.exitCode !== null) throw new Error(`the fixture exited early:\n${out}`);
    return !!url;
  }, 30_000, 'the fixture to listen');
  return {
    url,
    output: () => out,
    log: () => (fs.existsSync(logFile)
      ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
      : []),
    posts() {
      return this.log().filter((x) => x.method === 'POST');
    },
    calls(tool) {
      return this.posts().filter((x) => x.body?.method === 'tools/call' && x.body.params?.name === tool);
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await withTimeout(exited, 10_000, 'the fixture to exit');
    },
  };
}

const startModern = (modernOnly = true) => startServer(MODERN_FIXTURE, ['0', ...(modernOnly ? ['--modern-only'] : [])]);

function setup(url) {
  const root = tmpDir('gt-e2e-modern-http-cfg-');
  const s = { root, auditDir: path.join(root, 'audit') };
  const policies = path.join(root, 'policies');
  fs.mkdirSync(policies);
  fs.writeFileSync(path.join(policies, 'modern.yaml'), POLICY);
  s.config = writeConfig({
    identity: { agent_id: 'modern-http-agent' },
    servers: { m: { url, restart: { max: 2, backoff_ms: 100 } } },
    governance: {
      audit: { dir: s.auditDir, keys_dir: path.join(root, 'keys'), fsync: 'always' },
      policies: { dir: policies, state_dir: path.join(root, 'state') },
      deny_tools: ['delete_file'],
    },
  });
  return s;
}

function records(dir) {
  const out = [];
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir).filter((n) => /^audit(-\d{12})?\.jsonl$/.test(n))) {
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (line.trim()) out.push(recordPayload(line));
    }
  }
  return out;
}

async function modernClient(t, config) {
  const client = new Client({ name: 'gt-modern-http-e2e', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: VERSION } } });
  const transport = new InPlaceStdio({ command: glasstapeBin(), args: ['run', '--config', config], stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d) => (stderr += d));
  try {
    await withTimeout(client.connect(transport), 20_000, 'connect (server/discover)');
  } catch (e) {
    e.message += `\n--- glasstape stderr ---\n${stderr.slice(-4000)}`;
    throw e;
  }
  t.after(() => client.close().catch(() => {}));
  return { client, stderr: () => stderr };
}

// The header value encoding of MCP 2026-07-28, for the test's own expectations.
function encoded(v) {
  const plain = /^[\x20-\x7e\t]*$/.test(v) && !/^[ \t]|[ \t]$/.test(v) && !/^=\?base64\?.*\?=$/.test(v);
  return plain ? v : `=?base64?${Buffer.from(v, 'utf8').toString('base64')}?=`;
}

// Every 2026-07-28 POST the server got: its headers say what its body says, and nothing of a
// session (no initialize was ever sent, no GET stream opened).
function assertHeadersMirrorBodies(server) {
  const log = server.log();
  assert.ok(!log.some((x) => x.method === 'GET' || x.method === 'DELETE'),
    `no GET stream, no DELETE: ${JSON.stringify(log.map((x) => x.method))}`);
  for (const x of server.posts()) {
    const b = x.body;
    const what = `${b.method} ${JSON.stringify(b.params?.name ?? '')}`;
    assert.notEqual(b.method, 'initialize', 'no initialize');
    assert.equal(x.headers['mcp-session-id'], undefined, `${what}: no session`);
    assert.equal(b.params._meta['io.modelcontextprotocol/protocolVersion'], VERSION, what);
    assert.equal(x.headers['mcp-protocol-version'], VERSION, `${what}: MCP-Protocol-Version`);
    assert.equal(x.headers['mcp-method'], b.method, `${what}: Mcp-Method`);
    if (['tools/call', 'prompts/get'].includes(b.method)) {
      assert.equal(x.headers['mcp-name'], encoded(b.params.name), `${what}: Mcp-Name`);
    } else {
      assert.equal(x.headers['mcp-name'], undefined, `${what}: no Mcp-Name`);
    }
  }
}

const skip = !modes().includes('proxy') && 'url: upstreams are tested through glasstape only';

describe('MCP 2026-07-28 to a url: server through glasstape run', { skip }, () => {
  test('an SDK v2 client pinned to 2026-07-28: listed, allowed, denied, headers equal to the body', T, async (t) => {
    requireBinary();
    const server = await startModern();
    t.after(() => server.stop());
    const s = setup(server.url);
    const { client } = await modernClient(t, s.config);
    assert.equal(client.getProtocolEra(), 'modern');

    const { tools } = await client.listTools();
    const names = tools.map((x) => x.name);
    for (const n of ['echo', 'get_sum', 'route', 'slow']) assert.ok(names.includes(n), `${n} listed: ${names}`);
    // deny_tools hides delete_file from the list; calling it below is still judged and denied.
    assert.ok(!names.includes('delete_file'), `delete_file is hidden: ${names}`);

    assert.equal(textOf(await client.callTool({ name: 'get_sum', arguments: { a: 2, b: 3 } })), '5');
    const big = await client.callTool({ name: 'get_sum', arguments: { a: 200, b: 3 } });
    assert.equal(big._meta?.[DECISION_META_KEY]?.rule_id, 'small-sums-only', JSON.stringify(big));
    assertDenied(assert, await client.callTool({ name: 'delete_file', arguments: { path: '/etc/hosts' } }), 'delete_file');
    assert.deepEqual(server.calls('get_sum').map((x) => x.body.params.arguments), [{ a: 2, b: 3 }],
      'the denied get_sum never reached the server');
    assert.equal(server.calls('delete_file').length, 0, 'the denied delete_file never reached the server');

    // x-mcp-header: the server sees Mcp-Param-Region equal to the body's region, in the
    // header value encoding (a base64 sentinel for what is not plain ASCII).
    for (const region of ['eu-west', '東京', ' padded ']) {
      const r = await client.callTool({ name: 'route', arguments: { region, note: 'n' } });
      const seen = JSON.parse(textOf(r));
      assert.equal(seen.region, region);
      assert.equal(seen.header, encoded(region), JSON.stringify(seen));
    }
    const routes = server.calls('route');
    assert.equal(routes.length, 3);
    for (const x of routes) {
      assert.equal(x.headers['mcp-param-region'], encoded(x.body.params.arguments.region));
      assert.equal(Object.keys(x.headers).filter((h) => h.startsWith('mcp-param-')).length, 1);
    }
    assert.equal(routes[1].headers['mcp-param-region'], '=?base64?5p2x5Lqs?=');
    assertHeadersMirrorBodies(server);
    await client.close();

    const decs = records(s.auditDir).filter((p) => p.kind === 'decision');
    assert.deepEqual(decs.map((d) => [d.tool, d.decision]), [
      ['get_sum', 'allow'], ['get_sum', 'deny'], ['delete_file', 'deny'],
      ['route', 'allow'], ['route', 'allow'], ['route', 'allow']]);
    for (const d of decs) assert.equal(d.protocol_version, VERSION, JSON.stringify(d));
  });

  test('raw: a 2026-07-28 call as the very first message; HTTP errors become JSON-RPC errors with their ids', T, async (t) => {
    requireBinary();
    const server = await startModern();
    t.after(() => server.stop());
    const s = setup(server.url);
    const peer = new RawPeer(glasstapeBin(), ['run', '--config', s.config]);
    t.after(() => peer.close());

    // No initialize, no discover, no list: the proxy lists the tools itself (with this
    // envelope), then forwards the call.
    let r = await peer.request(1, 'tools/call', { name: 'route', arguments: { region: 'ap' }, _meta: META }, 20_000);
    assert.deepEqual(JSON.parse(r.result?.content?.[0]?.text ?? 'null'), { header: 'ap', region: 'ap' }, JSON.stringify(r));
    assert.equal(r.result.resultType, 'complete');

    // 404 -32601 (a method 2026-07-28 removed), as the server's JSON-RPC error.
    r = await peer.request('p', 'ping', { _meta: META });
    assert.equal(r.error?.code, -32601, JSON.stringify(r));
    assert.doesNotMatch(r.error.message, /unreachable|unavailable|answered HTTP/i, JSON.stringify(r));

    // An invalid x-mcp-header declaration: GlassTape sends no Mcp-Param header for it, and the
    // server refuses the call (400 -32020): closed, and the error reaches the client.
    r = await peer.request('b', 'tools/call', { name: 'bad_route', arguments: { zone: 3 }, _meta: META });
    assert.equal(r.error?.code, -32020, JSON.stringify(r));
    assert.equal(r.id, 'b');
    const bad = server.calls('bad_route');
    assert.equal(bad.length, 1);
    assert.equal(bad[0].headers['mcp-param-zone'], undefined);
    assert.match(peer.stderrText, /bad_route/, 'the operator is told why bad_route gets no header');

    // Still up: not "unreachable", no restart.
    r = await peer.request(2, 'tools/call', { name: 'echo', arguments: { message: 'still here' }, _meta: META });
    assert.equal(r.result?.content?.[0]?.text, 'still here', JSON.stringify(r));
    assertHeadersMirrorBodies(server);
    assert.doesNotMatch(peer.stderrText, /unreachable|retrying in/);
  });

  test('raw: a non-JSON error answer (HTTP 404 text) is a readable JSON-RPC error for that request', T, async (t) => {
    requireBinary();
    const server = await startModern();
    t.after(() => server.stop());
    const s = setup(server.url.replace(/\/mcp$/, '/elsewhere'));
    const peer = new RawPeer(glasstapeBin(), ['run', '--config', s.config]);
    t.after(() => peer.close());
    for (const id of ['a', 'b']) {
      const r = await peer.request(id, 'server/discover', { _meta: META });
      assert.equal(r.id, id);
      assert.match(r.error?.message ?? '', /answered HTTP 404: not found/, JSON.stringify(r));
    }
    assert.ok(isAlive(peer.pid));
  });

  test('raw: cancelling a 2026-07-28 call closes its stream; the id is free again', T, async (t) => {
    requireBinary();
    const server = await startModern();
    t.after(() => server.stop());
    const s = setup(server.url);
    const peer = new RawPeer(glasstapeBin(), ['run', '--config', s.config]);
    t.after(() => peer.close());
    let r = await peer.request('warm', 'tools/call', { name: 'echo', arguments: { message: 'w' }, _meta: META }, 20_000);
    assert.equal(r.result?.content?.[0]?.text, 'w');

    peer.sendJson({ jsonrpc: '2.0', id: 's', method: 'tools/call', params: { name: 'slow', arguments: { ms: 20_000 }, _meta: META } });
    await waitUntil(() => server.calls('slow').length === 1, 10_000, 'the slow call to reach the server');
    peer.sendJson({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 's', reason: 'user' } });
    await waitUntil(() => server.log().some((x) => x.event === 'closed-by-client' && x.id === 's'), 10_000,
      'the server to see the stream closed');
    // No notification went to the server (2026-07-28 has none over HTTP), and the client got
    // no answer for the cancelled request.
    assert.ok(!server.posts().some((x) => x.body?.method === 'notifications/cancelled'));
    // The id is free again at once.
    r = await peer.request('s', 'tools/call', { name: 'echo', arguments: { message: 'again' }, _meta: META });
    assert.equal(r.result?.content?.[0]?.text, 'again', JSON.stringify(r));
    assert.equal(peer.messages().filter((m) => m?.id === 's').length, 1, 'one answer for id s: the second request\'s');
  });

  test('a 2025 client (SDK v1, initialize) through the same config, to a dual-era server', T, async (t) => {
    requireBinary();
    const server = await startModern(false);
    t.after(() => server.stop());
    const s = setup(server.url);
    const legacy = await connect('proxy', [], { config: s.config });
    t.after(() => legacy.close());
    const { tools } = await legacy.client.listTools();
    assert.ok(tools.some((x) => x.name === 'echo'));
    assert.equal(textOf(await legacy.client.callTool({ name: 'echo', arguments: { message: 'old' } })), 'old');
    assertDenied(assert, await legacy.client.callTool({ name: 'delete_file', arguments: { path: '/x' } }), 'delete_file');
    const init = server.posts().find((x) => x.body?.method === 'initialize');
    assert.ok(init, 'the 2025 client initialized');
    const echo = server.calls('echo')[0];
    assert.equal(echo.headers['mcp-protocol-version'], init.body.params.protocolVersion);
    assert.equal(echo.headers['mcp-method'], undefined, 'a 2025 request gets no 2026 headers');
    await legacy.close();

    // And a 2026 client through the same config and server.
    const { client } = await modernClient(t, s.config);
    assert.equal(client.getProtocolEra(), 'modern');
    assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'new' } })), 'new');
    const modern = server.calls('echo').find((x) => x.body.params.arguments.message === 'new');
    assert.equal(modern.headers['mcp-protocol-version'], VERSION);
    assert.equal(modern.headers['mcp-method'], 'tools/call');
    assert.equal(modern.headers['mcp-name'], 'echo');
  });

  test('raw: 2025 and 2026 requests mixed on one upstream (a stateful 2025 server): no session on 2026 ones', T, async (t) => {
    requireBinary();
    const server = await startServer(LEGACY_FIXTURE, ['--port', '0']);
    t.after(() => server.stop());
    const config = writeConfig({ servers: { old: { url: server.url } } });
    const peer = new RawPeer(glasstapeBin(), ['run', '--config', config]);
    t.after(() => peer.close());
    const init = await peer.initialize();
    assert.ok(init.result, JSON.stringify(init));
    let r = await peer.request(1, 'tools/call', { name: 'echo', arguments: { message: 'one' } });
    assert.equal(r.result?.content?.[0]?.text, 'echo: one', JSON.stringify(r));
    // A 2026-07-28 request: sent without the session, which this 2025 server wants: its 400
    // (a JSON-RPC error with a null id) reaches the client with the request's id.
    r = await peer.request(2, 'tools/call', { name: 'echo', arguments: { message: 'two' }, _meta: META });
    assert.equal(r.error?.code, -32001, JSON.stringify(r));
    assert.equal(r.id, 2);
    // The 2025 session is untouched.
    r = await peer.request(3, 'tools/call', { name: 'echo', arguments: { message: 'three' } });
    assert.equal(r.result?.content?.[0]?.text, 'echo: three', JSON.stringify(r));

    const log = server.log().filter((x) => x.method === 'POST' && x.rpc === 'tools/call echo');
    assert.equal(log.length, 3);
    const [one, two, three] = log;
    assert.ok(one.headers['mcp-session-id']);
    assert.equal(three.headers['mcp-session-id'], one.headers['mcp-session-id']);
    assert.equal(two.headers['mcp-session-id'], undefined);
    assert.equal(two.headers['mcp-protocol-version'], VERSION);
    assert.equal(two.headers['mcp-method'], 'tools/call');
    assert.equal(two.headers['mcp-name'], 'echo');
    assert.notEqual(one.headers['mcp-protocol-version'], VERSION);
    assert.equal(one.headers['mcp-method'], undefined);
  });
});

// One raw POST of a 2026-07-28 message to glasstape serve, with the headers the
// specification requires plus `extra`.
async function post(url, msg, extra = {}) {
  const h = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': VERSION,
    'mcp-method': msg.method,
    ...extra,
  };
  if (msg.method === 'tools/call') h['mcp-name'] = msg.params.name;
  const res = await fetch(url, { method: 'POST', headers: h, body: JSON.stringify(msg) });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  const body = type.includes('text/event-stream')
    ? text.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5))).find((m) => 'id' in m && m.id === msg.id)
    : JSON.parse(text);
  return { status: res.status, body };
}

async function startServe(t, url) {
  const s = setup(url);
  const proc = spawn(requireBinary(), ['serve', '--config', s.config, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stdout.on('data', (d) => (log += d));
  proc.stderr.on('data', (d) => (log += d));
  const exited = new Promise((r) => proc.on('exit', r));
  t.after(async () => {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    if (!(await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(r, 8000))]))) killQuietly(proc.pid);
  });
  let front;
  await waitUntil(() => {
    const m = /serving MCP at (http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(log);
    if (m) front = m[1];
    if (proc.exitCode !== null) throw new Error(`glasstape serve exited early:\n${log}`);
    return !!front;
  }, 20_000, 'glasstape serve to listen');
  return { ...s, front, log: () => log };
}

describe('MCP 2026-07-28 to a url: server through glasstape serve', { skip }, () => {
  test('the headers the server gets are made from the judged body, never taken from the client', T, async (t) => {
    const server = await startModern();
    t.after(() => server.stop());
    const g = await startServe(t, server.url);

    // An SDK v2 client over HTTP, pinned.
    const client = new Client({ name: 'gt-modern-http-e2e', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: VERSION } } });
    await withTimeout(client.connect(new StreamableHTTPClientTransport(new URL(g.front))), 20_000, 'connect over HTTP');
    t.after(() => client.close().catch(() => {}));
    assert.equal(textOf(await client.callTool({ name: 'get_sum', arguments: { a: 1, b: 2 } })), '3');
    const seen = JSON.parse(textOf(await client.callTool({ name: 'route', arguments: { region: 'Zürich' } })));
    assert.deepEqual(seen, { header: encoded('Zürich'), region: 'Zürich' });

    // Raw: the client's own extra headers stay with GlassTape; a lying Mcp-Param-Region is
    // refused before anything is judged or sent.
    const call = (id, region, extra) => post(g.front, { jsonrpc: '2.0', id, method: 'tools/call',
      params: { name: 'route', arguments: { region }, _meta: META } }, extra);
    let r = await call(7, 'us', { 'mcp-param-region': 'us', 'x-client-secret': 'hush', authorization: 'Bearer client' });
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.deepEqual(JSON.parse(r.body.result.content[0].text), { header: 'us', region: 'us' });
    r = await call(8, 'us', { 'mcp-param-region': 'eu' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error?.code, -32020, JSON.stringify(r));
    assert.equal(r.body.id, 8);

    const routes = server.calls('route');
    assert.deepEqual(routes.map((x) => x.body.params.arguments.region), ['Zürich', 'us']);
    for (const x of server.posts()) {
      assert.equal(x.headers['x-client-secret'], undefined);
      assert.equal(x.headers.authorization, undefined);
    }
    assertHeadersMirrorBodies(server);
    for (const x of routes) assert.equal(x.headers['mcp-param-region'], encoded(x.body.params.arguments.region));
    const decs = records(g.auditDir).filter((p) => p.kind === 'decision');
    assert.deepEqual(decs.map((d) => [d.tool, d.decision, d.protocol_version]),
      [['get_sum', 'allow', VERSION], ['route', 'allow', VERSION], ['route', 'allow', VERSION]]);
  });
});
