// Issue 13, "what is judged is what runs", as a property test over both fronts.
//
// A seeded generator (lib/boundary_gen.mjs) sends mutated traffic through `glasstape run`
// (stdio) and `glasstape serve` (HTTP, `sharing: isolated` and `sharing: shared`) to a spy
// server (fixtures/spy_server.mjs) that records every byte it receives. Mutations: raw
// whitespace, CR, LF and CRLF wherever JSON allows whitespace (and raw control characters
// inside strings, which must be refused), escaped strings and member names, repeated member
// names at any depth, a complete tools/call smuggled between raw line breaks, batches,
// request methods sent without an id, reused ids (in flight across messages and in one
// batch, `1`/`1.0`, `9007199254740993`/`9007199254740992`), odd method spellings. The policy
// denies `echo`/`wait` when arguments.message is "evil", so a smuggled call is one the
// server got that was never allowed.
//
// After each run (proxy stopped, so the audit log is complete) the test checks:
//  1. Every line the server received (split at LF, lone CR and CRLF) is strict JSON with no
//     repeated member name at any depth; its methods are exact (printable ASCII, not a
//     case variant of an MCP method); no tools/call arrived without an id; ids are valid.
//  2. For every tools/call the server received there is a decision record that allowed it,
//     with args_sha256 = SHA-256 of the exact bytes of params.arguments as the server
//     received them (of `{}` when absent), and, on unshared links, the same request id
//     (numbers compared by their exact text) in the same session. A shared link rewrites
//     ids, so there a call is matched by its args_sha256 alone; every call's arguments
//     carry a unique nonce, so the match is still one to one. The allowed decisions and the
//     calls received are matched as multisets: their numbers must be equal.
//  3. Each allowed decision has exactly one result record, whose result_sha256 is the
//     SHA-256 of JCS of what the server answered to that very call (the spy's answer is a
//     function of the bytes it received) with the receipt GlassTape adds to its `_meta`
//     (that decision's id, seq and leaf hash), and `glasstape verify` accepts the log.
//  4. Each generated message reached the server as the rules say (README "What reaches the
//     server"): once if accepted (and not denied), never if refused or smuggled; every
//     refused message got a JSON-RPC error with the rule's code (stdio) or a 400 (HTTP);
//     every accepted request got exactly one answer, with the predicted policy outcome;
//     nothing else came back; and the proxy is still up and answering at the end.
//
//   GT_BOUNDARY_SEED   the seed (default 13); printed with every failure
//   GT_BOUNDARY_SCALE  multiplies the number of steps (default 1: about 300 per front)
//   GT_BOUNDARY_BUDGET_MS, GT_BOUNDARY_STEP_MS, GT_BOUNDARY_MAX_STALLS  time bounds (below)
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import canonicalize from 'canonicalize';

import { Generator, Rng, show } from './lib/boundary_gen.mjs';
import { E2E_DIR, NODE, killQuietly, requireBinary, tmpDir, waitUntil, recordPayload } from './lib/harness.mjs';
import {
  idKey,
  member,
  memberPath,
  messagesOf,
  parseStrict,
  rawOf,
  spyCallResult,
  splitUniversal,
} from './lib/wire.mjs';

const SEED = Number(process.env.GT_BOUNDARY_SEED ?? 13) >>> 0;
const SCALE = Number(process.env.GT_BOUNDARY_SCALE ?? 1);
const SPY = path.join(E2E_DIR, 'fixtures', 'spy_server.mjs');
// How long a step's answers may take, and after how many
// steps with missing answers a front is not driven further (a proxy that lets smuggled
// lines through leaves the outer message unanswered; raise it to see every such bypass).
const STEP_TIMEOUT_MS = Number(process.env.GT_BOUNDARY_STEP_MS ?? 2000);
// How long one front is driven at most; then it stops early (a violation) and is checked.
const BUDGET_MS = Number(process.env.GT_BOUNDARY_BUDGET_MS ?? 25_000);
const TEST_TIMEOUT_MS = BUDGET_MS + 60_000;
const MAX_TIMEOUTS = Number(process.env.GT_BOUNDARY_MAX_STALLS ?? 6);
const DECISION_META_KEY = 'dev.glasstape/decision';

const POLICY = `
policy_id: boundary.e2e
version: "1"
description: The spy's tools are allowed unless arguments.message is exactly "evil".
tools: [echo, wait]
rules:
  deny:
    - id: deny-evil
      condition: "has(args.message) && args.message == 'evil'"
      reason: evil is not echoed
  allow:
    - id: allow-spy-tools
      condition: "true"
      reason: the spy's tools only answer
`;

