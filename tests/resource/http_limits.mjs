// Resource test for `glasstape serve` under hostile HTTP load (issue 14, the transport part).
// Each class starts its own proxy (passthrough governance, the example server), attacks it
// at a scale that fits CI, and asserts a bound on what the attack costs the proxy (RSS, CPU
// seconds, log bytes, bytes a client could send before being cut), not on wall time, plus
// that a second client is still answered. Prints one line of figures per class.
//
//   node tests/resource/http_limits.mjs --glasstape build/proxy/glasstape \
//        --server build/tests/glasstape-example-server [--only bodies,trickle,fds,edge]
//
// Run against a build without the limit keys (an older glasstape), the proxies start
// without them and the figures are printed all the same: that is how the "before" column
// of the README's figures was measured. Exit status 1 if any bound is exceeded.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const BIN = path.resolve(opt('glasstape', 'build/proxy/glasstape'));
const SERVER = path.resolve(opt('server', 'build/tests/glasstape-example-server'));
const ONLY = opt('only', 'bodies,trickle,fds,edge').split(',');
const MiB = 1 << 20;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let failures = 0;
function check(ok, what) {
  if (!ok) {
    failures++;
    console.log(`  FAIL: ${what}`);
  }
  return ok;
}

// ------------------------------------------------------------------ the proxy

function procStats(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpu = (Number(f[11]) + Number(f[12])) / 100;  // utime + stime, in clock ticks
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)[1]);
  return { cpu, rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
}

