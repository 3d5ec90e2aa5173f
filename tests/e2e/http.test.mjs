// `glasstape serve`: the Streamable HTTP front (MCP 2025-11-25) in front of the bundled
// example server over stdio, with governance on. The SDK's own Client and
// StreamableHTTPClientTransport drive the happy paths; raw HTTP requests (node:http, which
// may set any Host header) drive the error paths, so each status code is checked exactly.
//
//   GLASSTAPE_BIN      the glasstape binary (default <repo>/build/proxy/glasstape)
//   GT_EXAMPLE_SERVER  the example server (default <repo>/build/tests/glasstape-example-server)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import {
  DECISION_META_KEY,
  REPO_ROOT,
  cmdline,
  descendants,
  isAlive,
  killQuietly,
  modes,
  requireBinary,
  textOf,
  tmpDir,
  waitUntil,
  withTimeout,
} from './lib/harness.mjs';

const EXAMPLE =
  process.env.GT_EXAMPLE_SERVER || path.join(REPO_ROOT, 'build', 'tests', 'glasstape-example-server');
// Large enough for the 9 MiB answer test (beyond the front's 8 MiB per-client write queue).
const BODY_LIMIT = 12 * 1024 * 1024;
const PROTOCOL = '2025-11-25';

// The policy: echo is allowed unless it says `forbidden`; slow and crash are allowed;
// nothing else is.
const POLICY = `
policy_id: http.e2e
version: "1.0"
description: What the HTTP front tests may call.
tools: [echo, slow, crash]
rules:
  deny:
    - id: deny-forbidden-echo
      condition: "tool.name == 'echo' && args.message.lower().contains('forbidden')"
      reason: echo may not say the forbidden word
  allow:
    - id: allow-echo
      condition: "tool.name == 'echo'"
      reason: echo is harmless
    - id: allow-slow
      condition: "tool.name == 'slow'"
      reason: slow only waits
    - id: allow-crash
      condition: "tool.name == 'crash'"
      reason: crash only ends its own session's server
`;

// ------------------------------------------------------------------------ glasstape serve