// Every MCP method (2024-11-05 to 2026-07-28): a spelling that differs from one of these only
// in case must never reach a server.
const MCP_METHODS = [
  'initialize', 'ping', 'tools/list', 'tools/call', 'resources/list', 'resources/templates/list',
  'resources/read', 'resources/subscribe', 'resources/unsubscribe', 'prompts/list', 'prompts/get',
  'completion/complete', 'logging/setLevel', 'sampling/createMessage', 'elicitation/create', 'roots/list',
  'tasks/get', 'tasks/result', 'tasks/list', 'tasks/cancel', 'server/discover', 'subscriptions/listen',
  'notifications/initialized', 'notifications/cancelled', 'notifications/progress', 'notifications/message',
  'notifications/roots/list_changed', 'notifications/resources/updated', 'notifications/resources/list_changed',
  'notifications/tools/list_changed', 'notifications/prompts/list_changed', 'notifications/tasks/status',
  'notifications/elicitation/complete',
];

const sha256hex = (b) => crypto.createHash('sha256').update(b).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// A per-front seed derived from the run's seed.
const seedFor = (name) => (SEED ^ parseInt(sha256hex(name).slice(0, 8), 16)) >>> 0;

// ------------------------------------------------------------------------ violations

class Violations {
  constructor(front) {
    this.front = front;
    this.list = [];
  }
  add(category, detail) {
    this.list.push({ category, detail });
  }
  summary() {
    const by = new Map();
    for (const v of this.list) {
      if (!by.has(v.category)) by.set(v.category, []);
      by.get(v.category).push(v.detail);
    }
    const out = [`${this.list.length} violation(s) on ${this.front} (seed ${SEED}; rerun with GT_BOUNDARY_SEED=${SEED}):`];
    for (const [cat, details] of by) {
      out.push(`- ${cat}: ${details.length}`);
      for (const d of details.slice(0, 3)) out.push(`    ${d}`);
    }
    return out.join('\n');
  }
}

// ------------------------------------------------------------------------ setup

function setup(name, extraConfig = {}) {
  const dir = tmpDir(`gt-boundary-${name}-`);
  const d = {
    dir,
    policies: path.join(dir, 'policies'),
    audit: path.join(dir, 'audit'),
    keys: path.join(dir, 'keys'),
    record: path.join(dir, 'record'),
  };
  fs.mkdirSync(d.policies);
  fs.mkdirSync(d.record);
  fs.writeFileSync(path.join(d.policies, 'boundary.yaml'), POLICY);
  d.config = {
    identity: { agent_id: 'boundary-e2e' },
    governance: {
      policies: { dir: d.policies, state_dir: path.join(dir, 'state') },
      audit: { dir: d.audit, keys_dir: d.keys, fsync: 'off', record_args: 'full' },
    },
    ...extraConfig,
  };
  d.configFile = path.join(dir, 'glasstape.yaml');
  fs.writeFileSync(d.configFile, JSON.stringify(d.config, null, 2));
  return d;
}

// ------------------------------------------------------------------------ answers

// A response as the client got it: { buf, node } with node a strict parse (or null).
function parseAnswer(buf) {
  const p = parseStrict(buf);
  return { buf, node: p.ok ? p.node : null, error: p.ok ? null : p.error };
}

function answerIdKey(node) {
  const id = member(node, 'id');
  return id ? (id.type === 'null' ? 'null' : idKey(id)) : 'absent';
}

// Expectations of answers for a list of generated messages (metas): a refused message gets
// an error with its rule's code; an accepted request gets exactly one answer.
function expectationsFor(metas) {
  const out = [];
  for (const m of metas) {
    if (m.outcome === 'refuse') {
      let ids;
      if (m.idInError === 'null') ids = ['null'];
      else if (m.idInError === 'either') ids = m.idAny ? ['*'] : [m.id, 'null'];
      else ids = [m.id];
      out.push({ meta: m, ids, error: m.code });
    } else if (m.kind === 'request' && (m.outcome === 'forward' || m.outcome === 'maybe')) {
      out.push({ meta: m, ids: [m.id] });
    }
  }
  return out;
}

// Does answer `a` have the shape expectation `e` wants? Returns null or what is wrong.
function checkAnswer(e, a) {
  const n = a.node;
  const error = member(n, 'error');
  const result = member(n, 'result');
  if (e.error !== undefined) {
    if (!error) return `a refused message (${e.meta.why}) was answered with a result: ${show(a.buf)}`;
    const code = member(error, 'code');
    if (!code || Number(code.raw) !== e.error) return `refused (${e.meta.why}) with code ${code?.raw}, expected ${e.error}`;
    return null;
  }
  const m = e.meta;
  if (m.method === 'tools/call') {
    if (!result) return `tools/call answered with an error: ${show(a.buf, 300)}`;
    const decision = memberPath(result, '_meta', DECISION_META_KEY, 'decision');
    const isError = member(result, 'isError');
    const denied = decision?.type === 'string' && decision.value === 'deny' && isError?.type === 'true';
    if (m.deny && !denied) return `predicted a denial, got ${show(a.buf, 300)}`;
    if (!m.deny && (denied || !memberPath(result, '_meta', 'spy/id'))) return `predicted the spy's answer, got ${show(a.buf, 300)}`;
    return null;
  }
  if (m.serverError) {
    const spy = memberPath(error, 'data', 'spy');
    return spy?.type === 'true' ? null : `expected the server's -32601 for \`${m.method}\`, got ${show(a.buf, 300)}`;
  }
  if (!result) return `${m.method} answered with an error: ${show(a.buf, 300)}`;
  return null;
}

