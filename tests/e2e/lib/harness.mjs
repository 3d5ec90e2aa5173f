// Shared helpers for the end-to-end tests.
//
// Every scenario runs in one or both modes:
//   direct: the SDK client spawns the MCP server itself (proves the test is right);
//   proxy:  the SDK client spawns `glasstape run [options] -- <server command>`.
// GT_E2E_MODE=direct|proxy|both (default both) picks the modes; GLASSTAPE_BIN names the
// binary (default <repo>/build/proxy/glasstape). A missing binary fails the proxy tests.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const E2E_DIR = path.resolve(here, '..');
export const TESTS_DIR = path.resolve(E2E_DIR, '..');
export const REPO_ROOT = path.resolve(TESTS_DIR, '..');
const NODE_MODULES = path.join(TESTS_DIR, 'node_modules');

export const NODE = process.execPath;
// server-everything's launcher takes the transport as its first argument ("stdio").
export const EVERYTHING_ENTRY = path.join(
  NODE_MODULES, '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
export const EVERYTHING = [NODE, EVERYTHING_ENTRY, 'stdio'];
export const FILESYSTEM_ENTRY = path.join(
  NODE_MODULES, '@modelcontextprotocol', 'server-filesystem', 'dist', 'index.js');
export const RAW_SERVER = path.join(E2E_DIR, 'fixtures', 'raw_server.mjs');

export function glasstapeBin() {
  return process.env.GLASSTAPE_BIN || path.join(REPO_ROOT, 'build', 'proxy', 'glasstape');
}

export function modes() {
  const m = (process.env.GT_E2E_MODE || 'both').toLowerCase();
  if (m === 'direct') return ['direct'];
  if (m === 'proxy') return ['proxy'];
  if (m === 'both') return ['direct', 'proxy'];
  throw new Error(`GT_E2E_MODE must be direct, proxy or both, not \`${m}\``);
}

export function requireBinary() {
  const bin = glasstapeBin();
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    throw new Error(`glasstape binary not found or not executable at ${bin} (set GLASSTAPE_BIN)`);
  }
  return bin;
}

// A fresh temporary directory, removed when the process exits.
const tmpDirs = [];
process.on('exit', () => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});
export function tmpDir(prefix = 'gt-e2e-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}

// Writes a glasstape config. YAML is a superset of JSON, so an object is written as JSON.
export function writeConfig(config) {
  const file = path.join(tmpDir('gt-e2e-cfg-'), 'glasstape.yaml');
  fs.writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return file;
}

// The argv that starts `server` in `mode`. opts: config (file), denyTools ([names]),
// extra ([glasstape run options]).
export function commandFor(mode, server, opts = {}) {
  if (mode === 'direct') return { command: server[0], args: server.slice(1) };
  const bin = requireBinary();
  const args = ['run'];
  if (opts.config) args.push('--config', opts.config);
  for (const t of opts.denyTools || []) args.push('--deny-tool', t);
  args.push(...(opts.extra || []));
  if (server.length) args.push('--', ...server);
  return { command: bin, args };
}

// Rejects after `ms` with a message naming what was awaited.
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Polls `predicate` (for states no event reports, e.g. a process having exited).
export async function waitUntil(predicate, ms, what, intervalMs = 20) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// A promise with its resolve function, plus a counter of how often it was signalled.
export function signal() {
  let resolve;
  const s = { count: 0, values: [] };
  s.promise = new Promise((r) => (resolve = r));
  s.fire = (v) => {
    s.count += 1;
    s.values.push(v);
    resolve(v);
  };
  return s;
}

// ------------------------------------------------------------------------ processes

export function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return e.code === 'EPERM';
  }
  // A zombie still answers kill(0): treat it as gone.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function procTable() {
  const rows = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      rows.push({ pid: Number(e), state: rest[0], ppid: Number(rest[1]), pgid: Number(rest[2]) });
    } catch {
      // exited while we looked
    }
  }
  return rows;
}

// Live (non-zombie) descendants of `pid`, children first.
export function descendants(pid) {
  const rows = procTable().filter((r) => r.state !== 'Z');
  const out = [];
  let frontier = [pid];
  while (frontier.length) {
    const next = rows.filter((r) => frontier.includes(r.ppid));
    out.push(...next);
    frontier = next.map((r) => r.pid);
  }
  return out;
}

