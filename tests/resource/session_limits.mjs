// Resource test for the session layer of `glasstape serve` (issue 14): a batch of the largest
// allowed size costs CPU linear in its length and is answered whole, a longer one is refused,
// idle sessions cannot lock new clients out at http.max_sessions, and neither a client sending
// garbage nor a server writing to stderr without end can fill the operator's log. Bounds are on
// work (CPU seconds of the proxy, answers counted, log bytes), not on wall time. One line of
// figures per class.
//
//   node tests/resource/session_limits.mjs --glasstape build/proxy/glasstape \
//        --server build/tests/glasstape-example-server [--report] [--old]
//
// --report prints the figures without failing; --old leaves out settings an older build does
// not know (for before/after figures with the same script).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const BIN = path.resolve(opt('glasstape', 'build/proxy/glasstape'));
const SERVER = path.resolve(opt('server', 'build/tests/glasstape-example-server'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const REPORT = args.includes('--report');
const OLD = args.includes('--old');

let failures = 0;
function check(ok, what) {
  if (!ok && REPORT) {
    console.log(`  over the bound: ${what}`);
  } else if (!ok) {
    failures++;
    console.log(`  FAIL: ${what}`);
  }
  return ok;
}

function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function startProxy(name, http = {}, extra = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gt-res-${name}-`));
  const logFile = path.join(dir, 'glasstape.log');
  const config = {
    servers: { example: { command: [SERVER], restart: { max: 0 } } },
    http: { listen: '127.0.0.1:0', path: '/mcp', ...http },
    governance: { passthrough: true },
    ...extra,
  };
  const file = path.join(dir, 'glasstape.yaml');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  const out = fs.openSync(logFile, 'w');
  const proc = spawn(BIN, ['serve', '--config', file], { stdio: ['ignore', out, out], env: { ...process.env, HOME: dir } });
  fs.closeSync(out);
  for (let i = 0; i < 400; i++) {
    const m = /serving MCP at http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(fs.readFileSync(logFile, 'utf8'));
    if (m) {
      return {
        url: `http://127.0.0.1:${m[1]}/mcp`,
        pid: proc.pid,
        stop: async () => {
          proc.kill('SIGKILL');
          await new Promise((r) => (proc.exitCode !== null ? r() : proc.on('exit', r)));
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    if (proc.exitCode !== null) break;
    await sleep(25);
  }
  proc.kill('SIGKILL');
  throw new Error(`glasstape serve did not start:\n${fs.readFileSync(logFile, 'utf8')}`);
}

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function post(url, body, headers = {}) {
  const r = await fetch(url, { method: 'POST', headers: { ...HEADERS, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, session: r.headers.get('mcp-session-id'), text: await r.text() };
}

async function initialize(url, protocolVersion = '2025-03-26') {
  const r = await post(url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: { name: 'res', version: '1' } } });
  if (r.status !== 200 || !r.session) throw new Error(`initialize: ${r.status} ${r.text}`);
  await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': r.session });
  return r.session;
}

// A batch of n pings costs the proxy time linear in n: the largest allowed batch (1024) and a
// quarter of it are compared by CPU seconds per message, and every ping is answered.
async function batches() {
  const p = await startProxy('batch');
  try {
    const sid = await initialize(p.url);
    const run = async (n, base) => {
      const batch = Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', id: base + i, method: 'ping' }));
      const before = cpuSeconds(p.pid);
      const r = await post(p.url, batch, { 'mcp-session-id': sid });
      const cpu = cpuSeconds(p.pid) - before;
      let answers = 0;
      try {
        answers = JSON.parse(r.text).length;
      } catch {}
      return { status: r.status, answers, cpu };
    };
    await run(64, 100000);  // warm up
    // Several rounds each, summed: CPU tick granularity is 10 ms.
    let small = 0;
    let large = 0;
    for (let round = 0; round < 4; round++) {
      const s = await run(256, 200000 + round * 10000);
      const l = await run(1024, 300000 + round * 10000);
      check(s.status === 200 && s.answers === 256, `a batch of 256 pings: status ${s.status}, ${s.answers} answers`);
      check(l.status === 200 && l.answers === 1024, `a batch of 1024 pings: status ${l.status}, ${l.answers} answers`);
      small += s.cpu;
      large += l.cpu;
    }
    const over = await post(p.url, Array.from({ length: 1025 }, (_, i) => ({ jsonrpc: '2.0', id: 900000 + i, method: 'ping' })), { 'mcp-session-id': sid });
    check(over.status === 400 && /max_batch_messages/.test(over.text), `a batch of 1025: ${over.status} ${over.text.slice(0, 200)}`);
    // Linear: 4x the messages may cost at most 4x the CPU plus slack for tick granularity
    // (a quadratic cost would be 16x).
    check(large <= 4 * small * 2 + 0.08, `1024-ping batches cost ${large.toFixed(2)} s of CPU, 256-ping ones ${small.toFixed(2)} s`);
    check(large < 2.0, `four 1024-ping batches cost ${large.toFixed(2)} CPU seconds`);
    console.log(`batches: 4 x 1024 pings ${large.toFixed(2)} CPU s, 4 x 256 pings ${small.toFixed(2)} CPU s; 1025 refused with ${over.status}`);
  } finally {
    await p.stop();
  }
}

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

// Figures only (--report): the worst case of issue 14's class 4, one batch of 20,000 pings
// (the limit raised to let it through), in CPU seconds, RSS growth and the time another
// session waits for a ping sent meanwhile.
async function bigBatch() {
  const n = 20000;
  const p = await startProxy('bigbatch', {}, OLD ? {} : { max_batch_messages: n });
  try {
    const sid = await initialize(p.url);
    const other = await initialize(p.url);
    const rss0 = rssMiB(p.pid);
    const cpu0 = cpuSeconds(p.pid);
    const batch = Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', id: 1000 + i, method: 'ping' }));
    const t0 = Date.now();
    const big = post(p.url, batch, { 'mcp-session-id': sid });
    await sleep(50);
    const t1 = Date.now();
    await post(p.url, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': other });
    const otherMs = Date.now() - t1;
    const r = await big;
    let answers = 0;
    try {
      answers = JSON.parse(r.text).length;
    } catch {}
    console.log(`big batch: ${n} pings, status ${r.status}, ${answers} answers, ${(cpuSeconds(p.pid) - cpu0).toFixed(2)} CPU s, ` +
      `${Date.now() - t0} ms, RSS +${(rssMiB(p.pid) - rss0).toFixed(1)} MiB; another session's ping waited ${otherMs} ms`);
  } finally {
    await p.stop();
  }
}

// An upstream that sends large notifications (class 2): 40 sessions in turn each receive 8
// notifications of 512 KiB on a call's SSE stream, 160 MiB in all. What the proxy keeps for
// Last-Event-ID is bounded per session (http.replay_bytes) and over all sessions
// (http.replay_total_bytes, 16 MiB here), so its RSS grows by about the total bound, not by
// what was sent.
async function replay() {
  const sessions = 40;
  const count = 8;
  const bytes = 512 * 1024;
  const fixture = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'flood_server.mjs');
  const p = await startProxy('replay', OLD ? {} : { replay_total_bytes: 16 * 1024 * 1024 }, {
    servers: { flood: { command: [process.execPath, fixture], restart: { max: 0 } } },
  });
  try {
    const rss0 = rssMiB(p.pid);
    let events = 0;
    for (let i = 0; i < sessions; i++) {
      const sid = await initialize(p.url);
      const r = await post(p.url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'flood', arguments: { count, bytes } } }, { 'mcp-session-id': sid });
      events += (r.text.match(/^data: /gm) || []).length;
    }
    const grew = rssMiB(p.pid) - rss0;
    check(events === sessions * (count + 1), `every notification and answer reached its client: ${events} of ${sessions * (count + 1)} events`);
    check(grew < 48, `RSS grew by ${grew.toFixed(1)} MiB after ${(sessions * count * bytes) / 1048576} MiB of notifications`);
    console.log(`replay: ${sessions} sessions x ${count} notifications of ${bytes / 1024} KiB, RSS +${grew.toFixed(1)} MiB`);
  } finally {
    await p.stop();
  }
}