// Matches answers to expectations (ids first, then shape). Unmatched answers and wrong
// shapes are violations; returns the expectations still unanswered.
function matchAnswers(answers, expectations, v, where) {
  const open = [...expectations];
  for (const a of answers) {
    if (!a.node) {
      v.add('answer that is not strict JSON', `${where}: ${a.error}: ${show(a.buf)}`);
      continue;
    }
    const key = answerIdKey(a.node);
    const idOk = (e) => e.ids.includes(key) || e.ids.includes('*');
    let i = open.findIndex((e) => idOk(e) && checkAnswer(e, a) === null);
    if (i < 0) i = open.findIndex(idOk);
    if (i < 0) {
      v.add('answer nobody asked for (e.g. to a smuggled call)', `${where}: ${show(a.buf, 400)}`);
      continue;
    }
    const problem = checkAnswer(open[i], a);
    if (problem) v.add('wrong answer', `${where}: ${problem}`);
    open.splice(i, 1);
  }
  return open;
}

// ------------------------------------------------------------------------ stdio front

class StdioClient {
  constructor(d) {
    const bin = requireBinary();
    this.proc = spawn(bin, ['run', '--config', d.configFile, '--', NODE, SPY, '--record-dir', d.record], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.inbox = [];
    this.stderr = '';
    this.waiter = null;
    this.exited = new Promise((r) => this.proc.on('exit', (code, signal) => r({ code, signal })));
    let pending = Buffer.alloc(0);
    this.proc.stdout.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      for (let nl = pending.indexOf(10); nl >= 0; nl = pending.indexOf(10)) {
        const line = Buffer.from(pending.subarray(0, nl));
        pending = pending.subarray(nl + 1);
        const a = parseAnswer(line);
        // Batched answers count one by one.
        if (a.node?.type === 'array') for (const n of a.node.items) this.inbox.push({ buf: rawOf(line, n), node: n });
        else this.inbox.push(a);
      }
      this.waiter?.();
    });
    this.proc.stderr.on('data', (d) => {
      this.stderr += d.toString();
      if (this.stderr.length > 400_000) this.stderr = this.stderr.slice(-200_000);
    });
    this.proc.stdin.on('error', () => {});
  }
  write(text) {
    this.proc.stdin.write(Buffer.from(`${text}\n`, 'utf8'));
  }
  // Waits until `n` answers are in the inbox or the time is up; returns them all.
  async collect(n, ms) {
    const deadline = Date.now() + ms;
    while (this.inbox.length < n && Date.now() < deadline && this.proc.exitCode === null) {
      await new Promise((r) => {
        this.waiter = r;
        setTimeout(r, Math.max(1, Math.min(50, deadline - Date.now())));
      });
    }
    this.waiter = null;
    return this.inbox.splice(0);
  }
}

async function initializeStdio(c, name) {
  c.write(JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name, version: '1' } } }));
  const [a] = await c.collect(1, 20_000);
  assert.ok(a && member(a.node, 'result'), `initialize through glasstape run failed: ${a && show(a.buf)}\n${c.stderr.slice(-3000)}`);
  c.write('{"jsonrpc":"2.0","method":"notifications/initialized"}');
}

// Reads answers until every open expectation (but held calls', with skipHeld) is matched or
// the time is up; returns the expectations still open.
async function drain(c, open, v, where, skipHeld, ms) {
  const deadline = Date.now() + ms;
  const waiting = () => open.filter((e) => !(skipHeld && e.meta.held && e.error === undefined)).length;
  while (waiting() && Date.now() < deadline && c.proc.exitCode === null) {
    const got = await c.collect(1, deadline - Date.now());
    open = matchAnswers(got, open, v, where);
  }
  return open;
}

