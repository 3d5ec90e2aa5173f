// `sharing: shared` behind the HTTP front: one example-server process for every session.
// Ids, progress tokens and cancellations are rewritten on the shared link, so 50 sessions
// that all use the same JSON-RPC ids each get exactly their own answers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  REPO_ROOT,
  cmdline,
  descendants,
  killQuietly,
  requireBinary,
  tmpDir,
  waitUntil,
} from './lib/harness.mjs';

const EXAMPLE =
  process.env.GT_EXAMPLE_SERVER || path.join(REPO_ROOT, 'build', 'tests', 'glasstape-example-server');
const PROTOCOL = '2025-11-25';
const SESSIONS = 50;
const CALLS = 5;

const POLICY = `
policy_id: shared.e2e
version: "1"
description: What the shared-server tests may call.
tools: [echo, slow]
rules:
  allow:
    - id: allow-all-listed
      condition: "true"
      reason: test tools
`;

async function startServe() {
  const bin = requireBinary();
  const dir = tmpDir('gt-e2e-shared-');
  fs.mkdirSync(path.join(dir, 'policies'));
  fs.writeFileSync(path.join(dir, 'policies', 'shared.yaml'), POLICY);
  const config = {
    servers: { example: { command: [EXAMPLE], sharing: 'shared' } },
    identity: { agent_id: 'shared-e2e' },
    http: { listen: '127.0.0.1:0', max_sessions: 200 },
    governance: {
      policies: { dir: path.join(dir, 'policies'), state_dir: path.join(dir, 'state') },
      audit: { dir: path.join(dir, 'audit'), keys_dir: path.join(dir, 'keys'), fsync: 'off' },
    },
  };
  const file = path.join(dir, 'glasstape.yaml');
  fs.writeFileSync(file, JSON.stringify(config));
  const proc = spawn(bin, ['serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => (log += d.toString()));
  proc.stdout.on('data', (d) => (log += d.toString()));
  const exited = new Promise((r) => proc.on('exit', (code, sig) => r({ code, sig })));
  let url;
  await waitUntil(() => {
    url = /serving MCP at (http:\/\/\S+\/mcp)/.exec(log)?.[1];
    if (proc.exitCode !== null) throw new Error(`glasstape serve exited early:\n${log}`);
    return !!url;
  }, 20_000, 'glasstape serve to listen');
  return {
    url,
    dir,
    log: () => log,
    servers: () => descendants(proc.pid).filter((r) => cmdline(r.pid)[0] === EXAMPLE),
    async stop() {
      proc.kill('SIGTERM');
      const r = await Promise.race([exited, new Promise((res) => setTimeout(res, 8000))]);
      if (!r) killQuietly(proc.pid);
      assert.deepEqual(r, { code: 0, sig: null }, `glasstape serve exit; log:\n${log.slice(-4000)}`);
    },
  };
}

// The JSON-RPC messages of a response: a JSON body, or the data of each SSE event.
async function messages(res) {
  const text = await res.text();
  if ((res.headers.get('content-type') || '').startsWith('text/event-stream')) {
    return text
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => JSON.parse(l.slice(5)));
  }
  return text ? [JSON.parse(text)] : [];
}

class HttpClient {
  constructor(url) {
    this.url = url;
    this.sid = undefined;
  }
  async post(body) {
    const headers = {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'MCP-Protocol-Version': PROTOCOL,
    };
    if (this.sid) headers['Mcp-Session-Id'] = this.sid;
    const res = await fetch(this.url, { method: 'POST', headers, body: JSON.stringify(body) });
    if (!this.sid) this.sid = res.headers.get('mcp-session-id') || undefined;
    return { status: res.status, messages: await messages(res) };
  }
  async initialize(name) {
    const r = await this.post({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name, version: '1' } },
    });
    assert.equal(r.status, 200);
    assert.ok(this.sid, 'no Mcp-Session-Id');
    const n = await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    assert.equal(n.status, 202);
    return r.messages[0];
  }
  async delete() {
    const res = await fetch(this.url, { method: 'DELETE', headers: { 'Mcp-Session-Id': this.sid } });
    return res.status;
  }
}