// At http.max_sessions, a new client takes the place of the session idle the longest; the
// busy ones (an open GET stream) are never closed for it.
async function sessions() {
  const max = 4;
  const p = await startProxy('sessions', { max_sessions: max });
  try {
    const ids = [];
    for (let i = 0; i < max; i++) ids.push(await initialize(p.url));
    // The newest session holds a GET stream open: it is busy, never evicted.
    const ctrl = new AbortController();
    const stream = await fetch(p.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': ids[max - 1] }, signal: ctrl.signal });
    check(stream.status === 200, `GET stream: ${stream.status}`);
    let admitted = 0;
    for (let i = 0; i < 3 * max; i++) {
      try {
        ids.push(await initialize(p.url));
        admitted++;
      } catch (e) {
        check(false, `a new client was locked out: ${e.message}`);
      }
    }
    const ping = async (sid) => (await post(p.url, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': sid })).status;
    check((await ping(ids[0])) === 404, 'the oldest idle session was closed to make way');
    check((await ping(ids[max - 1])) === 200, 'the session with an open stream was kept');
    check((await ping(ids[ids.length - 1])) === 200, 'the newest session works');
    ctrl.abort();
    console.log(`sessions: ${admitted} of ${3 * max} new clients admitted at max_sessions ${max}; the busy session kept`);
  } finally {
    await p.stop();
  }
}

// `glasstape run` (stdio front) with a config, fed `input`; resolves with the answers on stdout,
// the bytes of the log (stderr) and the proxy's CPU seconds.
function runStdio(name, servers, input) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gt-res-${name}-`));
  const file = path.join(dir, 'glasstape.yaml');
  fs.writeFileSync(file, JSON.stringify({ servers, governance: { passthrough: true } }, null, 2));
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, ['run', '--config', file], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HOME: dir } });
    let answers = 0;
    let logBytes = 0;
    let cpu = 0;
    let rest = '';
    proc.stdout.on('data', (d) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop();
      answers += lines.length;
    });
    proc.stderr.on('data', (d) => {
      logBytes += d.length;
      try {
        cpu = cpuSeconds(proc.pid);
      } catch {}
    });
    proc.on('error', reject);
    proc.on('exit', () => {
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ answers, logBytes, cpu });
    });
    proc.stdin.on('error', () => {});
    proc.stdin.end(input);
  });
}

// A client sending 20,000 messages the proxy refuses (malformed JSON, each answered with a parse
// error) costs the log a few dozen lines, not 20,000.
async function clientLogFlood() {
  const n = 20000;
  const input = 'x{"jsonrpc":"2.0","id":1,"method":"ping"}\n'.repeat(n);
  const r = await runStdio('logflood', { example: { command: [SERVER] } }, input);
  check(r.answers === n, `every refused message is answered: ${r.answers} of ${n}`);
  check(r.logBytes < 32 * 1024, `${n} refused messages wrote ${r.logBytes} log bytes`);
  console.log(`client log flood: ${n} malformed messages, ${r.answers} answered, ${r.logBytes} log bytes`);
}

// A server that writes 100,000 lines to stderr before it serves: the log takes at most 100 lines
// of it per 10 s, each cut at 1000 bytes.
async function serverStderrFlood() {
  const n = 100000;
  const spam = `i=0; while [ $i -lt ${n} ]; do echo "debug: line $i of noise from the server"; i=$((i+1)); done >&2; exec "$0"`;
  const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'res', version: '1' } } });
  const r = await runStdio('stderrflood', { example: { command: ['/bin/sh', '-c', spam, SERVER] } }, `${init}\n`);
  check(r.answers === 1, `initialize answered through a server flooding stderr: ${r.answers}`);
  check(r.logBytes < 64 * 1024, `a server's ${n} stderr lines wrote ${r.logBytes} log bytes`);
  console.log(`server stderr flood: ${n} lines from the server, ${r.logBytes} log bytes`);
}

if (REPORT) await bigBatch();
if (!OLD) await batches();
await sessions();
await replay();
await clientLogFlood();
await serverStderrFlood();
if (failures) {
  console.log(`session_limits: ${failures} bound(s) exceeded`);
  process.exit(1);
}
console.log('session_limits: every bound held');