async function driveStdio(c, steps, v, recordDir, budget) {
  const metas = [];
  let timeouts = 0;
  for (let s = 0; s < steps.length; s++) {
    const step = steps[s];
    const where = `step ${s} (${step.kind}) ${step.sends.map((x) => show(x.text, 300)).join(' + ')}`;
    let open = [];
    const held = new Set();
    for (const send of step.sends) {
      if (send.waitBefore) open = await drain(c, open, v, where, true, STEP_TIMEOUT_MS);
      if (send.afterHeld && held.has(send.afterHeld)) await heldBySpy(recordDir, send.afterHeld);
      if (send.malformed) {
        // Not JSON as a whole: one parse error, and none of its messages goes anywhere.
        for (const m of send.messages) metas.push(m.outcome === 'refuse' ? m : { ...m, outcome: 'never' });
        open.push({ meta: { why: 'a batch that is not JSON' }, ids: ['null', '*'], error: -32700 });
      } else {
        metas.push(...send.messages);
        open.push(...expectationsFor(send.messages));
        if (send.messages.some((m) => m.held && m.outcome === 'forward')) held.add(send.held);
      }
      if (send.emptyBatch) open.push({ meta: { why: 'empty batch' }, ids: ['null'], error: -32600 });
      c.write(send.text);
    }
    open = await drain(c, open, v, where, false, STEP_TIMEOUT_MS);
    for (const e of open) {
      v.add(e.error !== undefined ? 'refused message got no error' : 'accepted request never answered',
        `${where}: ${e.meta.why ?? e.meta.method} id ${e.ids.join('|')}`);
    }
    if (c.proc.exitCode !== null) {
      v.add('proxy exited', `during step ${s}: ${JSON.stringify(await c.exited)}\n${c.stderr.slice(-2000)}`);
      break;
    }
    if (open.length && ++timeouts >= MAX_TIMEOUTS) {
      v.add('stopped early', `after ${timeouts} steps with unanswered messages (step ${s} of ${steps.length})`);
      break;
    }
    if (Date.now() > budget) {
      v.add('stopped early', `the driving budget (GT_BOUNDARY_BUDGET_MS) ran out at step ${s} of ${steps.length}`);
      break;
    }
  }
  return metas;
}

// ------------------------------------------------------------------------ HTTP front

async function startServe(d) {
  const bin = requireBinary();
  const proc = spawn(bin, ['serve', '--config', d.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const onData = (x) => {
    log += x.toString();
    if (log.length > 400_000) log = log.slice(-200_000);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  let url;
  try {
    await waitUntil(() => {
      url = /serving MCP at (http:\/\/\S+\/mcp)/.exec(log)?.[1];
      if (proc.exitCode !== null) throw new Error(`glasstape serve exited early:\n${log}`);
      return !!url;
    }, 20_000, 'glasstape serve to listen');
  } catch (e) {
    killQuietly(proc.pid);
    throw e;
  }
  return { proc, url, exited, log: () => log };
}

class HttpClient {
  constructor(url, name) {
    this.url = url;
    this.name = name;
    this.sid = undefined;
  }
  // One POST of raw bytes. Resolves with { status, answers, text } or { failed }.
  async post(text, version, ms = STEP_TIMEOUT_MS) {
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
    if (version) headers['MCP-Protocol-Version'] = version;
    if (this.sid) headers['Mcp-Session-Id'] = this.sid;
    try {
      const res = await fetch(this.url, { method: 'POST', headers, body: Buffer.from(text, 'utf8'), signal: AbortSignal.timeout(ms) });
      if (!this.sid) this.sid = res.headers.get('mcp-session-id') || undefined;
      const body = Buffer.from(await res.arrayBuffer());
      const answers = [];
      if ((res.headers.get('content-type') || '').startsWith('text/event-stream')) {
        for (const line of body.toString('utf8').split('\n')) {
          if (line.startsWith('data:')) answers.push(parseAnswer(Buffer.from(line.slice(5).replace(/^ /, ''), 'utf8')));
        }
      } else if (body.length) {
        answers.push(parseAnswer(body));
      }
      const flat = [];
      for (const a of answers) {
        if (a.node?.type === 'array') for (const n of a.node.items) flat.push({ buf: rawOf(a.buf, n), node: n });
        else flat.push(a);
      }
      return { status: res.status, answers: flat, text: body.toString('utf8') };
    } catch (e) {
      return { failed: e.name === 'TimeoutError' ? `no answer within ${ms} ms` : String(e) };
    }
  }
  async initialize() {
    const r = await this.post(JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize',
      params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: this.name, version: '1' } } }),
    '2025-03-26', 20_000);
    assert.equal(r.status, 200, `initialize: ${JSON.stringify(r)}`);
    assert.ok(this.sid, 'no Mcp-Session-Id');
    const n = await this.post('{"jsonrpc":"2.0","method":"notifications/initialized"}', '2025-03-26');
    assert.equal(n.status, 202, `notifications/initialized: ${JSON.stringify(n)}`);
  }
  async delete() {
    const res = await fetch(this.url, { method: 'DELETE', headers: { 'Mcp-Session-Id': this.sid }, signal: AbortSignal.timeout(5000) });
    return res.status;
  }
}

// The MCP-Protocol-Version header of each POST, chosen at generation time: batches need
// 2025-03-26 or no header (a later version refuses the POST); single messages any version.
function planHeaders(steps, rng) {
  for (const step of steps) {
    for (const send of step.sends) {
      if (send.batch) send.version = rng.weighted({ none: 4, '2025-03-26': 4, '2025-11-25': 1 });
      else send.version = rng.pick(['none', '2025-03-26', '2025-06-18', '2025-11-25']);
      if (send.version === 'none') send.version = undefined;
      send.badVersion = send.batch && send.version === '2025-11-25';
    }
  }
}

// What must happen to one POST: refused as a whole (400, nothing forwarded) when any of its
// messages is refused, or a batch is empty or sent under a version without batches.
function postRefused(send) {
  return send.badVersion || send.emptyBatch || send.messages.some((m) => m.outcome === 'refuse');
}

