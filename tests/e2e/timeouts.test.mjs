// Request timeouts through `glasstape run`: a server that does not answer in time gives the
// client a JSON-RPC error (and the server a notifications/cancelled), progress notifications
// restart the clock up to a hard maximum, and a late answer never reaches the client.
// Proxy mode only: talking to the server directly has no timeout to test.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';

import { McpError } from '@modelcontextprotocol/sdk/types.js';

import { REPO_ROOT, connect, textOf, writeConfig } from './lib/harness.mjs';

const EXAMPLE =
  process.env.GT_EXAMPLE_SERVER || path.join(REPO_ROOT, 'build', 'tests', 'glasstape-example-server');
const T = { timeout: 30_000 };
const TIMEOUT_MS = 400;
const MAX_TIMEOUT_MS = 1500;
// What a busy 2-core machine may add before the client sees the error.
const SLACK_MS = 600;

function config() {
  return writeConfig({
    servers: {
      example: { command: [EXAMPLE], timeout_ms: TIMEOUT_MS, max_timeout_ms: MAX_TIMEOUT_MS },
    },
  });
}

async function timed(promise) {
  const start = Date.now();
  try {
    return { ok: await promise, ms: Date.now() - start };
  } catch (err) {
    return { err, ms: Date.now() - start };
  }
}

describe('request timeouts (proxy)', () => {
  test('a call the server does not answer in time gets -32002; the late answer is dropped', T, async (t) => {
    const s = await connect('proxy', [], { config: config() });
    t.after(() => s.close());
    // One step, no progress: the server is silent for 2 s.
    const r = await timed(s.client.callTool({ name: 'slow', arguments: { ms: 2000, steps: 1 } }, undefined, { timeout: 10_000 }));
    assert.ok(r.err instanceof McpError, `expected a JSON-RPC error, got ${JSON.stringify(r.ok)}`);
    assert.equal(r.err.code, -32002);
    assert.match(r.err.message, /did not answer `tools\/call` within 400 ms/);
    assert.ok(r.ms >= TIMEOUT_MS - 50, `answered after ${r.ms} ms, before the timeout`);
    assert.ok(r.ms < TIMEOUT_MS + SLACK_MS, `answered after ${r.ms} ms`);
    // The (single-threaded) server is still busy with the slow call; once it is done, it
    // answers the next one. The late answer to the slow call must not reach the client as
    // a second response for the same id.
    await new Promise((res) => setTimeout(res, 2000 - r.ms + 200));
    const next = await s.client.callTool({ name: 'echo', arguments: { message: 'after' } });
    assert.equal(textOf(next), 'after');
    const answers = s.serverMessages.filter((m) => 'result' in m || 'error' in m);
    assert.equal(answers.length, 2, `answers: ${JSON.stringify(answers)}`);
    assert.equal(answers[0].error?.code, -32002);
    assert.equal(answers[1].result?.content?.[0]?.text, 'after');
    assert.match(s.stderr(), /did not answer `tools\/call` within 400 ms/);
  });

  test('progress restarts the clock: a long call that keeps reporting completes', T, async (t) => {
    const s = await connect('proxy', [], { config: config() });
    t.after(() => s.close());
    let progress = 0;
    // 1.2 s in all (3× the timeout), a progress notification every 150 ms.
    const r = await timed(
      s.client.callTool({ name: 'slow', arguments: { ms: 1200, steps: 8 } }, undefined, {
        onprogress: () => (progress += 1),
        timeout: 10_000,
      }),
    );
    assert.ok(r.ok, `the call failed: ${r.err}`);
    assert.equal(textOf(r.ok), 'waited 1200 ms', JSON.stringify(r.ok));
    // Counted on the wire: the SDK runs notification handlers a microtask late, so the last
    // onprogress can lose the race with the response that follows it in the same read.
    const wire = s.serverMessages.filter((m) => m.method === 'notifications/progress');
    assert.equal(wire.length, 8, `progress on the wire: ${JSON.stringify(wire)}`);
    assert.ok(progress >= 7, `onprogress calls: ${progress}`);
  });

  test('progress never extends a call beyond max_timeout_ms', T, async (t) => {
    const s = await connect('proxy', [], { config: config() });
    t.after(() => s.close());
    const r = await timed(
      s.client.callTool({ name: 'slow', arguments: { ms: 4000, steps: 40 } }, undefined, {
        onprogress: () => {},
        resetTimeoutOnProgress: true,
        timeout: 10_000,
      }),
    );
    assert.ok(r.err instanceof McpError, `expected a JSON-RPC error, got ${JSON.stringify(r.ok)}`);
    assert.equal(r.err.code, -32002);
    assert.match(r.err.message, /within 1500 ms \(the limit even with progress\)/);
    assert.ok(r.ms >= MAX_TIMEOUT_MS - 50 && r.ms < MAX_TIMEOUT_MS + SLACK_MS, `after ${r.ms} ms`);
  });
});