// `servers` and `http` replace the defaults (one `example` server at /mcp).
async function startServe({ servers, http: httpExtra } = {}) {
  const bin = requireBinary();
  fs.accessSync(EXAMPLE, fs.constants.X_OK);
  const dir = tmpDir('gt-e2e-http-');
  fs.mkdirSync(path.join(dir, 'policies'));
  fs.writeFileSync(path.join(dir, 'policies', 'http.e2e.yaml'), POLICY);
  const config = {
    servers: servers ?? { example: { command: [EXAMPLE], restart: { max: 0 } } },
    identity: { agent_id: 'http-e2e-agent', roles: ['tester'] },
    max_message_bytes: BODY_LIMIT,
    http: { listen: '127.0.0.1:0', path: '/mcp', keepalive_s: 1, ...httpExtra },
    governance: {
      policies: { dir: path.join(dir, 'policies'), state_dir: path.join(dir, 'state') },
      audit: { dir: path.join(dir, 'audit'), keys_dir: path.join(dir, 'keys'), fsync: 'group' },
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
    await waitUntil(
      () => {
        const m = /serving MCP at (http:\/\/127\.0\.0\.1:(\d+)\/mcp)/.exec(log);
        if (m) url = m[1];
        if (proc.exitCode !== null) throw new Error(`glasstape serve exited early:\n${log}`);
        return !!url;
      },
      20_000,
      'glasstape serve to listen',
    );
  } catch (e) {
    killQuietly(proc.pid);
    throw e;
  }
  const port = Number(new URL(url).port);
  return {
    url,
    port,
    proc,
    dir,
    log: () => log,
    // The example-server processes glasstape runs (one per live session).
    children: () =>
      descendants(proc.pid).filter((r) => cmdline(r.pid)[0] === EXAMPLE).map((r) => r.pid),
    async stop() {
      const kids = descendants(proc.pid).map((r) => r.pid);
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const r = await Promise.race([exited, new Promise((res) => setTimeout(res, 8000))]);
      if (!r) {
        killQuietly(proc.pid);
        for (const k of kids) killQuietly(k);
        throw new Error('glasstape serve did not stop within 8 s of SIGTERM');
      }
      await waitUntil(() => kids.every((k) => !isAlive(k)), 5000, 'the servers to exit');
      // SIGTERM is an orderly stop (a sanitizer report would also end up here).
      assert.deepEqual(r, { code: 0, sig: null }, `glasstape serve exit; its log:\n${log.slice(-6000)}`);
    },
  };
}

// ------------------------------------------------------------------------ raw HTTP

// One HTTP request. Resolves with {status, headers, text, json} once the body is complete,
// or, with `headOnly`, as soon as the head arrives (for SSE streams; the request is dropped).
function raw(port, { method = 'POST', headers = {}, body, headOnly = false, path: p = '/mcp' }) {
  const h = {
    Host: `127.0.0.1:${port}`,
    ...(method === 'POST'
      ? { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' }
      : {}),
    ...headers,
  };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  if (payload !== undefined) h['Content-Length'] = Buffer.byteLength(payload);
  return withTimeout(
    new Promise((resolve, reject) => {
      let answered = false;
      const req = http.request(
        { host: '127.0.0.1', port, method, path: p, headers: h, agent: false },
        (res) => {
          answered = true;
          if (headOnly) {
            resolve({ status: res.statusCode, headers: res.headers });
            req.destroy();
            return;
          }
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => {
            let json;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode, headers: res.headers, text, json });
          });
          res.on('error', reject);
        },
      );
      // A server may answer (413) and close before the whole body is written: the write
      // error is expected then, the answer is what counts.
      req.on('error', (e) => {
        if (!answered) reject(e);
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    }),
    15_000,
    `${method} ${JSON.stringify(h)}`,
  );
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A streaming request (GET, or a POST answered with SSE). Resolves once the head arrives
// with {status, headers, events: [{id, event, data}], comments: [text], ended, until(), close()}.
function openStream(port, { method = 'GET', headers = {}, body, path: p = '/mcp' }) {
  const h = { Host: `127.0.0.1:${port}`, Accept: 'text/event-stream', ...headers };
  if (method === 'POST') {
    h['Content-Type'] = 'application/json';
    h.Accept = 'application/json, text/event-stream';
  }
  const payload = body === undefined ? undefined : JSON.stringify(body);
  if (payload !== undefined) h['Content-Length'] = Buffer.byteLength(payload);
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method, path: p, headers: h, agent: false },
        (res) => {
          const s = {
            status: res.statusCode,
            headers: res.headers,
            events: [],
            comments: [],
            ended: false,
            until: (pred, ms, what) => waitUntil(() => pred(s), ms, what),
            close: () => req.destroy(),
          };
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (d) => {
            buf += d;
            for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
              const lines = buf.slice(0, i).split('\n');
              buf = buf.slice(i + 2);
              if (lines.every((l) => l.startsWith(':'))) {
                s.comments.push(lines.map((l) => l.slice(1).trim()).join('\n'));
                continue;
              }
              const ev = { data: '' };
              for (const l of lines) {
                const c = l.indexOf(':');
                const k = c < 0 ? l : l.slice(0, c);
                const v = c < 0 ? '' : l.slice(c + 1).replace(/^ /, '');
                if (k === 'data') ev.data += (ev.data ? '\n' : '') + v;
                else if (k === 'id' || k === 'event' || k === 'retry') ev[k] = v;
              }
              s.events.push(ev);
            }
          });
          res.on('end', () => (s.ended = true));
          res.on('error', () => (s.ended = true));
          resolve(s);
        },
      );
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    }),
    15_000,
    `${method} stream`,
  );
}

const initialize = (id = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: {
    protocolVersion: PROTOCOL,
    capabilities: {},
    clientInfo: { name: 'glasstape-http-e2e', version: '1.0.0' },
  },
});

// A session opened with raw requests: initialize, then notifications/initialized.
async function rawSession(port, p = '/mcp') {
  const r = await raw(port, { body: initialize(), path: p });
  assert.equal(r.status, 200, `initialize: ${r.status} ${r.text}`);
  const sid = r.headers['mcp-session-id'];
  assert.ok(sid, `initialize must return Mcp-Session-Id: ${JSON.stringify(r.headers)}`);
  const n = await raw(port, {
    path: p,
    headers: { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL },
    body: { jsonrpc: '2.0', method: 'notifications/initialized' },
  });
  assert.equal(n.status, 202, `notifications/initialized: ${n.status} ${n.text}`);
  return sid;
}