// Resolves once the spy has a call held under `token` (it logs each), or after 3 s.
async function heldBySpy(recordDir, token) {
  const file = path.join(recordDir, 'held.log');
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').split('\n').includes(token)) return true;
    await sleep(5);
  }
  return false;
}

async function driveHttp(client, steps, v, recordDir, budget) {
  const metas = [];
  let timeouts = 0;
  for (let s = 0; s < steps.length; s++) {
    const step = steps[s];
    const launched = [];
    for (const send of step.sends) {
      const refused = postRefused(send);
      // A refused POST forwards nothing: every message in it must never reach the server.
      for (const m of send.messages) metas.push(refused && m.outcome !== 'refuse' ? { ...m, outcome: 'never' } : m);
      if (send.waitBefore) await Promise.all(launched.filter((l) => !l.send.held).map((l) => l.promise));
      if (send.afterHeld) {
        const first = launched.find((l) => l.send.held === send.afterHeld);
        if (first && !first.refused) await heldBySpy(recordDir, send.afterHeld);
      }
      // A POST holding a call the spy keeps waits for the release; the others get the usual time.
      const ms = send.held ? STEP_TIMEOUT_MS * 2 : STEP_TIMEOUT_MS;
      launched.push({ send, refused, promise: client.post(send.text, send.version, ms) });
    }
    let stalled = false;
    for (const { send, refused, promise } of launched) {
      const r = await promise;
      const where = `${client.name} step ${s} (${step.kind}${send.version ? `, version ${send.version}` : ''}) ${show(send.text, 300)}`;
      if (r.failed) {
        v.add(refused ? 'refused POST never answered' : 'POST never answered', `${where}: ${r.failed}`);
        stalled = true;
        continue;
      }
      if (refused) {
        const first = send.messages.find((m) => m.outcome === 'refuse');
        if (r.status !== 400) {
          v.add('refused message not answered 400',
            `${where}: ${first?.why ?? (send.badVersion ? 'batch under 2025-11-25' : 'empty batch')}: status ${r.status} ${show(r.text, 300)}`);
          continue;
        }
        const err = r.answers.length === 1 ? member(r.answers[0].node, 'error') : null;
        if (!err) v.add('400 without a JSON-RPC error body', `${where}: ${show(r.text, 300)}`);
        else if (first && !send.batch && Number(member(err, 'code')?.raw) !== first.code) {
          v.add('wrong answer', `${where}: refused (${first.why}) with code ${member(err, 'code')?.raw}, expected ${first.code}`);
        }
        continue;
      }
      const expectations = expectationsFor(send.messages);
      const wantStatus = expectations.length ? 200 : 202;
      if (r.status !== wantStatus) {
        v.add('accepted POST got the wrong status', `${where}: status ${r.status} (expected ${wantStatus}) ${show(r.text, 300)}`);
        continue;
      }
      const open = matchAnswers(r.answers, expectations, v, where);
      for (const e of open) v.add('accepted request never answered', `${where}: ${e.meta.method} id ${e.ids.join('|')}`);
    }
    if (stalled && ++timeouts >= MAX_TIMEOUTS) {
      v.add('stopped early', `${client.name}: after ${timeouts} steps with unanswered POSTs (step ${s} of ${steps.length})`);
      break;
    }
    if (Date.now() > budget) {
      v.add('stopped early', `${client.name}: the driving budget (GT_BOUNDARY_BUDGET_MS) ran out at step ${s} of ${steps.length}`);
      break;
    }
  }
  return metas;
}

// ------------------------------------------------------------------------ after the run

function isAcceptableIdText(raw) {
  if (raw.startsWith('"')) return true;
  if (!/^-?(0|[1-9][0-9]{0,15})$/.test(raw) || raw === '-0') return false;
  return Math.abs(Number(raw)) <= Number.MAX_SAFE_INTEGER;
}

function exactMethodProblem(method) {
  const bytes = Buffer.from(method, 'utf8');
  if (!bytes.length || bytes.some((c) => c < 0x21 || c > 0x7e)) return 'a byte outside printable ASCII';
  const near = MCP_METHODS.find((k) => k !== method && k.toLowerCase() === method.toLowerCase());
  return near ? `a case variant of \`${near}\`` : null;
}

