// A raw line-level JSON-RPC peer (no SDK): spawns a command with pipes and records every
// stdout line byte for byte, so tests can check exactly what crossed the wire.
import { spawn } from 'node:child_process';

import { withTimeout } from './harness.mjs';

export class RawPeer {
  constructor(command, args, opts = {}) {
    this.proc = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...(opts.env || {}) } });
    this.pid = this.proc.pid;
    this.lines = []; // { buf, text, msg, at } in arrival order; msg undefined if not JSON
    this.stderrText = '';
    this.waiters = new Set();
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, sig) => {
        this.exitInfo = { code, signal: sig, at: Date.now() };
        this.#notify();
        resolve(this.exitInfo);
      });
    });
    let pending = Buffer.alloc(0);
    this.proc.stdout.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      for (let nl = pending.indexOf(10); nl >= 0; nl = pending.indexOf(10)) {
        const buf = Buffer.from(pending.subarray(0, nl));
        pending = pending.subarray(nl + 1);
        const text = buf.toString('utf8');
        let msg;
        try {
          msg = JSON.parse(text);
        } catch {
          msg = undefined;
        }
        this.lines.push({ buf, text, msg, at: Date.now() });
      }
      this.#notify();
    });
    this.proc.stderr.on('data', (d) => {
      this.stderrText += d.toString();
      this.#notify();
    });
    this.proc.stdin.on('error', () => {}); // EPIPE after the peer exits is reported by tests
  }

  #notify() {
    for (const w of [...this.waiters]) w();
  }

  send(text) {
    this.proc.stdin.write(text + '\n');
  }
  sendJson(obj) {
    this.send(JSON.stringify(obj));
  }

  // Every message received, batches flattened.
  messages() {
    const out = [];
    for (const l of this.lines) {
      if (Array.isArray(l.msg)) out.push(...l.msg);
      else if (l.msg !== undefined) out.push(l.msg);
    }
    return out;
  }

  // Resolves with the first value `probe()` returns that is not undefined.
  async until(probe, ms, what) {
    const found = probe();
    if (found !== undefined) return found;
    let waiter;
    try {
      return await withTimeout(new Promise((resolve) => {
        waiter = () => {
          const v = probe();
          if (v !== undefined) resolve(v);
        };
        this.waiters.add(waiter);
      }), ms, `${what}\n--- stderr ---\n${this.stderrText.slice(-3000)}`);
    } finally {
      this.waiters.delete(waiter);
    }
  }

  // The response (result or error) with this id.
  response(id, ms = 10_000) {
    const key = JSON.stringify(id);
    return this.until(
      () => this.messages().find((m) => m && JSON.stringify(m.id) === key && ('result' in m || 'error' in m)),
      ms, `the response to id ${key}`);
  }

  // The first line (raw) satisfying pred(line).
  line(pred, ms, what) {
    return this.until(() => this.lines.find(pred), ms, what);
  }

  // Lines reflected by fixtures/raw_server.mjs, as the strings it received.
  reflected() {
    return this.messages().filter((m) => m?.method === 'notifications/raw').map((m) => m.params.raw);
  }
  waitReflected(pred, ms, what) {
    return this.until(() => this.reflected().find(pred), ms, `the server to receive ${what}`);
  }

  // Sends a request and awaits its response.
  async request(id, method, params, ms = 10_000) {
    this.sendJson({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
    return this.response(id, ms);
  }

  async initialize(id = 'init-1') {
    const r = await this.request(id, 'initialize', {
      protocolVersion: '2025-06-18',
      capabilities: { roots: { listChanged: true } },
      clientInfo: { name: 'raw-e2e', version: '1.0.0' },
    });
    this.sendJson({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return r;
  }

  async close(ms = 10_000) {
    if (!this.exitInfo) {
      this.proc.stdin.end();
      try {
        await withTimeout(this.exited, ms, 'the process to exit after stdin closed');
      } catch {
        this.proc.kill('SIGKILL');
        await this.exited;
      }
    }
    return this.exitInfo;
  }
}