async function startProxy(name, { limits = {}, nofile, maxMessage = 4 * MiB } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gt-res-${name}-`));
  const logFile = path.join(dir, 'glasstape.log');
  for (const withLimits of [true, false]) {
    const config = {
      servers: { example: { command: [SERVER], restart: { max: 0 } } },
      identity: { agent_id: 'resource-test' },
      max_message_bytes: maxMessage,
      http: { listen: '127.0.0.1:0', path: '/mcp', ...(withLimits ? limits : {}) },
      governance: { passthrough: true },
      log_level: 'info',
    };
    const file = path.join(dir, 'glasstape.yaml');
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
    const out = fs.openSync(logFile, 'w');
    const argv = [BIN, 'serve', '--config', file];
    const proc = nofile
      ? spawn('prlimit', [`--nofile=${nofile}:${nofile}`, ...argv], { stdio: ['ignore', out, out] })
      : spawn(argv[0], argv.slice(1), { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    for (let i = 0; i < 400; i++) {
      const log = fs.readFileSync(logFile, 'utf8');
      const m = /serving MCP at http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(log);
      if (m) {
        return {
          port: Number(m[1]),
          pid: proc.pid,
          legacy: !withLimits,
          logBytes: () => fs.statSync(logFile).size,
          log: () => fs.readFileSync(logFile, 'utf8'),
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
    const log = fs.readFileSync(logFile, 'utf8');
    if (withLimits && /unknown key/.test(log)) continue;  // an older build: no limit keys
    throw new Error(`glasstape serve did not start:\n${log}`);
  }
  throw new Error('unreachable');
}

// ------------------------------------------------------------------ clients

// A raw connection that records what it receives and when it is closed.
function connect(port, from = '127.0.0.1') {
  return new Promise((resolve) => {
    const c = { data: '', closed: false, closedAt: 0, sent: 0, error: null };
    c.sock = net.connect({ port, host: '127.0.0.1', localAddress: from });
    c.sock.on('data', (d) => (c.data += d.toString('latin1')));
    c.sock.on('error', (e) => (c.error = e.code));
    c.sock.on('close', () => {
      c.closed = true;
      c.closedAt = performance.now();
    });
    c.send = (s) =>
      new Promise((r) => {
        if (c.closed || c.sock.destroyed) return r(false);
        c.sock.write(s, (e) => {
          if (!e) c.sent += s.length;
          r(!e);
        });
      });
    c.sock.on('connect', () => resolve(c));
    c.sock.on('error', () => resolve(c));
  });
}

const status = (text) => (/^HTTP\/1\.1 (\d{3})/.exec(text) || [])[1] | 0;
const initBody = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'res', version: '1' } },
});
function mcpPost(body, host = 'localhost', extra = '') {
  return (
    `POST /mcp HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
    `Accept: application/json, text/event-stream\r\nConnection: close\r\n${extra}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

// Another client's initialize, from another address: how long until it is answered 200
// (a 503 is retried after its Retry-After), up to `limitMs`.
async function secondClient(port, limitMs) {
  const t0 = performance.now();
  let last = 0;
  while (performance.now() - t0 < limitMs) {
    const c = await connect(port, '127.0.0.2');
    await c.send(mcpPost(initBody));
    const deadline = performance.now() + limitMs;
    while (!c.closed && status(c.data) === 0 && performance.now() < deadline) await sleep(5);
    last = status(c.data);
    c.sock.destroy();
    if (last === 200) return { ms: Math.round(performance.now() - t0), status: 200 };
    const ra = /Retry-After: (\d+)/.exec(c.data);
    await sleep(ra ? Number(ra[1]) * 1000 : 100);
  }
  return { ms: Math.round(performance.now() - t0), status: last };
}

const mb = (n) => (n / MiB).toFixed(1);

// ------------------------------------------------------------------ classes

// Many connections each send most of a large body and stop. Bound: the proxy's RSS grows by
// at most the body budget plus a margin.
async function bodies() {
  const budget = 16 * MiB;
  const p = await startProxy('bodies', {
    limits: { body_budget_bytes: budget, header_timeout_ms: 2000, body_timeout_ms: 3000 },
  });
  const base = procStats(p.pid);
  const n = 48;
  const partial = Buffer.alloc(3.5 * MiB, 'x');
  const conns = [];
  for (let i = 0; i < n; i++) {
    const c = await connect(p.port);
    c.send(`POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
      `Accept: application/json, text/event-stream\r\nContent-Length: ${4 * MiB}\r\n\r\n`);
    c.send(partial);
    conns.push(c);
  }
  // Until every connection has written its part (or was answered and closed), at most 10 s;
  // then until the proxy has read what the kernel still buffers for it (its peak RSS stops
  // growing for 500 ms), at most 5 s more.
  for (let i = 0; i < 1000 && !conns.every((c) => c.closed || c.sent >= partial.length); i++)
    await sleep(10);
  let mid = procStats(p.pid);
  for (let stable = 0, i = 0; stable < 5 && i < 50; i++) {
    await sleep(100);
    const now = procStats(p.pid);
    stable = now.hwm === mid.hwm ? stable + 1 : 0;
    mid = now;
  }
  const second = await secondClient(p.port, 8000);
  const refused = conns.filter((c) => status(c.data) === 503).length;
  const end = procStats(p.pid);
  const growth = mid.hwm - base.rss;
  console.log(
    `bodies: ${n} x 3.5 of 4 MiB sent: RSS +${mb(growth)} MiB (peak ${mb(mid.hwm)} MiB), ` +
      `CPU ${(end.cpu - base.cpu).toFixed(2)} s, ${refused} got 503; second client: ` +
      `${second.status} after ${second.ms} ms${p.legacy ? ' [no limit keys]' : ''}`,
  );
  check(growth <= budget + 24 * MiB, `RSS grew ${mb(growth)} MiB, over budget + 24 MiB`);
  check(refused >= n - 5, `only ${refused} of ${n} partial bodies got 503`);
  check(second.status === 200, `second client not served (${second.status})`);
  for (const c of conns) c.sock.destroy();
  await p.stop();
}

// Slow clients, one byte every 100 ms, from one address fill its per-IP slots. Bounds: each
// is cut at the header deadline (counted in bytes it got to send), the address gets no more
// than its slots, and a client from another address is served meanwhile.
async function trickle() {
  const perIp = 20;
  const headerMs = 1000;
  const p = await startProxy('trickle', {
    limits: { max_connections_per_ip: perIp, header_timeout_ms: headerMs, body_timeout_ms: 2000 },
  });
  const base = procStats(p.pid);
  const slow = [];
  for (let i = 0; i < perIp + 5; i++) slow.push(await connect(p.port));
  await sleep(100);
  const accepted = slow.filter((c) => !c.closed);
  const head = 'POST /mcp HTTP/1.1\r\nHost: localhost\r\nX-Slow: ' + 'z'.repeat(200);
  let secondP = null;
  const t0 = performance.now();
  for (let i = 0; i < head.length && performance.now() - t0 < 4000; i++) {
    if (i === 3) secondP = secondClient(p.port, 8000);
    await Promise.all(accepted.map((c) => c.send(head[i])));
    if (accepted.every((c) => c.closed)) break;
    await sleep(100);
  }
  const second = await secondP;
  const end = procStats(p.pid);
  const maxSent = Math.max(...accepted.map((c) => c.sent));
  const cut = accepted.filter((c) => c.closed).length;
  const got408 = accepted.filter((c) => status(c.data) === 408).length;
  console.log(
    `trickle: ${slow.length} slow connections from one address, ${accepted.length} held ` +
      `past 100 ms; ${cut} cut (${got408} with 408) after at most ${maxSent} bytes; RSS ` +
      `+${mb(end.hwm - base.rss)} MiB, CPU ${(end.cpu - base.cpu).toFixed(2)} s; second client: ` +
      `${second.status} after ${second.ms} ms${p.legacy ? ' [no limit keys]' : ''}`,
  );
  check(accepted.length <= perIp, `${accepted.length} connections from one address, over ${perIp}`);
  check(cut === accepted.length, `${accepted.length - cut} slow clients not cut`);
  // 1 s at 10 bytes/s, with room for a slow machine: far below the 200 a trickle takes.
  check(maxSent <= 40, `a slow client sent ${maxSent} bytes before being cut`);
  check(second.status === 200, `second client not served (${second.status})`);
  for (const c of slow) c.sock.destroy();
  await p.stop();
}