// Everything the server processes received, parsed as a strict server would.
// Returns { calls: [{ file, session, idRaw, idKey, argsRaw }], markers: Map(marker → count) }.
function analyzeRecordings(recordDir, v) {
  const calls = [];
  const markers = new Map();
  const files = fs.readdirSync(recordDir).filter((f) => f.endsWith('.bin')).sort();
  if (!files.length) v.add('no recording', `nothing in ${recordDir}`);
  for (const f of files) {
    const buf = fs.readFileSync(path.join(recordDir, f));
    let client = null;
    const fileCalls = [];
    splitUniversal(buf).forEach((line, i) => {
      const where = `${f} line ${i + 1}`;
      const p = parseStrict(line);
      if (!p.ok) {
        v.add('server got a line that is not one JSON message', `${where}: ${p.error}: ${show(line.toString('utf8'))}`);
        return;
      }
      for (const d of p.dups) v.add('server got a repeated member name', `${where}: ${d} in ${show(line.toString('utf8'))}`);
      if (p.node.type === 'array') v.add('server got a batch', `${where}: ${show(line.toString('utf8'))}`);
      for (const m of messagesOf(p.node)) {
        if (m.type !== 'object') {
          v.add('server got a message that is not an object', `${where}: ${show(line.toString('utf8'))}`);
          continue;
        }
        const marker = memberPath(m, 'params', '_meta', 'gt-test/m') ?? memberPath(m, 'result', 'gt-test/m');
        if (marker?.type === 'string') markers.set(marker.value, (markers.get(marker.value) ?? 0) + 1);
        const method = member(m, 'method');
        const id = member(m, 'id');
        if (method && (member(m, 'result') || member(m, 'error'))) {
          v.add('server got a message with both method and result/error', `${where}: ${show(line.toString('utf8'))}`);
        }
        if (method?.type === 'string') {
          const problem = exactMethodProblem(method.value);
          if (problem) v.add('server got a method that is not exact', `${where}: ${JSON.stringify(method.value)} (${problem})`);
        }
        if (method && id && !isAcceptableIdText(rawOf(line, id).toString('utf8'))) {
          v.add('server got a request id the rules refuse', `${where}: ${rawOf(line, id).toString('utf8')}`);
        }
        if (method?.type === 'string' && method.value === 'initialize') {
          client = memberPath(m, 'params', 'clientInfo', 'name')?.value ?? null;
        }
        if (method?.type !== 'string' || method.value !== 'tools/call') continue;
        if (!id) {
          v.add('server got tools/call as a notification (never judged)', `${where}: ${show(line.toString('utf8'))}`);
          continue;
        }
        const args = memberPath(m, 'params', 'arguments');
        fileCalls.push({
          where,
          idRaw: rawOf(line, id).toString('utf8'),
          idKey: idKey(id),
          argsRaw: args ? rawOf(line, args) : null,
          line,
        });
      }
    });
    for (const c of fileCalls) calls.push({ ...c, client });
  }
  return { calls, markers };
}

function readAudit(dir) {
  const files = fs.readdirSync(dir).filter((f) => /^audit(-\d{12})?\.jsonl$/.test(f)).sort();
  const payloads = [];
  for (const f of files) {
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (!line) continue;
      const p = recordPayload(line);
      // The RFC 6962 leaf hash of its line: what the answer's dev.glasstape/receipt names.
      Object.defineProperty(p, 'leafHash', {
        value: crypto.createHash('sha256').update(Buffer.concat([Buffer.from([0]), Buffer.from(line, 'utf8')])).digest('base64'),
      });
      payloads.push(p);
    }
  }
  return payloads;
}

// A decision's request id as idKey() writes a received one: numbers by the text JCS gives them.
function recordIdKey(id) {
  if (typeof id === 'string') return `s:${id}`;
  if (typeof id === 'number') return `n:${String(id)}`;
  return `${JSON.stringify(id)}`;
}