// ------------------------------------------------------------------------ SDK sessions

// An SDK client over Streamable HTTP; `seen` records each response's method and type.
async function sdkClient(url) {
  const seen = [];
  const fetchTap = async (u, init) => {
    const res = await fetch(u, init);
    let method;
    try {
      method = init?.body ? JSON.parse(init.body).method : undefined;
    } catch {
      method = undefined;
    }
    seen.push({
      httpMethod: init?.method,
      method,
      status: res.status,
      type: res.headers.get('content-type'),
    });
    return res;
  };
  const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: fetchTap });
  const client = new Client({ name: 'glasstape-http-e2e', version: '1.0.0' }, { capabilities: {} });
  await withTimeout(client.connect(transport), 20_000, 'initialize over HTTP');
  return { client, transport, seen };
}

async function closeClient(c) {
  await c.transport.terminateSession().catch(() => {});
  await c.client.close().catch(() => {});
}

// ------------------------------------------------------------------------ tests

// Every test here is about glasstape itself: GT_E2E_MODE=direct (servers only) skips them.
const skip = modes().includes('proxy') ? false : 'GT_E2E_MODE=direct: nothing to run without glasstape';

describe('glasstape serve (Streamable HTTP front)', { timeout: 90_000, skip }, () => {
  let gt;
  before(async () => {
    gt = await startServe();
  });
  after(async () => {
    if (gt) await gt.stop();
  });

  it('initializes, lists and calls through the front', async () => {
    const c = await sdkClient(gt.url);
    try {
      assert.equal(c.client.getServerVersion()?.name, 'glasstape-example-server');
      const sid = c.transport.sessionId;
      assert.match(sid, /^[\x21-\x7e]{16,}$/, `session id must be visible ASCII: ${sid}`);
      const { tools } = await c.client.listTools();
      assert.ok(tools.some((t) => t.name === 'echo'), JSON.stringify(tools.map((t) => t.name)));
      const r = await c.client.callTool({ name: 'echo', arguments: { message: 'hello over http' } });
      assert.equal(r.isError, undefined, JSON.stringify(r));
      assert.equal(textOf(r), 'hello over http');
      // A plain request with nothing before its answer gets application/json.
      const call = c.seen.find((s) => s.method === 'tools/call');
      assert.equal(call.status, 200);
      assert.match(call.type, /^application\/json/, JSON.stringify(call));
      // A second session gets its own, different id.
      const d = await sdkClient(gt.url);
      assert.notEqual(d.transport.sessionId, sid);
      await closeClient(d);
    } finally {
      await closeClient(c);
    }
  });

  it('denies a call the policy forbids, with the decision in _meta', async () => {
    const c = await sdkClient(gt.url);
    try {
      const r = await c.client.callTool({
        name: 'echo',
        arguments: { message: 'say the Forbidden word' },
      });
      assert.equal(r.isError, true, JSON.stringify(r));
      assert.match(textOf(r), /denied this call to `example\/echo`/, textOf(r));
      const d = r._meta?.[DECISION_META_KEY];
      assert.ok(d, `no _meta["${DECISION_META_KEY}"]: ${JSON.stringify(r)}`);
      assert.equal(d.decision, 'deny', JSON.stringify(d));
      assert.equal(d.policy_id, 'http.e2e', JSON.stringify(d));
      assert.equal(d.rule_id, 'deny-forbidden-echo', JSON.stringify(d));
      assert.ok(d.code, JSON.stringify(d));
      assert.ok(d.receipt_id, `a denied call is still signed: ${JSON.stringify(d)}`);
      // The same session goes on working, and an allowed call is not touched.
      const ok = await c.client.callTool({ name: 'echo', arguments: { message: 'fine' } });
      assert.equal(textOf(ok), 'fine');
      // A tool without a policy is denied too (fail closed).
      const none = await c.client.callTool({ name: 'get_sum', arguments: { a: 1, b: 2 } });
      assert.equal(none.isError, true, JSON.stringify(none));
      assert.equal(none._meta?.[DECISION_META_KEY]?.decision, 'deny', JSON.stringify(none));
    } finally {
      await closeClient(c);
    }
  });

  it('streams progress notifications over SSE before the answer', async () => {
    const c = await sdkClient(gt.url);
    try {
      const progress = [];
      const r = await c.client.callTool(
        { name: 'slow', arguments: { ms: 300, steps: 3 } },
        undefined,
        { onprogress: (p) => progress.push(p) },
      );
      assert.equal(r.isError, undefined, JSON.stringify(r));
      assert.equal(progress.length, 3, JSON.stringify(progress));
      assert.deepEqual(progress.map((p) => p.progress), [1, 2, 3]);
      assert.ok(progress.every((p) => p.total === 3), JSON.stringify(progress));
      const call = c.seen.find((s) => s.method === 'tools/call');
      assert.match(call.type, /^text\/event-stream/, JSON.stringify(call));
    } finally {
      await closeClient(c);
    }
  });

  it('keeps 50 concurrent sessions with overlapping request ids apart', async () => {
    const N = 50;
    const CALLS = 4;
    // By pid, as the next test does: a server of an earlier test may still be exiting.
    const before = new Set(gt.children());
    // Every client numbers its requests from 0, so all 50 sessions use the same ids.
    const clients = await Promise.all(Array.from({ length: N }, () => sdkClient(gt.url)));
    const mine = gt.children().filter((p) => !before.has(p));
    try {
      assert.equal(new Set(clients.map((c) => c.transport.sessionId)).size, N);
      assert.equal(mine.length, N, 'one server process per session');
      const results = await Promise.all(
        clients.map((c, i) =>
          Promise.all(
            Array.from({ length: CALLS }, (_, j) =>
              c.client
                .callTool({ name: 'echo', arguments: { message: `session ${i} call ${j}` } })
                .then((r) => ({ i, j, text: textOf(r), r })),
            ),
          ),
        ),
      );
      for (const row of results) {
        for (const { i, j, text, r } of row) {
          assert.equal(text, `session ${i} call ${j}`, `session ${i} got ${JSON.stringify(r)}`);
        }
      }
    } finally {
      await Promise.all(clients.map(closeClient));
    }
    // Each DELETE stops that session's server.
    await waitUntil(() => mine.every((p) => !isAlive(p)), 10_000, 'the 50 servers to stop');
  });

  it('ends a session on DELETE: its server stops and the id is then unknown (404)', async () => {
    const before = new Set(gt.children());
    const sid = await rawSession(gt.port);
    const mine = gt.children().filter((p) => !before.has(p));
    assert.equal(mine.length, 1, 'initialize started one server');
    const headers = { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL };
    const list = await raw(gt.port, {
      headers,
      body: { jsonrpc: '2.0', id: 2, method: 'tools/list' },
    });
    assert.equal(list.status, 200, list.text);
    assert.ok(list.json?.result?.tools?.length > 0, list.text);
    const del = await raw(gt.port, { method: 'DELETE', headers });
    assert.ok(del.status >= 200 && del.status < 300, `DELETE: ${del.status} ${del.text}`);
    await waitUntil(() => !isAlive(mine[0]), 10_000, "the session's server to stop");
    const after = await raw(gt.port, {
      headers,
      body: { jsonrpc: '2.0', id: 3, method: 'tools/list' },
    });
    assert.equal(after.status, 404, `POST after DELETE: ${after.status} ${after.text}`);
    const get = await raw(gt.port, {
      method: 'GET',
      headers: { ...headers, Accept: 'text/event-stream' },
      headOnly: true,
    });
    assert.equal(get.status, 404, 'GET after DELETE');
    const again = await raw(gt.port, { method: 'DELETE', headers });
    assert.equal(again.status, 404, 'a second DELETE');
  });

  it('rejects foreign Origin and Host headers with 403 (DNS rebinding)', async () => {
    const before = gt.children().length;
    const evilOrigin = await raw(gt.port, {
      headers: { Origin: 'http://evil.example.com' },
      body: initialize(),
    });
    assert.equal(evilOrigin.status, 403, evilOrigin.text);
    assert.equal(evilOrigin.headers['mcp-session-id'], undefined);
    const evilHost = await raw(gt.port, {
      headers: { Host: `evil.example.com:${gt.port}` },
      body: initialize(),
    });
    assert.equal(evilHost.status, 403, evilHost.text);
    // Look-alikes of allowed names are not allowed.
    const lookalike = await raw(gt.port, {
      headers: { Origin: 'http://localhost.evil.example.com' },
      body: initialize(),
    });
    assert.equal(lookalike.status, 403, lookalike.text);
    const hostLookalike = await raw(gt.port, {
      headers: { Host: 'localhost.evil.example.com' },
      body: initialize(),
    });
    assert.equal(hostLookalike.status, 403, hostLookalike.text);
    assert.equal(gt.children().length, before, 'a refused request started no server');
    // A local page and a local Host are fine.
    const local = await raw(gt.port, {
      headers: { Host: `localhost:${gt.port}`, Origin: `http://localhost:${gt.port}` },
      body: initialize(),
    });
    assert.equal(local.status, 200, local.text);
    const sid = local.headers['mcp-session-id'];
    await raw(gt.port, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
  });

  it('answers a missing session with 400 and an unknown one with 404', async () => {
    const call = { jsonrpc: '2.0', id: 7, method: 'tools/list' };
    const missing = await raw(gt.port, { headers: { 'MCP-Protocol-Version': PROTOCOL }, body: call });
    assert.equal(missing.status, 400, missing.text);
    const unknown = await raw(gt.port, {
      headers: { 'Mcp-Session-Id': 'no-such-session-0000', 'MCP-Protocol-Version': PROTOCOL },
      body: call,
    });
    assert.equal(unknown.status, 404, unknown.text);
    const getMissing = await raw(gt.port, {
      method: 'GET',
      headers: { Accept: 'text/event-stream' },
      headOnly: true,
    });
    assert.equal(getMissing.status, 400, 'GET without a session');
    const delUnknown = await raw(gt.port, {
      method: 'DELETE',
      headers: { 'Mcp-Session-Id': 'no-such-session-0000' },
    });
    assert.equal(delUnknown.status, 404, 'DELETE of an unknown session');
  });

  it('an SDK v2 client negotiating (auto) gets 2026-07-28, bridged to the 2025-11-25 server, and is governed', async () => {
    // The example server speaks only 2025-11-25: GlassTape answers server/discover for it and
    // holds its session, so a negotiating client speaks 2026-07-28 and is judged the same.
    const { Client: ClientV2, StreamableHTTPClientTransport: HttpV2 } = await import('@modelcontextprotocol/client');
    const client = new ClientV2({ name: 'gt-v2-auto', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await withTimeout(client.connect(new HttpV2(new URL(gt.url))), 20_000, 'v2 auto connect');
    try {
      assert.equal(client.getProtocolEra(), 'modern');
      const ok = await client.callTool({ name: 'echo', arguments: { message: 'v2 fine' } });
      assert.equal(textOf(ok), 'v2 fine');
      const denied = await client.callTool({ name: 'echo', arguments: { message: 'the Forbidden word' } });
      assert.equal(denied.isError, true, JSON.stringify(denied));
      assert.equal(denied._meta?.[DECISION_META_KEY]?.rule_id, 'deny-forbidden-echo', JSON.stringify(denied));
    } finally {
      await client.close().catch(() => {});
    }
  });

  it('checks MCP-Protocol-Version: invalid gets 400, missing means 2025-03-26', async () => {
    const sid = await rawSession(gt.port);
    try {
      const call = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
      const bad = await raw(gt.port, {
        headers: { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '1999-01-01' },
        body: call,
      });
      assert.equal(bad.status, 400, bad.text);
      // The spec's -32022, with the request's id, the versions spoken and the one asked for.
      assert.equal(bad.json?.id, 2, bad.text);
      assert.equal(bad.json?.error?.code, -32022, bad.text);
      assert.deepEqual(bad.json?.error?.data, {
        supported: ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'], requested: '1999-01-01' });
      const missing = await raw(gt.port, { headers: { 'Mcp-Session-Id': sid }, body: call });
      assert.equal(missing.status, 200, missing.text);
      assert.ok(missing.json?.result?.tools, missing.text);
    } finally {
      await raw(gt.port, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
    }
  });

  it('refuses JSON-RPC batches with 400 from MCP-Protocol-Version 2025-06-18 on', async () => {
    const sid = await rawSession(gt.port);
    try {
      const batch = [
        { jsonrpc: '2.0', id: 21, method: 'tools/list' },
        { jsonrpc: '2.0', id: 22, method: 'ping' },
      ];
      for (const version of ['2025-06-18', '2025-11-25']) {
        const r = await raw(gt.port, {
          headers: { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': version },
          body: batch,
        });
        assert.equal(r.status, 400, `${version}: ${r.text}`);
        assert.match(r.json?.error?.message ?? '', /batch/i, r.text);
      }
      // 2025-03-26 (and a missing header, which means it) still has batches.
      for (const headers of [{ 'MCP-Protocol-Version': '2025-03-26' }, {}]) {
        const r = await raw(gt.port, { headers: { 'Mcp-Session-Id': sid, ...headers }, body: batch });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json.map((m) => m.id).sort(), [21, 22], r.text);
      }
    } finally {
      await raw(gt.port, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
    }
  });

  it('answers a failed initialize with the id of the request', async () => {
    const r = await raw(gt.port, {
      headers: { 'Mcp-Session-Id': 'stale-session-id-0000' },
      body: initialize(41),
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json?.id, 41, r.text);
    assert.ok(r.json?.error, r.text);
  });

  it('refuses an oversize body with 413, and bad Accept or Content-Type with 406/415', async () => {
    const sid = await rawSession(gt.port);
    try {
      const headers = { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL };
      const big = {
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: { name: 'echo', arguments: { message: 'x'.repeat(BODY_LIMIT + 1024) } },
      };
      const tooBig = await raw(gt.port, { headers, body: big });
      assert.equal(tooBig.status, 413, `${tooBig.status} ${tooBig.text}`);
      const accept = await raw(gt.port, {
        headers: { ...headers, Accept: 'application/json' },
        body: { jsonrpc: '2.0', id: 10, method: 'tools/list' },
      });
      assert.equal(accept.status, 406, accept.text);
      const ctype = await raw(gt.port, {
        headers: { ...headers, 'Content-Type': 'text/plain' },
        body: { jsonrpc: '2.0', id: 11, method: 'tools/list' },
      });
      assert.equal(ctype.status, 415, ctype.text);
      // The session survived all of that.
      const ok = await raw(gt.port, { headers, body: { jsonrpc: '2.0', id: 12, method: 'ping' } });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.json, { jsonrpc: '2.0', id: 12, result: {} });
    } finally {
      await raw(gt.port, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
    }
  });

  it('answers requests still in flight with an error when the session is deleted', async () => {
    const sid = await rawSession(gt.port);
    const headers = { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL };
    await raw(gt.port, { headers, body: { jsonrpc: '2.0', id: 2, method: 'tools/list' } });
    // No progress token: the answer would come as plain JSON after 5 s.
    const pending = raw(gt.port, {
      headers,
      body: {
        jsonrpc: '2.0',
        id: 4,
        method: 'tools/call',
        params: { name: 'slow', arguments: { ms: 5000, steps: 1 } },
      },
    });
    await sleep(500);
    const t0 = Date.now();
    const del = await raw(gt.port, { method: 'DELETE', headers });
    assert.ok(del.status >= 200 && del.status < 300, `DELETE: ${del.status} ${del.text}`);
    const r = await pending;
    const waited = Date.now() - t0;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json?.id, 4, r.text);
    assert.ok(r.json?.error && !r.json.result, `an error answer, not a result: ${r.text}`);
    assert.ok(waited < 3000, `the call was answered ${waited} ms after DELETE`);
  });

  it('resumes a dropped POST stream on GET with Last-Event-ID', async () => {
    const sid = await rawSession(gt.port);
    const headers = { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL };
    try {
      await raw(gt.port, { headers, body: { jsonrpc: '2.0', id: 2, method: 'tools/list' } });
      const post = await openStream(gt.port, {
        method: 'POST',
        headers,
        body: {
          jsonrpc: '2.0',
          id: 3,
          method: 'tools/call',
          params: {
            name: 'slow',
            arguments: { ms: 1500, steps: 3 },
            _meta: { progressToken: 'resume-1' },
          },
        },
      });
      assert.equal(post.status, 200);
      assert.match(post.headers['content-type'], /^text\/event-stream/);
      await post.until((s) => s.events.length >= 1, 10_000, 'the first progress event');
      post.close();
      const first = post.events[0];
      assert.ok(first.id, `SSE events carry ids: ${JSON.stringify(first)}`);
      assert.equal(JSON.parse(first.data).params.progress, 1, first.data);

      const get = await openStream(gt.port, {
        headers: { ...headers, 'Last-Event-ID': first.id },
      });
      try {
        assert.equal(get.status, 200);
        const answered = (s) => s.events.some((e) => JSON.parse(e.data).id === 3);
        await get.until(answered, 10_000, 'the answer on the GET stream');
        const msgs = get.events.map((e) => JSON.parse(e.data));
        const progress = msgs.filter((m) => m.method === 'notifications/progress');
        assert.deepEqual(progress.map((m) => m.params.progress), [2, 3], JSON.stringify(msgs));
        const answer = msgs.find((m) => m.id === 3);
        assert.equal(answer.result?.isError, undefined, JSON.stringify(answer));
        assert.ok(textOf(answer.result).length > 0, JSON.stringify(answer));
        const ids = [first.id, ...get.events.map((e) => e.id)];
        assert.ok(ids.every(Boolean), `every event has an id: ${JSON.stringify(ids)}`);
        assert.equal(new Set(ids).size, ids.length, `event ids are unique: ${JSON.stringify(ids)}`);
      } finally {
        get.close();
      }
    } finally {
      await raw(gt.port, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
    }
  });

  it('sends keep-alive comments on an idle GET stream', async () => {
    const sid = await rawSession(gt.port);
    const get = await openStream(gt.port, {
      headers: { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL },
    });
    try {
      assert.equal(get.status, 200);
      // keepalive_s is 1 in this config.
      await get.until((s) => s.comments.length >= 1, 5000, 'a keep-alive comment');
      assert.equal(get.events.length, 0, 'nothing but comments on an idle stream');
    } finally {
      get.close();
      await raw(gt.port, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
    }
  });

  it('delivers an answer larger than the per-client write queue (9 MiB)', async () => {
    const c = await sdkClient(gt.url);
    try {
      const message = 'y'.repeat(9 * 1024 * 1024);
      const r = await c.client.callTool({ name: 'echo', arguments: { message } });
      assert.equal(r.isError, undefined, JSON.stringify(r).slice(0, 500));
      const text = textOf(r);
      assert.equal(text.length, message.length);
      assert.ok(text === message, 'the echo came back intact');
    } finally {
      await closeClient(c);
    }
  });

  it('lets a fast session through while another waits on a slow call', async () => {
    const a = await sdkClient(gt.url);
    const b = await sdkClient(gt.url);
    try {
      let slowDone = false;
      const slow = a.client
        .callTool({ name: 'slow', arguments: { ms: 3000, steps: 1 } })
        .then((r) => {
          slowDone = true;
          return r;
        });
      await sleep(200);
      const r = await b.client.callTool({ name: 'echo', arguments: { message: 'quick' } });
      assert.equal(textOf(r), 'quick');
      assert.equal(slowDone, false, 'the quick call in another session finished first');
      assert.equal((await slow).isError, undefined);
    } finally {
      await Promise.all([closeClient(a), closeClient(b)]);
    }
  });

  it('turns a crashed server into JSON-RPC errors for that session only', async () => {
    const a = await sdkClient(gt.url);
    const b = await sdkClient(gt.url);
    try {
      await assert.rejects(
        withTimeout(a.client.callTool({ name: 'crash', arguments: {} }), 10_000, 'crash'),
        (e) => e.code === -32001,
      );
      // The session's server is gone (restart max 0): later calls fail fast.
      await assert.rejects(
        withTimeout(a.client.callTool({ name: 'echo', arguments: { message: 'x' } }), 5000, 'echo'),
        (e) => e.code === -32001,
      );
      const r = await b.client.callTool({ name: 'echo', arguments: { message: 'unharmed' } });
      assert.equal(textOf(r), 'unharmed');
    } finally {
      await Promise.all([closeClient(a), closeClient(b)]);
    }
  });

  it('allows one GET stream per session (409 for a second)', async () => {
    const sid = await rawSession(gt.port);
    const headers = {
      'Mcp-Session-Id': sid,
      'MCP-Protocol-Version': PROTOCOL,
      Accept: 'text/event-stream',
    };
    // Keep the first stream open while asking for a second one.
    const first = await new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: gt.port, method: 'GET', path: '/mcp', headers: { Host: `127.0.0.1:${gt.port}`, ...headers }, agent: false },
        (res) => resolve({ res, req }),
      );
      req.on('error', reject);
      req.end();
    });
    try {
      assert.equal(first.res.statusCode, 200);
      assert.match(first.res.headers['content-type'], /^text\/event-stream/);
      const second = await raw(gt.port, { method: 'GET', headers, headOnly: true });
      assert.equal(second.status, 409);
    } finally {
      first.req.destroy();
      await raw(gt.port, { method: 'DELETE', headers: { 'Mcp-Session-Id': sid } });
    }
  });
});

describe('glasstape serve with two servers (one endpoint each)', { timeout: 90_000, skip }, () => {
  let gt;
  before(async () => {
    gt = await startServe({
      servers: {
        one: { command: [EXAMPLE, '--name', 'one'], restart: { max: 0 } },
        two: { command: [EXAMPLE, '--name', 'two'], restart: { max: 0 } },
      },
      http: { replay_events: 4 },
    });
  });
  after(async () => {
    if (gt) await gt.stop();
  });

  it('binds a session id to the endpoint that created it', async () => {
    const sid = await rawSession(gt.port, '/mcp/one');
    const headers = { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL };
    const call = { jsonrpc: '2.0', id: 5, method: 'tools/list' };
    try {
      const other = await raw(gt.port, { path: '/mcp/two', headers, body: call });
      assert.equal(other.status, 404, `another endpoint must not know the session: ${other.text}`);
      const del = await raw(gt.port, { path: '/mcp/two', method: 'DELETE', headers });
      assert.equal(del.status, 404, del.text);
      const get = await raw(gt.port, {
        path: '/mcp/two',
        method: 'GET',
        headers: { ...headers, Accept: 'text/event-stream' },
        headOnly: true,
      });
      assert.equal(get.status, 404, 'GET on another endpoint');
      const own = await raw(gt.port, { path: '/mcp/one', headers, body: call });
      assert.equal(own.status, 200, own.text);
      assert.ok(own.json?.result?.tools, own.text);
    } finally {
      await raw(gt.port, { path: '/mcp/one', method: 'DELETE', headers });
    }
  });

  it('replays only the stream a Last-Event-ID belongs to, even after it aged out', async () => {
    const p = '/mcp/one';
    const sid = await rawSession(gt.port, p);
    const headers = { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL };
    // Two POSTs answered as SSE streams (3 progress events and the answer each); the
    // buffer holds 4 events, so the first stream's events are gone by the end.
    const slowCall = async (id) => {
      const s = await openStream(gt.port, {
        path: p,
        method: 'POST',
        headers,
        body: {
          jsonrpc: '2.0',
          id,
          method: 'tools/call',
          params: { name: 'slow', arguments: { ms: 150, steps: 3 }, _meta: { progressToken: `t${id}` } },
        },
      });
      assert.equal(s.status, 200);
      await s.until((x) => x.ended, 10_000, `the end of stream ${id}`);
      assert.equal(s.events.length, 4, JSON.stringify(s.events));
      return s.events;
    };
    try {
      const first = await slowCall(11);
      const second = await slowCall(12);
      const get = await openStream(gt.port, {
        path: p,
        headers: { ...headers, 'Last-Event-ID': first[0].id },
      });
      try {
        assert.equal(get.status, 200);
        await sleep(600);
        const ids = get.events.map((e) => JSON.parse(e.data).id ?? JSON.parse(e.data).params?.progressToken);
        assert.deepEqual(ids, [], `nothing of the other stream (${second.map((e) => e.id)}) may be replayed`);
      } finally {
        get.close();
      }
    } finally {
      await raw(gt.port, { path: p, method: 'DELETE', headers });
    }
  });
});