describe('sharing: shared (HTTP front)', () => {
  let gt;
  before(async () => {
    gt = await startServe();
  });
  after(async () => {
    await gt?.stop();
  });

  test(`${SESSIONS} concurrent sessions with overlapping ids each get their own answers`, { timeout: 60_000 }, async () => {
    const clients = Array.from({ length: SESSIONS }, () => new HttpClient(gt.url));
    const inits = await Promise.all(clients.map((c, i) => c.initialize(`client-${i}`)));
    for (const init of inits) {
      assert.equal(init.id, 1);
      assert.equal(init.result.serverInfo.name, inits[0].result.serverInfo.name);
    }
    assert.equal(new Set(clients.map((c) => c.sid)).size, SESSIONS, 'session ids must differ');
    assert.equal(gt.servers().length, 1, 'one server process for all sessions');
    // Every session uses ids 2..CALLS+1, all at once.
    const calls = [];
    for (const [i, c] of clients.entries()) {
      for (let k = 0; k < CALLS; k++) {
        const id = k + 2;
        const message = `session ${i} call ${id}`;
        calls.push(
          c.post({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { message } } })
            .then((r) => ({ r, id, message })),
        );
      }
    }
    for (const { r, id, message } of await Promise.all(calls)) {
      assert.equal(r.status, 200);
      assert.equal(r.messages.length, 1, JSON.stringify(r.messages));
      const [m] = r.messages;
      assert.equal(m.id, id);
      assert.equal(m.result?.content?.[0]?.text, message, JSON.stringify(m));
    }
    assert.equal(gt.servers().length, 1);
    await Promise.all(clients.map(async (c) => assert.equal(await c.delete(), 200)));
  });

  test('progress goes to the session whose call asked for it, even with the same token', { timeout: 30_000 }, async () => {
    const a = new HttpClient(gt.url);
    const b = new HttpClient(gt.url);
    await a.initialize('a');
    await b.initialize('b');
    const call = (c, tag) =>
      c.post({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'slow', arguments: { ms: 200, steps: 4 }, _meta: { progressToken: 'tok' } },
      }).then((r) => ({ r, tag }));
    const [ra, rb] = await Promise.all([call(a, 'a'), call(b, 'b')]);
    for (const { r } of [ra, rb]) {
      const progress = r.messages.filter((m) => m.method === 'notifications/progress');
      const answer = r.messages.filter((m) => m.id === 7);
      assert.equal(progress.length, 4, JSON.stringify(r.messages));
      for (const p of progress) assert.equal(p.params.progressToken, 'tok');
      assert.deepEqual(progress.map((p) => p.params.progress), [1, 2, 3, 4]);
      assert.equal(answer.length, 1);
      assert.equal(answer[0].result.content[0].text, 'waited 200 ms');
    }
    // Ending one session leaves the shared server running for the other.
    assert.equal(await a.delete(), 200);
    const after = await b.post({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'echo', arguments: { message: 'still here' } } });
    assert.equal(after.messages[0].result.content[0].text, 'still here');
    assert.equal(gt.servers().length, 1);
    assert.equal(await b.delete(), 200);
  });

  test('a session that ends has its calls cancelled on the shared server; others go on', { timeout: 30_000 }, async () => {
    const a = new HttpClient(gt.url);
    const b = new HttpClient(gt.url);
    await a.initialize('a');
    await b.initialize('b');
    // a starts a slow call and leaves before the answer; b's call must still be answered.
    const slow = a.post({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow', arguments: { ms: 300, steps: 1 } } })
      .catch((e) => e);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await a.delete(), 200);
    const rb = await b.post({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { message: 'b' } } });
    assert.equal(rb.messages.length, 1);
    assert.equal(rb.messages[0].id, 1);
    assert.equal(rb.messages[0].result.content[0].text, 'b');
    const ra = await slow;
    // a's POST was answered with an error when its session ended, never with b's answer.
    if (!(ra instanceof Error)) {
      for (const m of ra.messages) assert.notEqual(m.result?.content?.[0]?.text, 'b');
    }
    assert.equal(await b.delete(), 200);
  });
});
