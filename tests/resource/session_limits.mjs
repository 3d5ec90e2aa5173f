// Resource test for the session layer of `glasstape serve` (issue 14): a batch of the largest
// allowed size costs CPU linear in its length and is answered whole, a longer one is refused,
// and idle sessions cannot lock new clients out at http.max_sessions. Bounds are on work
// (CPU seconds of the proxy, answers counted), not on wall time. One line of figures per class.
//
//   node tests/resource/session_limits.mjs --glasstape build/proxy/glasstape \
//        --server build/tests/glasstape-example-server
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

let failures = 0;
function check(ok, what) {
  if (!ok) {
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

await batches();
await sessions();
if (failures) {
  console.log(`session_limits: ${failures} bound(s) exceeded`);
  process.exit(1);
}
console.log('session_limits: every bound held');