// Live processes in process group `pgid`.
export function processGroup(pgid) {
  return procTable().filter((r) => r.pgid === pgid && r.state !== 'Z');
}

export function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

// The pid of the process running `entry` among the descendants of `rootPid`.
export function findServerPid(rootPid, entry) {
  const hit = descendants(rootPid).find((r) => cmdline(r.pid).includes(entry));
  return hit ? hit.pid : null;
}

export function killQuietly(pid, sig = 'SIGKILL') {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

// ------------------------------------------------------------------------ glasstape serve

// `glasstape serve ARGS` (e.g. ['--config', F, '--listen', '127.0.0.1:0']), once its log says
// it listens: {proc, match, url, port, base, log(), stop()}. `match` is `ready` (a RegExp) on the
// log; by default `serving MCP at <url>`, with the URL and port as groups 1 and 2.
// stop(): SIGTERM; glasstape must exit within 8 s with status 0 (an orderly stop; a sanitizer
// report ends up here too), and every process it started must be gone.
export async function startGlasstapeServe(args, { env, ready } = {}) {
  const pattern = ready ?? /serving MCP at (http:\/\/127\.0\.0\.1:(\d+)\/mcp)\b/;
  const proc = spawn(requireBinary(), ['serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(env ? { env } : {}),
  });
  let log = '';
  const onData = (d) => {
    log += d.toString();
    if (log.length > 400_000) log = log.slice(-200_000);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((r) => proc.on('exit', (code, sig) => r({ code, sig })));
  let match;
  try {
    await waitUntil(() => {
      match = pattern.exec(log);
      if (proc.exitCode !== null) throw new Error(`glasstape serve exited early:\n${log}`);
      return !!match;
    }, 20_000, 'glasstape serve to listen');
  } catch (e) {
    killQuietly(proc.pid);
    throw e;
  }
  const url = match[1]?.startsWith('http') ? match[1] : undefined;
  const port = url ? Number(new URL(url).port) : Number(match[1]);
  return {
    proc,
    match,
    url,
    port,
    base: `http://127.0.0.1:${port}`,
    log: () => log,
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
      assert.deepEqual(r, { code: 0, sig: null }, `glasstape serve exit; its log:\n${log.slice(-6000)}`);
    },
  };
}

// ------------------------------------------------------------------------ SDK sessions

const FULL_CAPS = { sampling: {}, elicitation: {}, roots: { listChanged: true } };

// Connects an SDK Client over StdioClientTransport in `mode`.
// opts: capabilities, handlers {sampling, elicitation, roots} (functions of the request),
// config, denyTools, extra (see commandFor), env, cwd.
// Returns { client, transport, pid, stderr(), toolListChanged, serverMessages, close() }.
export async function connect(mode, server, opts = {}) {
  const { command, args } = commandFor(mode, server, opts);
  const transport = new StdioClientTransport({
    command,
    args,
    env: { ...process.env, ...(opts.env || {}) },
    cwd: opts.cwd,
    stderr: 'pipe',
  });
  let stderrText = '';
  transport.stderr.on('data', (d) => {
    stderrText += d.toString();
    if (stderrText.length > 200_000) stderrText = stderrText.slice(-100_000);
  });
  const client = new Client(
    { name: 'glasstape-e2e', version: '1.0.0' },
    { capabilities: opts.capabilities ?? FULL_CAPS },
  );
  const errors = [];
  client.onerror = (e) => errors.push(e);
  const toolListChanged = { count: 0, waiters: [] };
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    toolListChanged.count += 1;
    for (const w of toolListChanged.waiters.splice(0)) w();
  });
  const h = opts.handlers || {};
  const caps = opts.capabilities ?? FULL_CAPS;
  if (caps.sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
      if (!h.sampling) throw new Error('no sampling handler in this test');
      return h.sampling(req);
    });
  }
  if (caps.elicitation) {
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      if (!h.elicitation) throw new Error('no elicitation handler in this test');
      return h.elicitation(req);
    });
  }
  if (caps.roots) {
    client.setRequestHandler(ListRootsRequestSchema, async (req) => {
      if (!h.roots) return { roots: [] };
      return h.roots(req);
    });
  }
  try {
    await withTimeout(client.connect(transport), 20_000, `initialize (${mode})`);
  } catch (e) {
    await transport.close().catch(() => {});
    e.message += `\n--- stderr ---\n${stderrText.slice(-4000)}`;
    throw e;
  }
  // Tap every message the client receives, after the SDK's own handler is installed.
  const serverMessages = [];
  const orig = transport.onmessage;
  transport.onmessage = (msg, extra) => {
    serverMessages.push(msg);
    orig?.(msg, extra);
  };
  const session = {
    mode,
    client,
    transport,
    pid: transport.pid,
    errors,
    serverMessages,
    toolListChanged,
    stderr: () => stderrText,
    // Resolves once a tools/list_changed notification arrives after this call.
    nextToolListChanged(ms = 10_000) {
      return withTimeout(
        new Promise((r) => toolListChanged.waiters.push(r)), ms, 'notifications/tools/list_changed');
    },
    // Lists tools until all `names` are present, following list_changed notifications.
    async waitForTools(names, ms = 10_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const next = session.nextToolListChanged(Math.max(1, deadline - Date.now())).catch((e) => e);
        const { tools } = await client.listTools();
        const have = new Set(tools.map((t) => t.name));
        if (names.every((n) => have.has(n))) return tools;
        const r = await next;
        if (r instanceof Error) {
          throw new Error(`tools ${names.filter((n) => !have.has(n)).join(', ')} never listed: ${r.message}`);
        }
      }
    },
    async close() {
      await transport.close().catch(() => {});
    },
  };
  return session;
}