// Checks 2 and 3 of the header. `sessions` maps a client name (its initialize) to its
// session id in the records; `shared` matches by args_sha256 alone.
function checkAudit(d, calls, { shared, sessions }, v) {
  const payloads = readAudit(d.audit);
  const decisions = payloads.filter((p) => p.kind === 'decision');
  const allowed = decisions.filter((p) => p.decision === 'allow');
  const results = payloads.filter((p) => p.kind === 'result');
  const keyOf = (session, sha, id) => (shared ? sha : `${sessions ? session : ''}|${sha}|${id}`);
  const pool = new Map();
  for (const dcs of allowed) {
    const k = keyOf(dcs.session, dcs.args_sha256, recordIdKey(dcs.request_id));
    if (!pool.has(k)) pool.set(k, []);
    pool.get(k).push(dcs);
  }
  // Result records by the decision they link to.
  const byDecision = new Map();
  for (const r of results) {
    if (!byDecision.has(r.decision_id)) byDecision.set(r.decision_id, []);
    byDecision.get(r.decision_id).push(r);
  }
  // What the client got: the spy's answer plus _meta["dev.glasstape/receipt"] naming the
  // decision's record (the result record hashes the answer as the client gets it).
  const logId = payloads.find((p) => typeof p.log_id === 'string')?.log_id;
  const answerHash = (c, dcs) => {
    const r = spyCallResult(c.argsRaw?.toString('utf8') ?? '{}', c.idRaw);
    if (dcs) {
      const receipt = { receipt_id: dcs.id, seq: dcs.seq, leaf_hash: dcs.leafHash };
      if (logId !== undefined) receipt.log_id = logId;
      r._meta = { ...r._meta, 'dev.glasstape/receipt': receipt };
    }
    return sha256hex(canonicalize(r));
  };
  const matched = [];
  for (const c of calls) {
    const sha = sha256hex(c.argsRaw ?? Buffer.from('{}'));
    const session = sessions ? sessions.get(c.client) : undefined;
    const k = keyOf(session, sha, c.idKey);
    const list = pool.get(k);
    if (list?.length) {
      // Several candidates (same arguments on a shared link): the one whose result record
      // hashes this call's answer, if any.
      let i = list.findIndex((dcs) => (byDecision.get(dcs.id) ?? []).some((r) => r.result_sha256 === answerHash(c, dcs)));
      if (i < 0) i = 0;
      matched.push({ call: c, decision: list.splice(i, 1)[0] });
      continue;
    }
    const same = decisions.filter((x) => x.args_sha256 === sha);
    const hint = same.length
      ? `decisions with these args: ${same.map((x) => `${x.decision} id ${JSON.stringify(x.request_id)} session ${x.session}`).join('; ')}`
      : 'no decision record has these args';
    v.add('server got a tools/call no allowed decision covers (same args bytes and id)',
      `${c.where}: id ${c.idRaw} args ${show(c.argsRaw?.toString('utf8') ?? '(absent)', 300)}; ${hint}`);
  }
  for (const list of pool.values()) {
    for (const dcs of list) {
      v.add('allowed decision without exactly that call at the server',
        `request_id ${JSON.stringify(dcs.request_id)} session ${dcs.session} args_sha256 ${dcs.args_sha256} args ${show(JSON.stringify(dcs.args), 200)}`);
    }
  }
  // Result records: exactly one per allowed decision, hashing the answer to that very call.
  const allowedIds = new Set(allowed.map((x) => x.id));
  for (const r of results) {
    if (!allowedIds.has(r.decision_id)) v.add('result record for no allowed decision', `${r.id} → ${r.decision_id}`);
  }
  for (const { call, decision } of matched) {
    const rs = byDecision.get(decision.id) ?? [];
    const want = answerHash(call, decision);
    if (rs.length !== 1) {
      v.add('allowed decision without exactly one result record', `${call.where}: id ${call.idRaw}: ${rs.length} result records`);
    } else if (rs[0].result_sha256 !== want || rs[0].is_error) {
      v.add('result record does not hash the answer to its own call',
        `${call.where}: id ${call.idRaw}: result_sha256 ${rs[0].result_sha256}, the spy's answer to this call hashes to ${want}`);
    }
  }
  const verify = spawnSync(requireBinary(), ['verify', d.audit], { env: { ...process.env, GT_KEYS_DIR: d.keys }, encoding: 'utf8' });
  if (verify.status !== 0) v.add('glasstape verify rejects the log', `${verify.stdout}${verify.stderr}`.slice(0, 1000));
  return { decisions: decisions.length, allowed: allowed.length, results: results.length };
}

// Check 4: every generated message reached the server as often as the rules say.
function checkMarkers(metas, markers, v) {
  const expected = new Map();
  for (const m of metas) {
    let want;
    if (m.outcome === 'refuse' || m.outcome === 'never') want = [0, 0];
    else if (m.outcome === 'maybe') want = [0, 1];
    else if (m.method === 'tools/call' && m.deny) want = [0, 0];
    else want = [1, 1];
    expected.set(m.marker, { want, m });
    if (m.smuggled) expected.set(m.smuggled, { want: [0, 0], m: { ...m, why: 'the smuggled payload' } });
  }
  for (const [marker, { want, m }] of expected) {
    const got = markers.get(marker) ?? 0;
    if (got >= want[0] && got <= want[1]) continue;
    const what = m.why ?? (m.method === 'tools/call' && m.deny ? 'a call the policy denies' : `${m.kind} ${m.method ?? ''}`);
    const cat = want[1] === 0
      ? `server got a message it must never see (${what.startsWith('the smuggled') ? 'smuggled' : m.outcome === 'never' ? 'part of a refused POST' : m.outcome === 'refuse' ? 'refused' : 'denied'})`
      : got === 0 ? 'accepted message never reached the server' : 'server got a message more than once';
    v.add(cat, `${marker}: ${what}: received ${got} time(s)`);
  }
  for (const [marker, got] of markers) {
    if (!expected.has(marker)) v.add('server got a message nobody sent', `${marker} × ${got}`);
  }
}

function report(v, stats) {
  console.log(`boundary property (${v.front}), seed ${SEED}: ${JSON.stringify(stats)}`);
  assert.equal(v.list.length, 0, v.summary());
}

// ------------------------------------------------------------------------ the tests

const STDIO_STEPS = Math.max(1, Math.round(300 * SCALE));
const HTTP_SESSIONS = 2;
const HTTP_STEPS = Math.max(1, Math.round(150 * SCALE)); // per session
const SHARED_SESSIONS = 3;
const SHARED_STEPS = Math.max(1, Math.round(100 * SCALE)); // per session

