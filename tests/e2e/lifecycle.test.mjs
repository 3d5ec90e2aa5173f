// Child lifecycle through glasstape: a server killed mid-call, restart with the client's
// initialize replayed, and shutdown leaving no process behind.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { McpError } from '@modelcontextprotocol/sdk/types.js';

import {
  EVERYTHING,
  EVERYTHING_ENTRY,
  NODE,
  RAW_SERVER,
  commandFor,
  connect,
  descendants,
  findServerPid,
  isAlive,
  killQuietly,
  modes,
  processGroup,
  signal,
  textOf,
  waitUntil,
  withTimeout,
  writeConfig,
} from './lib/harness.mjs';
import { RawPeer } from './lib/raw.mjs';

const T = { timeout: 40_000 };
// The bound for failing pending requests after a crash, plus what it takes a busy
// 2-core machine to schedule the client's reaction.
const CRASH_ERROR_MS = 100;
const SCHEDULING_SLACK_MS = 150;

for (const mode of modes()) {
  describe(`lifecycle (${mode})`, () => {
    test('a server killed mid-call: the client gets an error, the next call works after restart', T, async (t) => {
      // The config form, with restart settings; the server is the config's only server.
      const config = writeConfig({
        servers: { everything: { command: EVERYTHING, restart: { max: 3, backoff_ms: 100 } } },
      });
      const s = await connect(mode, mode === 'direct' ? EVERYTHING : [], {
        config,
        handlers: {
          sampling: async () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: 'after restart' } }),
        },
      });
      t.after(() => s.close());
      const serverPid = mode === 'direct' ? s.pid : findServerPid(s.pid, EVERYTHING_ENTRY);
      assert.ok(serverPid, `no server process under glasstape (pid ${s.pid}): ${JSON.stringify(descendants(s.pid))}`);
      assert.equal(textOf(await s.client.callTool({ name: 'echo', arguments: { message: 'before' } })), 'Echo: before');

      const firstProgress = signal();
      const call = s.client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 20, steps: 40 } },
        undefined,
        { onprogress: (p) => firstProgress.fire(p), timeout: 30_000 },
      ).then((r) => ({ ok: r, at: Date.now() }), (e) => ({ err: e, at: Date.now() }));
      await withTimeout(firstProgress.promise, 10_000, 'the call to be in flight (first progress)');
      const killedAt = Date.now();
      process.kill(serverPid, 'SIGKILL');
      const outcome = await withTimeout(call, 5_000, 'the in-flight call to fail after the kill');
      const latency = outcome.at - killedAt;
      t.diagnostic(`in-flight call failed ${latency} ms after SIGKILL`);
      assert.ok(outcome.err, `the call must fail, got ${JSON.stringify(outcome.ok)}`);
      assert.ok(outcome.err instanceof McpError, `a JSON-RPC error, got ${outcome.err}`);
      assert.ok(latency <= CRASH_ERROR_MS + SCHEDULING_SLACK_MS, `error after ${latency} ms`);
      await waitUntil(() => !isAlive(serverPid), 5_000, 'the killed server to be reaped');

      if (mode === 'direct') {
        // Nothing restarts a bare server: the session is over.
        await assert.rejects(s.client.callTool({ name: 'echo', arguments: { message: 'x' } }));
        return;
      }
      // Through glasstape, the next call works: it waits for the restart, whose
      // initialize (with the client's capabilities) was replayed.
      const r = await s.client.callTool({ name: 'echo', arguments: { message: 'after' } }, undefined, { timeout: 15_000 });
      assert.equal(textOf(r), 'Echo: after');
      const newPid = findServerPid(s.pid, EVERYTHING_ENTRY);
      assert.ok(newPid && newPid !== serverPid, `a new server process (old ${serverPid}, new ${newPid})`);
      // The replayed initialize carried the sampling capability and was followed by
      // notifications/initialized: the server registered its conditional tools again.
      const sampled = await s.waitForTools(['trigger-sampling-request'])
        .then(() => s.client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'p' } }));
      assert.match(textOf(sampled), /after restart/);
      assert.ok(isAlive(s.pid), 'glasstape is still running');
    });

    // With sampling/elicitation/roots declared, server-everything keeps timers alive and
    // does not exit when its stdin closes: the stop then needs signals.
    for (const [what, capabilities] of [['a server that exits on EOF', {}], ['a server that lingers', undefined]]) {
    test(`closing the client ends glasstape and the server, leaving no process behind (${what})`, T, async (t) => {
      const s = await connect(mode, EVERYTHING, { capabilities });
      t.after(() => s.close());
      assert.equal(textOf(await s.client.callTool({ name: 'echo', arguments: { message: 'bye' } })), 'Echo: bye');
      const tree = [s.pid, ...descendants(s.pid).map((r) => r.pid)];
      const serverPid = mode === 'direct' ? s.pid : findServerPid(s.pid, EVERYTHING_ENTRY);
      assert.ok(serverPid, 'the server process was found');
      const groups = new Set(tree.flatMap((pid) => processGroup(pid).length ? [pid] : []));
      const closedAt = Date.now();
      await s.client.close();
      // StdioClientTransport.close ends stdin, waits up to 2 s, then SIGTERMs glasstape: all
      // of the tree must be gone by then.
      await waitUntil(() => tree.every((pid) => !isAlive(pid)), 10_000,
        `every process of ${JSON.stringify(tree)} to exit`);
      t.diagnostic(`tree ${JSON.stringify(tree)} gone ${Date.now() - closedAt} ms after close`);
      for (const g of groups) assert.deepEqual(processGroup(g), [], `process group ${g} is empty`);
    });
    }

    if (mode !== 'proxy') return;

    test('a crash fails every pending request at once; restart replays initialize', T, async (t) => {
      const config = writeConfig({
        servers: { raw: { command: [NODE, RAW_SERVER], restart: { max: 2, backoff_ms: 50 } } },
      });
      const { command, args } = commandFor(mode, [], { config });
      const p = new RawPeer(command, args);
      t.after(() => p.close());
      const initLine = JSON.stringify({
        jsonrpc: '2.0', id: 'init-1', method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: { sampling: {} }, clientInfo: { name: 'raw', version: '1' } },
      });
      p.send(initLine);
      await p.response('init-1');
      p.sendJson({ jsonrpc: '2.0', method: 'notifications/initialized' });
      const { result: first } = await p.request(1, 'raw/pid');

      p.sendJson({ jsonrpc: '2.0', id: 2, method: 'raw/hang' });
      p.sendJson({ jsonrpc: '2.0', id: 'three', method: 'raw/hang' });
      await p.waitReflected((r) => r.includes('"three"'), 5_000, 'the pending requests');
      const sentAt = Date.now();
      p.sendJson({ jsonrpc: '2.0', id: 4, method: 'raw/exit', params: { code: 7 } });
      const errs = await Promise.all([2, 'three', 4].map((id) => p.response(id, 5_000)));
      const arrivals = errs.map((e) => p.lines.find((l) => l.msg?.id === e.id && l.msg.error)?.at ?? Infinity);
      const latency = Math.max(...arrivals) - sentAt;
      t.diagnostic(`pending requests failed ${latency} ms after the crash request was sent`);
      for (const e of errs) {
        assert.ok(e.error, `pending request ${JSON.stringify(e.id)} must get an error: ${JSON.stringify(e)}`);
        assert.equal(typeof e.error.code, 'number');
        assert.equal(typeof e.error.message, 'string');
      }
      assert.ok(latency <= CRASH_ERROR_MS + SCHEDULING_SLACK_MS, `errors took ${latency} ms`);
      await waitUntil(() => !isAlive(first.pid), 5_000, 'the crashed server to be reaped');

      // After the restart: the server got the client's initialize again and then
      // notifications/initialized; the client did not see a second initialize response.
      const { result: second } = await p.request(5, 'raw/pid', undefined, 15_000);
      assert.notEqual(second.pid, first.pid);
      const seen = p.reflected().map((r) => JSON.parse(r));
      const inits = seen.filter((m) => m.method === 'initialize');
      assert.equal(inits.length, 2, 'initialize was replayed once');
      assert.deepEqual(inits[1].params, JSON.parse(initLine).params);
      const afterReplay = seen.slice(seen.indexOf(inits[1]));
      const initialized = afterReplay.findIndex((m) => m.method === 'notifications/initialized');
      const pid5 = afterReplay.findIndex((m) => m.id === 5);
      assert.ok(initialized > 0 && initialized < pid5, 'notifications/initialized follows the replayed initialize');
      assert.equal(p.messages().filter((m) => m.result?.serverInfo).length, 1, 'the client got one initialize response');
      assert.match(p.stderrText, /server `raw`.*(exit|crash|status|signal|closed)/i, 'the crash is logged');
    });

    test('when restarts are exhausted, requests fail at once instead of hanging', T, async (t) => {
      const config = writeConfig({
        servers: { raw: { command: [NODE, RAW_SERVER], restart: { max: 0 } } },
      });
      const { command, args } = commandFor(mode, [], { config });
      const p = new RawPeer(command, args);
      t.after(() => p.close());
      await p.initialize();
      p.sendJson({ jsonrpc: '2.0', id: 1, method: 'raw/exit' });
      const e1 = await p.response(1, 5_000);
      assert.ok(e1.error, JSON.stringify(e1));
      // Either glasstape exits (its server is gone for good) or it answers with an error.
      const next = await Promise.race([
        p.exited.then((x) => ({ exited: x })),
        p.request(2, 'ping', undefined, 5_000).then((r) => ({ response: r })),
      ]);
      if (next.response) assert.ok(next.response.error, `ping with no server: ${JSON.stringify(next.response)}`);
      else assert.notEqual(next.exited.code, 0, 'glasstape exits non-zero when its server is gone');
    });

    test('SIGTERM to glasstape stops it and its whole server process group', T, async (t) => {
      const config = writeConfig({ shutdown_grace_ms: 300 });
      const { command, args } = commandFor(mode, [NODE, RAW_SERVER, '--stubborn', '--grandchild'], { config });
      const p = new RawPeer(command, args);
      t.after(() => p.close());
      await p.initialize();
      const { result } = await p.request(1, 'raw/pid');
      const pids = [p.pid, result.pid, result.grandchild];
      t.after(() => pids.forEach((pid) => killQuietly(pid)));
      const at = Date.now();
      process.kill(p.pid, 'SIGTERM');
      const exit = await withTimeout(p.exited, 10_000, 'glasstape to exit after SIGTERM');
      t.diagnostic(`glasstape exited ${exit.at - at} ms after SIGTERM (code ${exit.code}, signal ${exit.signal})`);
      await waitUntil(() => pids.every((pid) => !isAlive(pid)), 2_000, `processes ${pids} to be gone`);
      assert.deepEqual(processGroup(result.pid), [], 'nothing is left in the server process group');
      assert.ok(exit.at - at < 5_000);
    });

    test('shutdown kills the whole process group, even a child that ignores SIGTERM', T, async (t) => {
      const config = writeConfig({ shutdown_grace_ms: 300 });
      const { command, args } = commandFor(mode, [NODE, RAW_SERVER, '--stubborn', '--grandchild'], { config });
      const p = new RawPeer(command, args);
      t.after(() => p.close());
      await p.initialize();
      const { result } = await p.request(1, 'raw/pid');
      assert.ok(result.grandchild, 'the fixture started its grandchild');
      const pids = [p.pid, result.pid, result.grandchild];
      const pgid = result.pid;
      assert.ok(processGroup(pgid).some((r) => r.pid === result.pid),
        `the server leads its own process group: ${JSON.stringify(descendants(p.pid))}`);
      assert.ok(processGroup(pgid).some((r) => r.pid === result.grandchild), 'the grandchild shares it');
      t.after(() => pids.forEach((pid) => killQuietly(pid)));

      const closedAt = Date.now();
      p.proc.stdin.end();
      const exit = await withTimeout(p.exited, 10_000, 'glasstape to exit after stdin closed');
      const took = exit.at - closedAt;
      t.diagnostic(`glasstape exited ${took} ms after stdin closed (code ${exit.code}, signal ${exit.signal})`);
      assert.equal(exit.signal, null, 'glasstape exits on its own');
      assert.equal(exit.code, 0);
      await waitUntil(() => pids.every((pid) => !isAlive(pid)), 2_000, `processes ${pids} to be gone`);
      assert.deepEqual(processGroup(pgid), [], 'nothing is left in the server process group');
      assert.match(p.stderrText, /raw_server: stdin closed, staying up/, 'the child stderr was logged');
      assert.match(p.stderrText, /raw_server: ignoring SIGTERM/, 'glasstape sent SIGTERM before SIGKILL');
      assert.ok(took >= 300, `glasstape waited the grace period (${took} ms)`);
      assert.ok(took < 5_000, `glasstape took ${took} ms to shut down`);
    });
  });
}