export function textOf(result) {
  return (result.content || []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

export const DECISION_META_KEY = 'dev.glasstape/decision';

// Asserts the shape of a denied tools/call result, returns the decision details.
export function assertDenied(assert, result, tool) {
  assert.equal(result.isError, true, `denied call must be an isError result: ${JSON.stringify(result)}`);
  const text = textOf(result);
  assert.ok(text.includes(tool), `the reason should name the tool \`${tool}\`: ${text}`);
  assert.match(text, /den(y|ied)|disabled|not allowed|block/i, `the reason should say it was denied: ${text}`);
  const decision = result._meta?.[DECISION_META_KEY];
  assert.ok(decision && typeof decision === 'object',
    `_meta["${DECISION_META_KEY}"] must carry the decision: ${JSON.stringify(result._meta)}`);
  assert.equal(decision.decision, 'deny', `decision details: ${JSON.stringify(decision)}`);
  assert.ok(String(decision.reason).includes(tool), `decision reason names the tool: ${JSON.stringify(decision)}`);
  assert.ok(decision.code, `decision has a stable code: ${JSON.stringify(decision)}`);
  return decision;
}

// --- audit log records ----------------------------------------------------------------------
// Two line formats can appear in one log (a v1 log continues in v2 after an `upgrade` record):
//   v1 (`glasstape.receipt/1`): a DSSE envelope {"payload","payloadType","signatures"} whose
//       base64 payload is the record (JCS), signed one by one;
//   v2 (`glasstape.receipt/2`): a JSON object without `payloadType`: the line itself is the
//       record (JCS), not signed one by one but covered by the next `seal` record's signed note.
export const RECEIPT_PAYLOAD_TYPE = 'application/vnd.glasstape.receipt+json';
export const RECEIPT_FORMATS = ['glasstape.receipt/1', 'glasstape.receipt/2'];

// True for a v1 line (a DSSE envelope); `line` is a string, a Buffer or a parsed line.
export function isEnvelopeLine(line) {
  const obj = typeof line === 'string' || Buffer.isBuffer(line) ? JSON.parse(line.toString('utf8')) : line;
  return obj !== null && typeof obj === 'object' && !Array.isArray(obj) && 'payloadType' in obj;
}

// The record a line of audit.jsonl / audit-NNNNNNNNNNNN.jsonl holds: v1, the envelope's
// decoded payload; v2, the line itself. (No signature is checked here.)
export function recordPayload(line) {
  const obj = JSON.parse(Buffer.isBuffer(line) ? line.toString('utf8') : line);
  if (isEnvelopeLine(obj)) return JSON.parse(Buffer.from(obj.payload, 'base64').toString('utf8'));
  return obj;
}

// A record that ends a batch with a signed checkpoint note: v1 `checkpoint`, v2 `seal`.
export const isCheckpointKind = (kind) => kind === 'checkpoint' || kind === 'seal';