describe('what is judged is what runs (issue 13): boundary property', () => {
  test('glasstape run (stdio)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const d = setup('stdio');
    const v = new Violations('glasstape run (stdio)');
    const rng = new Rng(seedFor('stdio'));
    const gen = new Generator({ front: 'stdio', rng, tag: 'stdio' });
    const steps = Array.from({ length: STDIO_STEPS }, () => gen.step());
    const c = new StdioClient(d);
    let metas = [];
    try {
      await initializeStdio(c, 'boundary-stdio');
      metas = await driveStdio(c, steps, v, d.record, Date.now() + BUDGET_MS);
      // The proxy is still up and answers; nothing else is still on its way.
      if (c.proc.exitCode === null) {
        c.write('{"jsonrpc":"2.0","id":"final","method":"ping"}');
        const rest = await c.collect(1, 5000);
        const fin = rest.findIndex((a) => answerIdKey(a.node) === 's:final');
        if (fin < 0) v.add('proxy stopped answering', `no answer to a final ping\n${c.stderr.slice(-2000)}`);
        else rest.splice(fin, 1);
        await sleep(300);
        rest.push(...c.inbox.splice(0));
        for (const a of rest) v.add('answer nobody asked for (e.g. to a smuggled call)', `after the last step: ${show(a.buf, 400)}`);
      } else {
        v.add('proxy exited', JSON.stringify(await c.exited));
      }
    } finally {
      c.proc.stdin.end();
      const exit = await Promise.race([c.exited, sleep(10_000).then(() => null)]);
      if (!exit) {
        killQuietly(c.proc.pid);
        v.add('proxy did not exit after stdin closed', '');
      }
    }
    const { calls, markers } = analyzeRecordings(d.record, v);
    checkMarkers(metas, markers, v);
    const stats = checkAudit(d, calls, { shared: false, sessions: null }, v);
    report(v, { steps: steps.length, messages: metas.length, serverCalls: calls.length, ...stats });
  });

  for (const sharing of ['isolated', 'shared']) {
    test(`glasstape serve (HTTP, sharing: ${sharing})`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const d = setup(`http-${sharing}`, {
        servers: { spy: { command: [NODE, SPY, '--record-dir', null], sharing, restart: { max: 0 } } },
        http: { listen: '127.0.0.1:0', path: '/mcp' },
      });
      // The record dir is only known now.
      d.config.servers.spy.command[3] = d.record;
      fs.writeFileSync(d.configFile, JSON.stringify(d.config, null, 2));
      const v = new Violations(`glasstape serve (HTTP, sharing: ${sharing})`);
      const n = sharing === 'shared' ? SHARED_SESSIONS : HTTP_SESSIONS;
      const perSession = sharing === 'shared' ? SHARED_STEPS : HTTP_STEPS;
      const serve = await startServe(d);
      const clients = [];
      const metas = [];
      try {
        // Each session has its own generator; shared sessions all use the same ids.
        const plans = Array.from({ length: n }, (_, i) => {
          const rng = new Rng(seedFor(`http-${sharing}-${i}`));
          const gen = new Generator({ front: 'http', rng, tag: `${sharing[0]}${i}`, sharing });
          const steps = Array.from({ length: perSession }, () => gen.step());
          planHeaders(steps, rng);
          return { gen, steps, client: new HttpClient(serve.url, `boundary-${sharing}-${i}`) };
        });
        for (const p of plans) {
          await p.client.initialize();
          clients.push(p.client);
        }
        const budget = Date.now() + BUDGET_MS;
        const done = await Promise.all(plans.map((p) => driveHttp(p.client, p.steps, v, d.record, budget)));
        for (const ms of done) metas.push(...ms);
        // Still up: every session answers a ping.
        for (const c of clients) {
          const r = await c.post('{"jsonrpc":"2.0","id":"final","method":"ping"}', '2025-03-26', 5000);
          if (r.status !== 200) v.add('proxy stopped answering', `${c.name}: final ping ${JSON.stringify(r).slice(0, 300)}`);
        }
        for (const c of clients) {
          const st = await c.delete().catch((e) => String(e));
          if (st !== 200) v.add('DELETE failed', `${c.name}: ${st}`);
        }
      } finally {
        if (serve.proc.exitCode === null) serve.proc.kill('SIGTERM');
        const exit = await Promise.race([serve.exited, sleep(10_000).then(() => null)]);
        if (!exit) {
          killQuietly(serve.proc.pid);
          v.add('glasstape serve did not stop on SIGTERM', serve.log().slice(-2000));
        } else if (exit.code !== 0) {
          v.add('glasstape serve exit', `${JSON.stringify(exit)}\n${serve.log().slice(-2000)}`);
        }
      }
      // Spies exit when their stdin closes; wait for the last bytes to be on disk.
      await sleep(200);
      const { calls, markers } = analyzeRecordings(d.record, v);
      checkMarkers(metas, markers, v);
      const sessions = new Map(clients.map((c) => [c.name, c.sid]));
      const stats = checkAudit(d, calls, { shared: sharing === 'shared', sessions: sharing === 'shared' ? null : sessions }, v);
      report(v, { sessions: n, messages: metas.length, serverCalls: calls.length, ...stats });
    });
  }
});
