// MCP 2026-07-28 through `glasstape serve` (issue 16, item 1, HTTP front): an SDK v2 client
// pinned to 2026-07-28 over Streamable HTTP in front of an SDK v2 stdio server that refuses the
// legacy handshake. Every call is judged as for a 2025-11-25 client; requests are stateless
// (no Mcp-Session-Id); the headers must say what the body says (-32020, before any policy
// runs, no record); removed methods get 404 -32601; errors carry the request's id; two clients
// using the same id at once each get their own answer. In front of a server that speaks only
// 2025-11-25 (the bundled example server), GlassTape holds its session and bridges: it answers
// server/discover and gives every result what 2026-07-28 requires.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as HttpV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { E2E_DIR, NODE, modes, requireBinary, tmpDir, waitUntil, killQuietly, withTimeout, textOf,
  DECISION_META_KEY, recordPayload } from './lib/harness.mjs';

const T = { timeout: 90_000 };
const FIXTURE = path.join(E2E_DIR, 'fixtures', 'modern_server.mjs');
const MODERN = '2026-07-28';

const POLICY = `policy_id: modern.http
version: "1"
tools: [get_sum, echo, route, confirm, test_elicitation, test_sampling, test_tool_with_progress]
rules:
  deny:
    - id: small-sums-only
      condition: "has(args.a) && args.a > 100"
      reason: sums stay small
  allow:
    - id: rest
      condition: ""
`;

const LEGACY_FIXTURE = path.join(E2E_DIR, 'fixtures', 'conformance_server.mjs');  // SDK v1, 2025-11-25 only
const EXAMPLE = process.env.GT_EXAMPLE_SERVER || path.join(E2E_DIR, '..', '..', 'build', 'tests', 'glasstape-example-server');

async function startServe({ command = [NODE, FIXTURE, '--modern-only'] } = {}) {
  const bin = requireBinary();
  const dir = tmpDir('gt-e2e-modern-http-');
  fs.mkdirSync(path.join(dir, 'policies'));
  fs.writeFileSync(path.join(dir, 'policies', 'modern.yaml'), POLICY);
  const config = {
    identity: { agent_id: 'modern-http-agent' },
    servers: { m: { command } },
    http: { listen: '127.0.0.1:0', path: '/mcp' },
    governance: {
      audit: { dir: path.join(dir, 'audit'), keys_dir: path.join(dir, 'keys'), fsync: 'always' },
      policies: { dir: path.join(dir, 'policies'), state_dir: path.join(dir, 'state') },
      deny_tools: ['delete_file'],
    },
  };
  const file = path.join(dir, 'glasstape.yaml');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  const proc = spawn(bin, ['serve', '--config', file, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const onData = (d) => {
    log += d.toString();
    if (log.length > 400_000) log = log.slice(-200_000);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((r) => proc.on('exit', (code, sig) => r({ code, sig })));
  let url;
  try {
    await waitUntil(() => {
      const m = /serving MCP at (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(log);
      if (m) url = m[1];
      if (proc.exitCode !== null) throw new Error(`glasstape serve exited early:\n${log}`);
      return !!url;
    }, 20_000, 'glasstape serve to listen');
  } catch (e) {
    killQuietly(proc.pid);
    throw e;
  }
  return {
    url, dir, log: () => log,
    auditDir: path.join(dir, 'audit'),
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const r = await Promise.race([exited, new Promise((res) => setTimeout(res, 8000))]);
      if (!r) {
        killQuietly(proc.pid);
        throw new Error('glasstape serve did not stop within 8 s of SIGTERM');
      }
      assert.deepEqual(r, { code: 0, sig: null }, `glasstape serve exit; its log:\n${log.slice(-6000)}`);
    },
  };
}

function records(dir) {
  const out = [];
  for (const f of fs.readdirSync(dir).filter((n) => /^audit(-\d{12})?\.jsonl$/.test(n))) {
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (line.trim()) out.push(recordPayload(line));
    }
  }
  return out;
}
const decisions = (dir) => records(dir).filter((p) => p.kind === 'decision');

const envelope = (v = MODERN, extra = {}) => ({
  'io.modelcontextprotocol/protocolVersion': v,
  'io.modelcontextprotocol/clientCapabilities': {},
  ...extra,
});

// One raw POST of a 2026-07-28 message, with the headers the specification requires unless
// `headers` overrides them (null drops one).
async function post(url, msg, headers = {}) {
  const h = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN,
    'mcp-method': msg.method,
  };
  if (msg.method === 'tools/call' || msg.method === 'prompts/get') h['mcp-name'] = msg.params?.name;
  if (msg.method === 'resources/read') h['mcp-name'] = msg.params?.uri;
  for (const [k, v] of Object.entries(headers)) {
    if (v === null) delete h[k.toLowerCase()];
    else h[k.toLowerCase()] = v;
  }
  const res = await fetch(url, { method: 'POST', headers: h, body: JSON.stringify(msg) });
  const text = await res.text();
  let json = null;
  if ((res.headers.get('content-type') || '').startsWith('application/json') && text) json = JSON.parse(text);
  if ((res.headers.get('content-type') || '').startsWith('text/event-stream')) {
    const datas = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
    json = datas.find((d) => d.id === msg.id) ?? null;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const call = (id, name, args, meta = envelope()) =>
  ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: meta } });