// File descriptors run out (prlimit --nofile=64 on the proxy, 150 silent connections).
// Bounds: CPU and log bytes over 2 s while the backlog waits; the second client is served
// once the connections go.
async function fds() {
  const p = await startProxy('fds', {
    nofile: 64,
    limits: { max_connections_per_ip: 1000, header_timeout_ms: 10000 },
  });
  const conns = [];
  for (let i = 0; i < 150; i++) conns.push(await connect(p.port));
  await sleep(500);
  const s0 = procStats(p.pid);
  const l0 = p.logBytes();
  await sleep(2000);
  const s1 = procStats(p.pid);
  const l1 = p.logBytes();
  for (const c of conns) c.sock.destroy();
  const second = await secondClient(p.port, 8000);
  const cpu = s1.cpu - s0.cpu;
  const logged = l1 - l0;
  console.log(
    `fds: nofile 64, 150 connections: over 2 s CPU ${cpu.toFixed(2)} s, log +${logged} bytes; ` +
      `after they close, second client: ${second.status} after ${second.ms} ms` +
      `${p.legacy ? ' [no limit keys]' : ''}`,
  );
  check(cpu <= 0.3, `CPU ${cpu.toFixed(2)} s in 2 s with descriptors exhausted`);
  check(logged <= 4096, `${logged} log bytes in 2 s with descriptors exhausted`);
  check(second.status === 200, `second client not served (${second.status})`);
  await p.stop();
}

// Framing that could be read two ways and bad Host values: 400 and one response only.
async function edge() {
  const p = await startProxy('edge');
  const cases = [
    ['TE chunked, identity + smuggled request',
      'POST /mcp HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n' +
        mcpPost(initBody)],
    ['TE identity + Content-Length', mcpPost(initBody, 'localhost', 'Transfer-Encoding: identity\r\n')],
    ['TE chunked + Content-Length',
      mcpPost(initBody, 'localhost', 'Transfer-Encoding: chunked\r\n').replace(
        '\r\n\r\n', '\r\n\r\n0\r\n\r\n')],
    ['Host localhost:80@evil.com', mcpPost(initBody, 'localhost:80@evil.com')],
    ['Host localhost:99999', mcpPost(initBody, 'localhost:99999')],
    ['Host empty', mcpPost(initBody, '')],
    ['two Host headers', mcpPost(initBody, 'localhost', 'Host: evil.com\r\n')],
  ];
  const results = [];
  for (const [name, bytes] of cases) {
    const c = await connect(p.port);
    await c.send(bytes);
    for (let i = 0; i < 300 && !c.closed; i++) await sleep(10);
    const responses = (c.data.match(/HTTP\/1\.1 \d{3}/g) || []).length;
    results.push(`${name}: ${status(c.data)}${responses > 1 ? ` (+${responses - 1} more)` : ''}`);
    check(status(c.data) === 400 && responses === 1, `${name}: ${status(c.data)}, ${responses} responses`);
    c.sock.destroy();
  }
  console.log(`edge: ${results.join('; ')}`);
  await p.stop();
}

const classes = { bodies, trickle, fds, edge };
for (const name of ONLY) {
  if (!classes[name]) throw new Error(`unknown class ${name}`);
  await classes[name]();
}
console.log(failures ? `http_limits: ${failures} bound(s) exceeded` : 'http_limits: all bounds held');
process.exit(failures ? 1 : 0);