if (modes().includes('proxy')) {
  describe('MCP 2026-07-28 clients through glasstape serve', () => {
    test('a pinned SDK v2 client calls a modern-only server over HTTP; every call is judged', T, async (t) => {
      const g = await startServe();
      t.after(() => g.stop());
      const client = new Client({ name: 'gt-modern-http-e2e', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: MODERN } } });
      await withTimeout(client.connect(new StreamableHTTPClientTransport(new URL(g.url))), 20_000, 'connect');
      assert.equal(client.getProtocolEra(), 'modern');
      // A call before any tools/list: the proxy lists the tools itself, with the call's envelope.
      const bad = await client.callTool({ name: 'get_sum', arguments: { a: 1, b: 'two' } });
      assert.equal(bad.isError, true, JSON.stringify(bad));
      assert.equal(bad._meta?.[DECISION_META_KEY]?.code, 'GT-SCHEMA-INVALID', JSON.stringify(bad));
      const ok = await client.callTool({ name: 'get_sum', arguments: { a: 2, b: 3 } });
      assert.equal(textOf(ok), '5', JSON.stringify(ok));
      const big = await client.callTool({ name: 'get_sum', arguments: { a: 200, b: 3 } });
      assert.equal(big._meta?.[DECISION_META_KEY]?.rule_id, 'small-sums-only', JSON.stringify(big));
      const del = await client.callTool({ name: 'delete_file', arguments: { path: '/etc/hosts' } });
      assert.equal(del._meta?.[DECISION_META_KEY]?.code, 'GT-DENY-TOOL', JSON.stringify(del));
      const { tools } = await client.listTools();
      // deny_tools hides delete_file from the list (the call above was still judged and denied).
      assert.deepEqual(tools.map((x) => x.name).sort(), ['confirm', 'echo', 'get_sum', 'route']);
      // x-mcp-header: the SDK client mirrors `region` as Mcp-Param-Region (a non-ASCII value
      // in the base64 form); GlassTape checks it against the body and lets the call through.
      for (const region of ['eu-west', 'Zürich']) {
        const r = await client.callTool({ name: 'route', arguments: { region, message: 'hi' } });
        assert.equal(textOf(r), `${region}: hi`, JSON.stringify(r));
      }
      await client.close();

      const decs = decisions(g.auditDir);
      assert.deepEqual(decs.map((d) => [d.tool, d.decision]), [['get_sum', 'deny'], ['get_sum', 'allow'],
        ['get_sum', 'deny'], ['delete_file', 'deny'], ['route', 'allow'], ['route', 'allow']]);
      for (const d of decs) {
        assert.equal(d.protocol_version, MODERN, JSON.stringify(d));
        assert.equal(d.session, '', 'MCP 2026-07-28 has no session');
      }
    });

    test('raw: headers that disagree with the body are refused before any policy runs', T, async (t) => {
      const g = await startServe();
      t.after(() => g.stop());
      // A good call, so the proxy knows the tools.
      let r = await post(g.url, call(1, 'route', { region: 'eu', message: 'm' }), { 'mcp-param-region': 'eu' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.result?.content?.[0]?.text, 'eu: m', r.text);
      assert.equal(r.headers.get('mcp-session-id'), null, 'no session in 2026-07-28');
      const before = decisions(g.auditDir).length;
      const cases = [
        // [what, message, header overrides]
        ['Mcp-Name names another tool', call(2, 'delete_file', { path: '/x' }), { 'mcp-name': 'echo' }],
        ['Mcp-Name missing', call(3, 'echo', { message: 'x' }), { 'mcp-name': null }],
        ['Mcp-Method differs', call(4, 'echo', { message: 'x' }), { 'mcp-method': 'tools/list' }],
        ['Mcp-Param-Region lies', call(5, 'route', { region: 'eu', message: 'x' }), { 'mcp-param-region': 'us' }],
        ['Mcp-Param-Region missing', call(6, 'route', { region: 'eu', message: 'x' }), {}],
        ['an Mcp-Param header the tool does not declare', call(7, 'echo', { message: 'x' }), { 'mcp-param-other': 'x' }],
        ['body version v999 with a 2026-07-28 header', call(8, 'echo', { message: 'x' }, envelope('v999.0.0')), {}],
        ['Mcp-Param-Region in a bad base64 form', call(9, 'route', { region: 'eu', message: 'x' }), { 'mcp-param-region': '=?base64?ZXU?=' }],
      ];
      for (const [what, msg, h] of cases) {
        r = await post(g.url, msg, h);
        assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
        assert.equal(r.json?.error?.code, -32020, `${what}: ${r.text}`);
        assert.equal(r.json.id, msg.id, `${what}: the error carries the request's id`);
      }
      assert.equal(decisions(g.auditDir).length, before, 'nothing refused for its headers was judged or recorded');
      assert.match(g.log(), /refused tools\/call `route`: Header mismatch/);
    });

    test('raw: versions, envelopes, removed methods, notifications, GET', T, async (t) => {
      const g = await startServe();
      t.after(() => g.stop());
      let r = await post(g.url, call('v', 'echo', { message: 'x' }, envelope('v999.0.0')), { 'mcp-protocol-version': 'v999.0.0' });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error.code, -32022);
      assert.equal(r.json.id, 'v');
      assert.deepEqual(r.json.error.data, { supported: [MODERN], requested: 'v999.0.0' });
      r = await post(g.url, call('e', 'echo', { message: 'x' }, { 'io.modelcontextprotocol/protocolVersion': MODERN }));
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error.code, -32602);
      assert.equal(r.json.id, 'e');
      // A 2026-07-28 header on a request without the envelope: a malformed modern request.
      r = await post(g.url, { jsonrpc: '2.0', id: 'n', method: 'tools/list', params: {} });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error.code, -32602);
      for (const method of ['ping', 'initialize', 'logging/setLevel', 'resources/subscribe']) {
        r = await post(g.url, { jsonrpc: '2.0', id: method, method, params: { _meta: envelope() } });
        assert.equal(r.status, 404, `${method}: ${r.text}`);
        assert.equal(r.json.error.code, -32601, method);
        assert.equal(r.json.id, method);
      }
      r = await post(g.url, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, _meta: envelope() } });
      assert.equal(r.status, 202, r.text);
      r = await post(g.url, { jsonrpc: '2.0', id: 'u', method: 'no/such', params: { _meta: envelope() } });
      assert.equal(r.status, 404, r.text);
      assert.equal(r.json.error.code, -32601);
      const get = await fetch(g.url, { headers: { accept: 'text/event-stream', 'mcp-protocol-version': MODERN } });
      assert.equal(get.status, 405);
      assert.equal(get.headers.get('allow'), 'POST');
      await get.text();
      // A batch may not carry 2026-07-28 requests.
      const batch = await fetch(g.url, { method: 'POST', headers: { 'content-type': 'application/json',
        accept: 'application/json, text/event-stream' },
      body: JSON.stringify([call(1, 'echo', { message: 'x' })]) });
      assert.equal(batch.status, 400);
      await batch.text();
      assert.equal(decisions(g.auditDir).length, 0, 'nothing was judged');
    });

    test('MRTR: the retry of an input_required call is judged again and linked to the first decision', T, async (t) => {
      const g = await startServe();
      t.after(() => g.stop());
      const client = new Client({ name: 'gt-mrtr-e2e', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: MODERN } }, capabilities: { elicitation: { form: {} } } });
      let asked = 0;
      client.setRequestHandler('elicitation/create', async () => {
        asked += 1;
        return { action: 'accept', content: { ok: true } };
      });
      await withTimeout(client.connect(new StreamableHTTPClientTransport(new URL(g.url))), 20_000, 'connect');
      const r = await client.callTool({ name: 'confirm', arguments: { action: 'deploy' } });
      assert.equal(textOf(r), 'confirmed deploy', JSON.stringify(r));
      assert.equal(asked, 1, 'the client answered one elicitation');
      // Another exchange, so links cannot be confused.
      const r2 = await client.callTool({ name: 'confirm', arguments: { action: 'ship' } });
      assert.equal(textOf(r2), 'confirmed ship', JSON.stringify(r2));
      await client.close();
      const decs = decisions(g.auditDir).filter((d) => d.tool === 'confirm');
      assert.equal(decs.length, 4, 'each round is judged and recorded: ' + JSON.stringify(decs));
      assert.ok(decs.every((d) => d.decision === 'allow'));
      assert.equal(decs[0].retry_of, undefined);
      assert.equal(decs[1].retry_of, decs[0].id, 'the retry names the first decision');
      assert.equal(decs[2].retry_of, undefined);
      assert.equal(decs[3].retry_of, decs[2].id);
      assert.equal(decs[0].args_sha256, decs[1].args_sha256, 'same arguments');
      // The log verifies with the new member.
      const { execFileSync } = await import('node:child_process');
      // Exit 0 (execFileSync throws otherwise): every record verifies, retry_of included.
      execFileSync(requireBinary(), ['verify', '--config', path.join(g.dir, 'glasstape.yaml')],
        { encoding: 'utf8', stdio: 'pipe' });
    });

    test('bridge: a pinned SDK v2 client in front of a 2025-11-25-only server', T, async (t) => {
      const g = await startServe({ command: [EXAMPLE] });
      t.after(() => g.stop());
      // server/discover, answered by GlassTape from the server's initialize result.
      const d = await post(g.url, { jsonrpc: '2.0', id: 'd', method: 'server/discover', params: { _meta: envelope() } });
      assert.equal(d.status, 200, d.text);
      assert.deepEqual(d.json.result.supportedVersions, [MODERN]);
      assert.equal(d.json.result.resultType, 'complete');
      assert.equal(d.json.result._meta['io.modelcontextprotocol/serverInfo'].name, 'glasstape-example-server');
      assert.ok(d.json.result.capabilities.tools, d.text);
      assert.match(g.log(), /speaks MCP 2025-11-25 or earlier only/);
      const list = await post(g.url, { jsonrpc: '2.0', id: 'l', method: 'tools/list', params: { _meta: envelope() } });
      assert.equal(list.json.result.resultType, 'complete', list.text);
      assert.equal(list.json.result.ttlMs, 0);
      assert.equal(list.json.result.cacheScope, 'private');

      const client = new Client({ name: 'gt-modern-bridge-e2e', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: MODERN } } });
      await withTimeout(client.connect(new StreamableHTTPClientTransport(new URL(g.url))), 20_000, 'connect');
      assert.equal(client.getProtocolEra(), 'modern');
      const ok = await client.callTool({ name: 'get_sum', arguments: { a: 2, b: 3 } });
      assert.equal(ok.isError, undefined, JSON.stringify(ok));
      assert.match(textOf(ok), /5/);
      const big = await client.callTool({ name: 'get_sum', arguments: { a: 200, b: 3 } });
      assert.equal(big._meta?.[DECISION_META_KEY]?.rule_id, 'small-sums-only', JSON.stringify(big));
      const echo = await client.callTool({ name: 'echo', arguments: { message: 'hello' } });
      assert.equal(textOf(echo), 'hello', JSON.stringify(echo));
      await client.close();
      const decs = decisions(g.auditDir);
      assert.deepEqual(decs.map((x) => [x.tool, x.decision]), [['get_sum', 'allow'], ['get_sum', 'deny'], ['echo', 'allow']]);
      for (const x of decs) assert.equal(x.protocol_version, MODERN);
      // The result record is written once the client has its answer: wait for it.
      await waitUntil(() => records(g.auditDir).filter((p) => p.kind === 'result').length === 2,
        10_000, 'a result record for each allowed call');
      // One example-server process served every request, initialized once.
      assert.equal((g.log().match(/speaks MCP 2025-11-25 or earlier only/g) || []).length, 1);
    });

    test('bridge: 2025-11-25 clients (SDK v1) over HTTP in front of a server that speaks only 2026-07-28', T, async (t) => {
      const g = await startServe();
      t.after(() => g.stop());
      // Two sessions at once, each initialized by GlassTape from server/discover.
      const clients = [];
      for (const name of ['legacy-a', 'legacy-b']) {
        const c = new ClientV1({ name, version: '1.0.0' });
        await withTimeout(c.connect(new HttpV1(new URL(g.url))), 20_000, `connect ${name}`);
        clients.push(c);
      }
      t.after(() => Promise.all(clients.map((c) => c.close().catch(() => {}))));
      for (const [i, c] of clients.entries()) {
        assert.equal(c.getServerVersion()?.name, 'glasstape-modern-fixture');
        await c.ping();
        const ok = await c.callTool({ name: 'get_sum', arguments: { a: i, b: 3 } });
        assert.equal(textOf(ok), String(i + 3), JSON.stringify(ok));
        const big = await c.callTool({ name: 'get_sum', arguments: { a: 500, b: 1 } });
        assert.equal(big._meta?.[DECISION_META_KEY]?.rule_id, 'small-sums-only', JSON.stringify(big));
      }
      const decs = decisions(g.auditDir);
      assert.equal(decs.length, 4);
      assert.equal(new Set(decs.map((d) => d.session)).size, 2, 'two sessions');
      assert.ok(decs.every((d) => d.session !== '' && d.protocol_version === '2025-11-25'));
      assert.match(g.log(), /speaks only MCP 2026-07-28: session \S+ bridged/);
    });

    test('raw: two clients using the same id at once each get their own answer', T, async (t) => {
      const g = await startServe();
      t.after(() => g.stop());
      const n = 12;
      const rs = await Promise.all(Array.from({ length: n }, (_, i) =>
        post(g.url, call(1, 'echo', { message: `m${i}` }))));
      rs.forEach((r, i) => {
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.id, 1);
        assert.equal(r.json.result.content[0].text, `m${i}`, r.text);
        assert.equal(r.json.result.resultType, 'complete');
      });
      const decs = decisions(g.auditDir);
      assert.equal(decs.length, n);
      assert.ok(decs.every((d) => d.decision === 'allow' && d.request_id === 1));
    });
    test('bridge: a 2025-11-25 server asks the user; an SDK v2 client answers input_required, and the call resumes', T, async (t) => {
      const g = await startServe({ command: [NODE, LEGACY_FIXTURE] });
      t.after(() => g.stop());
      const client = new Client({ name: 'gt-legacy-mrtr-e2e', version: '1.0.0' }, {
        versionNegotiation: { mode: { pin: MODERN } },
        capabilities: { elicitation: { form: {} }, sampling: {} },
      });
      const asked = [];
      client.setRequestHandler('elicitation/create', async (req) => {
        asked.push(req.params.message);
        return { action: 'accept', content: { username: 'ada', email: 'ada@example.com' } };
      });
      client.setRequestHandler('sampling/createMessage', async () => ({
        role: 'assistant', content: { type: 'text', text: 'Paris' }, model: 'test-model',
      }));
      await withTimeout(client.connect(new StreamableHTTPClientTransport(new URL(g.url))), 20_000, 'connect');
      assert.equal(client.getProtocolEra(), 'modern');
      // The server's elicitation/create became an input_required result; the client's retry
      // answered it, and the held call's result came back as the retry's.
      const r = await client.callTool({ name: 'test_elicitation', arguments: { message: 'Who are you?' } });
      assert.match(textOf(r), /accept.*ada/, JSON.stringify(r));
      assert.deepEqual(asked, ['Who are you?']);
      const s = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'Capital of France?' } });
      assert.equal(textOf(s), 'LLM response: Paris', JSON.stringify(s));
      await client.close();
      const decs = decisions(g.auditDir);
      assert.deepEqual(decs.map((d) => [d.tool, d.decision]), [
        ['test_elicitation', 'allow'], ['test_elicitation', 'allow'], ['test_sampling', 'allow'], ['test_sampling', 'allow']]);
      assert.equal(decs[1].retry_of, decs[0].id, 'the retry names the first decision');
      assert.equal(decs[3].retry_of, decs[2].id);
      assert.equal(decs[0].args_sha256, decs[1].args_sha256);
      await waitUntil(() => records(g.auditDir).filter((p) => p.kind === 'result').length === 4,
        10_000, 'a result record for each round');
      const { execFileSync } = await import('node:child_process');
      execFileSync(requireBinary(), ['verify', '--config', path.join(g.dir, 'glasstape.yaml')],
        { encoding: 'utf8', stdio: 'pipe' });
    });

    const callPlain = call;
    test('raw bridge: a retry must continue the held call unchanged; an unknown state is refused; a question is never guessed onto another call', T, async (t) => {
      const g = await startServe({ command: [NODE, LEGACY_FIXTURE] });
      t.after(() => g.stop());
      // This client can answer elicitations: the bridge passes on only what a request declares.
      const asker = envelope(MODERN, { 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } });
      const call = (id, name, args) => callPlain(id, name, args, asker);
      const mute = await post(g.url, callPlain(0, 'test_elicitation', { message: 'name?' }));
      assert.equal(mute.json.error?.code, -32601, mute.text);
      assert.match(mute.json.error.message, /needs the `elicitation` capability, which the client did not declare/);
      const first = await post(g.url, call(1, 'test_elicitation', { message: 'name?' }));
      assert.equal(first.status, 200, first.text);
      const res = first.json.result;
      assert.equal(res.resultType, 'input_required', first.text);
      const [key] = Object.keys(res.inputRequests);
      assert.equal(res.inputRequests[key].method, 'elicitation/create');
      assert.equal(res.inputRequests[key].params.message, 'name?');
      assert.equal(typeof res.requestState, 'string');
      const answers = { [key]: { action: 'accept', content: { username: 'u', email: 'e@x' } } };
      const retry = (id, args, state = res.requestState) =>
        ({ ...call(id, 'test_elicitation', args), params: { ...call(id, 'test_elicitation', args).params, inputResponses: answers, requestState: state } });
      // Other arguments: judged (policy sees them), then refused: the server still runs the old call.
      const changed = await post(g.url, retry(2, { message: 'something else' }));
      assert.equal(changed.json.error?.code, -32602, changed.text);
      assert.match(changed.json.error.message, /unchanged/);
      // A state GlassTape never minted.
      const forged = await post(g.url, retry(3, { message: 'name?' }, 'glasstape-mrtr-00000000000000000000000000000000'));
      assert.equal(forged.json.error?.code, -32602, forged.text);
      assert.match(forged.json.error.message, /unknown or expired/);
      // The right retry still works (the held call waited), under the retry's own id.
      const ok = await post(g.url, retry(4, { message: 'name?' }));
      assert.equal(ok.json.id, 4, ok.text);
      assert.equal(ok.json.result.resultType, 'complete', ok.text);
      assert.match(ok.json.result.content[0].text, /accept/);
      // A state is used once.
      const again = await post(g.url, retry(5, { message: 'name?' }));
      assert.match(again.json.error?.message ?? '', /unknown or expired/, again.text);

      // Two calls in flight on the one shared server: the slow one (progress) and an
      // elicitation. The server's question can only be attributed when one call is in flight
      // (else it is refused: proxy unit test \"[legacy_bridge]\"): it is never shown to the
      // client that did not cause it.
      const slow = post(g.url, { ...call(6, 'test_tool_with_progress', {}), params: { name: 'test_tool_with_progress', arguments: {}, _meta: { ...asker, progressToken: 'p' } } });
      await new Promise((r) => setTimeout(r, 20));
      const asks = post(g.url, call(7, 'test_elicitation', { message: 'mine?' }));
      const [sr, ar] = await Promise.all([slow, asks]);
      assert.equal(sr.json.result?.resultType, 'complete', sr.text);
      assert.match(sr.json.result.content[0].text, /progress executed/);
      if (ar.json.result?.resultType === 'input_required') {
        assert.equal(Object.values(ar.json.result.inputRequests)[0].params.message, 'mine?', ar.text);
      } else {
        // The server's request was refused; the tool reports its failure (in-band).
        assert.ok(ar.json.result?.isError || ar.json.error, ar.text);
        assert.match(g.log(), /cannot tell which of the 2 requests/);
      }
    });
  });
}
