// `glasstape serve` with `http.auth`: authenticated agents on the Streamable HTTP front.
// A real OAuth 2.1 authorization server (panva's oidc-provider, lib/oidc.mjs) issues JWT
// access tokens through client_credentials with a resource indicator; the API keys come
// from `glasstape keys api-key`. The upstream is the spy server (fixtures/spy_server.mjs),
// which records every byte it is sent, so "nothing reached the server" is checked on the
// bytes themselves; the tenants' audit logs show that nothing was judged either.
//
// One glasstape serves two tenants (acme, globex) behind these issuers:
//   main    oidc-provider, RS256: tenant from the `org` claim, roles, a team attribute
//   rot     oidc-provider, ES256, tenant_value acme, jwks_min_interval_s 0 (key rotation)
//   dead    oidc-provider whose configured jwks_uri nobody answers (503)
//   home    hand-made JWKS (EdDSA) that counts its fetches: jwks_min_interval_s 2, acme
//   stale   hand-made JWKS (PS256) that can be made to fail: max_age 1 s, max_stale 2 s, globex
//   mapped  hand-made JWKS: algorithms [ES256] (an RS256 key is published too), its own
//           audience, a `tenants` value map
//   filed   a jwks_file (relative path), re-read when it changes
// plus `foreign`, an oidc-provider GlassTape does not trust, and an API keys file made with
// `glasstape keys api-key`. The contract is the draft spec (/tmp/auth-spec.md, "Authenticated
// agents (`http.auth`)"); where the implementation disagrees, the test follows the spec.
//
//   GLASSTAPE_BIN  the glasstape binary (default <repo>/build/proxy/glasstape)
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import {
  discoverOAuthProtectedResourceMetadata,
  discoverOAuthServerInfo,
} from '@modelcontextprotocol/sdk/client/auth.js';

import {
  DECISION_META_KEY,
  E2E_DIR,
  NODE,
  cmdline,
  descendants,
  isAlive,
  killQuietly,
  modes,
  recordPayload,
  requireBinary,
  textOf,
  tmpDir,
  waitUntil,
  withTimeout,
} from './lib/harness.mjs';
import { decodeJwt, generateSigningJwk, publicJwk, startIssuer } from './lib/oidc.mjs';

const SPY = path.join(E2E_DIR, 'fixtures', 'spy_server.mjs');
const PROTOCOL = '2025-11-25';
const SCOPE = 'mcp:tools';
const RESOURCE_NAME = 'GlassTape e2e';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Who the main issuer's clients are (extra token claims, by client id).
const PEOPLE = {
  alice: { org: 'acme', roles: ['admin'], team: 'infra' },
  bob: { org: 'acme', roles: 'reader' }, // roles as one space-separated string
  dave: { org: 'acme', roles: 'auditor admin' },
  gina: { org: 'globex', roles: ['reader'] },
  stranger: { org: 'initech' }, // a tenant the config does not have
  noorg: {}, // no tenant at all
  'svc|7': { org: 'acme' }, // an agent id that is not a safe file name
  ivan: { org: 'acme', roles: ['intern'] }, // the only intern: echo is denied to him by role
};
const CLIENTS = Object.keys(PEOPLE).map((id) => ({ client_id: id, client_secret: `${id}-secret` }));

// acme: echo unless it says `forbidden` (and never for interns); wait only for admins.
// globex: echo only.
const POLICIES = {
  acme: `
policy_id: auth.acme
version: "1.0"
description: What acme's agents may call.
tools: [echo, wait]
rules:
  deny:
    - id: deny-forbidden-echo
      condition: "tool.name == 'echo' && args.message.lower().contains('forbidden')"
      reason: echo may not say the forbidden word
    - id: deny-claims-check
      condition: >-
        tool.name == 'echo' && args.message == 'claims-check' &&
        !(has(principal.claims.scope) && principal.claims.scope.contains('mcp:tools'))
      reason: claims-check needs a token that grants mcp:tools
    - id: deny-team-check
      condition: >-
        tool.name == 'echo' && args.message == 'team-check' &&
        !(has(principal.attributes.team) && principal.attributes.team == 'infra')
      reason: team-check is for the infra team
    - id: deny-intern-echo
      condition: "'intern' in principal.roles && tool.name == 'echo'"
      reason: interns may not echo
  allow:
    - id: allow-echo
      condition: "tool.name == 'echo'"
      reason: echo is harmless
    - id: allow-wait-admin
      condition: "tool.name == 'wait' && 'admin' in principal.roles"
      reason: only admins may wait
`,
  globex: `
policy_id: auth.globex
version: "1.0"
description: What globex's agents may call.
tools: [echo]
rules:
  allow:
    - id: allow-echo
      condition: "tool.name == 'echo'"
      reason: echo is harmless
`,
};

// ------------------------------------------------------------------------ small helpers

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const b64u = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

function privateKeyOf(jwk) {
  const { kid, alg, use, ...k } = jwk;
  return crypto.createPrivateKey({ key: k, format: 'jwk' });
}

// A compact JWS over `payload` with `header`, signed with a private JWK (RS/PS/ES/EdDSA).
function signJws(header, payload, jwk) {
  const input = `${b64u(header)}.${b64u(payload)}`;
  const key = privateKeyOf(jwk);
  let sig;
  switch (header.alg) {
    case 'RS256':
      sig = crypto.sign('sha256', Buffer.from(input), key);
      break;
    case 'PS256':
      sig = crypto.sign('sha256', Buffer.from(input),
        { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
      break;
    case 'ES256':
      sig = crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
      break;
    case 'EdDSA':
      sig = crypto.sign(null, Buffer.from(input), key);
      break;
    default:
      throw new Error(`signJws: ${header.alg}`);
  }
  return `${input}.${sig.toString('base64url')}`;
}

function hs256(header, payload, secret) {
  const input = `${b64u(header)}.${b64u(payload)}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// A hand-made issuer: a JWKS over HTTP that counts its fetches (and can be made to fail),
// and tokens signed here. keys: the private JWKs published (the first one signs by default).
async function startJwksServer({ alg = 'EdDSA' } = {}) {
  const h = { keys: [generateSigningJwk(alg)], hits: 0, failing: false };
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    if (req.url !== '/jwks') {
      res.writeHead(404).end();
      return;
    }
    h.hits += 1;
    if (h.failing) {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: h.keys.map(publicJwk) }));
  });
  server.on('connection', (c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  h.issuer = `http://127.0.0.1:${server.address().port}`;
  h.jwksUri = `${h.issuer}/jwks`;
  // A token: standard claims for `aud`, overridden by `claims`; signed by `jwk`.
  h.token = (aud, claims = {}, jwk = h.keys[0]) => {
    const now = Math.floor(Date.now() / 1000);
    return signJws({ alg: jwk.alg, typ: 'at+jwt', kid: jwk.kid }, {
      iss: h.issuer, sub: 'home-agent', aud, iat: now, exp: now + 300, jti: crypto.randomUUID(),
      scope: SCOPE, client_id: 'home-agent', ...claims,
    }, jwk);
  };
  h.stop = () => new Promise((r) => {
    server.close(() => r());
    for (const c of sockets) c.destroy();
  });
  return h;
}

// RFC 9110 §11.6.1 challenge: `Bearer k="v", k2=token`. Returns { scheme, params } or null.
function parseChallenge(h) {
  if (typeof h !== 'string') return null;
  const m = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s+([\s\S]*))?$/.exec(h);
  if (!m) return null;
  const params = {};
  let rest = m[2] ?? '';
  let i = 0;
  const skip = () => {
    while (i < rest.length && /[\s,]/.test(rest[i])) i++;
  };
  skip();
  while (i < rest.length) {
    const k = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(rest.slice(i));
    if (!k) return { scheme: m[1], params, bad: rest.slice(i) };
    i += k[0].length;
    while (rest[i] === ' ') i++;
    if (rest[i] !== '=') return { scheme: m[1], params, bad: rest.slice(i) };
    i++;
    while (rest[i] === ' ') i++;
    let v = '';
    if (rest[i] === '"') {
      i++;
      while (i < rest.length && rest[i] !== '"') {
        if (rest[i] === '\\') i++;
        v += rest[i++];
      }
      if (rest[i] !== '"') return { scheme: m[1], params, bad: 'unterminated quoted-string' };
      i++;
    } else {
      const t = /^[^\s,]+/.exec(rest.slice(i));
      v = t ? t[0] : '';
      i += v.length;
    }
    const key = k[0].toLowerCase();
    if (key in params) return { scheme: m[1], params, bad: `repeated ${key}` };
    params[key] = v;
    skip();
  }
  return { scheme: m[1], params };
}

// One HTTP request; resolves with { status, headers, text, json } (JSON bodies and SSE bodies:
// `json` is the parsed body, or the last SSE event's data).
function request(port, { method = 'POST', headers = {}, body, path: p = '/mcp', headOnly = false } = {}) {
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
      const req = http.request(
        { host: '127.0.0.1', port, method, path: p, headers: h, agent: false },
        (res) => {
          // A GET answered with a stream (a credential wrongly let through) would never end.
          if (headOnly || (method === 'GET' && /^text\/event-stream/.test(res.headers['content-type'] ?? ''))) {
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
              if (/^text\/event-stream/.test(res.headers['content-type'] ?? '')) {
                const datas = text.split('\n').filter((l) => l.startsWith('data:'));
                json = datas.length ? JSON.parse(datas.at(-1).slice(5).trim()) : undefined;
              } else {
                json = JSON.parse(text);
              }
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode, headers: res.headers, text, json });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    }),
    20_000,
    `${method} ${p}`,
  );
}

// A credential as request headers: { bearer } or { apiKey } (X-API-Key) or { raw } (any
// Authorization value) or null.
function credHeaders(cred) {
  if (!cred) return {};
  if (cred.bearer !== undefined) return { Authorization: `Bearer ${cred.bearer}` };
  if (cred.apiKey !== undefined) return { 'X-API-Key': cred.apiKey };
  if (cred.raw !== undefined) return { Authorization: cred.raw };
  throw new Error(`credHeaders: ${JSON.stringify(cred)}`);
}

const initialize = (id = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'glasstape-auth-e2e', version: '1.0.0' } },
});

let nextId = 100;
const callMsg = (name, args) => ({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args } });

// initialize + notifications/initialized with `cred`; returns the session id.
async function openSession(port, cred) {
  const r = await request(port, { headers: credHeaders(cred), body: initialize() });
  assert.equal(r.status, 200, `initialize: ${r.status} ${r.text}`);
  const sid = r.headers['mcp-session-id'];
  assert.ok(sid, `initialize must return Mcp-Session-Id: ${JSON.stringify(r.headers)}`);
  const n = await request(port, {
    headers: { ...credHeaders(cred), 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL },
    body: { jsonrpc: '2.0', method: 'notifications/initialized' },
  });
  assert.equal(n.status, 202, `notifications/initialized: ${n.status} ${n.text}`);
  return sid;
}

function sessionPost(port, cred, sid, body) {
  return request(port, {
    headers: { ...credHeaders(cred), 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL },
    body,
  });
}

// tools/call in a session; asserts HTTP 200 and a JSON-RPC answer with the request's id.
async function callTool(port, cred, sid, name, args) {
  const msg = callMsg(name, args);
  const r = await sessionPost(port, cred, sid, msg);
  assert.equal(r.status, 200, `tools/call ${name}: ${r.status} ${r.text}`);
  assert.equal(r.json?.id, msg.id, `the answer to tools/call ${name}: ${r.text}`);
  return r.json;
}

function endSession(port, cred, sid) {
  return request(port, {
    method: 'DELETE',
    headers: { ...credHeaders(cred), 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL },
  }).catch(() => {});
}

// Every record payload of an audit directory (a torn last line, being written, is skipped).
function auditPayloads(dir) {
  if (!fs.existsSync(dir)) return [];
  const files = fs.readdirSync(dir).filter((f) => /^audit(-\d{12})?\.jsonl$/.test(f)).sort();
  const out = [];
  for (const f of files) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        out.push(recordPayload(line));
      } catch {
        // a line being written
      }
    }
  }
  return out;
}

function auditText(dir) {
  if (!fs.existsSync(dir)) return '';
  return fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl'))
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n');
}

const decisions = (dir) => auditPayloads(dir).filter((p) => p.kind === 'decision');

// The first decision record whose arguments carry `marker` (record_args: full).
function decisionWith(dir, marker) {
  return decisions(dir).find((p) => JSON.stringify(p.args ?? null).includes(marker));
}

async function waitDecision(dir, marker, what = marker) {
  let hit;
  await waitUntil(() => (hit = decisionWith(dir, marker)), 10_000, `the decision record for ${what} in ${dir}`, 50);
  return hit;
}

// The denial details of a tools/call answer (asserts a policy denial).
function assertPolicyDenied(answer, ruleOrCode, what) {
  const r = answer.result;
  assert.ok(r, `${what}: a denial is a result, not an error: ${JSON.stringify(answer)}`);
  assert.equal(r.isError, true, `${what}: denied call is an isError result: ${JSON.stringify(r)}`);
  const d = r._meta?.[DECISION_META_KEY];
  assert.ok(d, `${what}: _meta["${DECISION_META_KEY}"] carries the decision: ${JSON.stringify(r)}`);
  assert.equal(d.decision, 'deny', `${what}: ${JSON.stringify(d)}`);
  if (ruleOrCode.rule) assert.equal(d.rule_id, ruleOrCode.rule, `${what}: ${JSON.stringify(d)}`);
  if (ruleOrCode.code) assert.equal(d.code, ruleOrCode.code, `${what}: ${JSON.stringify(d)}`);
  return d;
}

// ------------------------------------------------------------------------ the fixture

async function startServe({ configFile, port, env }) {
  const bin = requireBinary();
  const proc = spawn(bin, ['serve', '--config', configFile, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let log = '';
  const onData = (d) => {
    log += d.toString();
    if (log.length > 400_000) log = log.slice(-200_000);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((r) => proc.on('exit', (code, sig) => r({ code, sig })));
  try {
    await waitUntil(() => {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`glasstape serve exited early (${proc.exitCode ?? proc.signalCode}):\n${log}`);
      }
      return /serving MCP at http:\/\/127\.0\.0\.1:\d+\/mcp/.test(log);
    }, 20_000, 'glasstape serve to listen');
  } catch (e) {
    killQuietly(proc.pid);
    throw e;
  }
  let stopped = null;
  return {
    proc,
    log: () => log,
    children: () => descendants(proc.pid).filter((r) => cmdline(r.pid).includes(SPY)).map((r) => r.pid),
    async stop() {
      if (stopped) return stopped;
      const kids = descendants(proc.pid).map((r) => r.pid);
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const r = await Promise.race([exited, sleep(10_000).then(() => null)]);
      if (!r) {
        killQuietly(proc.pid);
        for (const k of kids) killQuietly(k);
        throw new Error(`glasstape serve did not stop within 10 s of SIGTERM; its log:\n${log.slice(-4000)}`);
      }
      await waitUntil(() => kids.every((k) => !isAlive(k)), 5000, 'the servers to exit');
      stopped = r;
      return r;
    },
  };
}

// Every test here is about glasstape itself: GT_E2E_MODE=direct skips them.
const skip = modes().includes('proxy') ? false : 'GT_E2E_MODE=direct: nothing to run without glasstape';

describe('glasstape serve with http.auth (authenticated agents)', { timeout: 300_000, skip }, () => {
  const F = {}; // the fixture: issuers, dirs, keys, glasstape
  let tweak = null; // what the main issuer's customizeJwt does to the next token

  // A token from the main issuer for `clientId` (default scope mcp:tools, default resource).
  async function mint(clientId, { scope = SCOPE, resource, edit } = {}) {
    tweak = edit ?? null;
    try {
      const t = await F.main.token({ clientId, scope, resource });
      F.secrets.add(t);
      return t;
    } finally {
      tweak = null;
    }
  }

  const spyFiles = () => fs.readdirSync(F.spyDir).filter((f) => /^spy-\d+\.bin$/.test(f));
  const spyBytes = () => spyFiles().map((f) => fs.readFileSync(path.join(F.spyDir, f), 'latin1')).join('');

  // alice's session in acme, opened once; the probe that proves the pipeline is alive.
  async function aliceSession() {
    if (!F.aliceSid) {
      F.aliceToken = await mint('alice');
      F.aliceSid = await openSession(F.port, { bearer: F.aliceToken });
    }
    return F.aliceSid;
  }

  // An allowed call after a refusal: once the spy and acme's log have it, anything sent
  // before it would be there too.
  async function probe() {
    const sid = await aliceSession();
    const marker = `probe-${crypto.randomUUID()}`;
    const a = await callTool(F.port, { bearer: F.aliceToken }, sid, 'echo', { message: marker });
    assert.equal(a.result?.isError, undefined, `the probe call is allowed: ${JSON.stringify(a)}`);
    await waitUntil(() => spyBytes().includes(marker), 10_000, 'the probe at the spy server', 50);
    await waitDecision(F.audit.acme, marker, 'the probe');
  }

  // Asserts a refusal: status, the WWW-Authenticate challenge, the JSON-RPC error body.
  function assertRefused(r, { status, error, scope, what, message }) {
    assert.equal(r.status, status, `${what}: HTTP ${r.status} ${r.text} (WWW-Authenticate: ${r.headers['www-authenticate']})`);
    const h = r.headers['www-authenticate'];
    if (status === 401 || error) {
      assert.ok(h, `${what}: a ${status} carries WWW-Authenticate: ${JSON.stringify(r.headers)}`);
      const c = parseChallenge(h);
      assert.ok(c && !c.bad, `${what}: WWW-Authenticate parses as a challenge: ${h}`);
      assert.equal(c.scheme, 'Bearer', `${what}: scheme: ${h}`);
      assert.equal(c.params.resource_metadata, F.metadataUrl, `${what}: resource_metadata: ${h}`);
      assert.ok(/^[\x20-\x7e]*$/.test(h), `${what}: WWW-Authenticate is printable ASCII: ${JSON.stringify(h)}`);
      if (error) {
        assert.equal(c.params.error, error, `${what}: error: ${h}`);
        assert.ok(c.params.error_description, `${what}: error_description: ${h}`);
        // RFC 6749 §5.2 / RFC 6750 §3: %x20-21 / %x23-5B / %x5D-7E.
        assert.match(c.params.error_description, /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/,
          `${what}: error_description uses only the characters RFC 6750 allows: ${h}`);
      } else {
        assert.equal(c.params.error, undefined, `${what}: no error without a credential: ${h}`);
      }
      if (scope !== undefined) assert.equal(c.params.scope, scope, `${what}: scope: ${h}`);
      for (const s of F.secrets) assert.ok(!h.includes(s), `${what}: the challenge never repeats the credential`);
    }
    assert.ok(r.json, `${what}: the body is JSON: ${r.text}`);
    assert.equal(r.json.jsonrpc, '2.0', `${what}: ${r.text}`);
    assert.equal(r.json.id, null, `${what}: id null: ${r.text}`);
    assert.equal(typeof r.json.error?.code, 'number', `${what}: a JSON-RPC error: ${r.text}`);
    if (status === 401) {
      assert.equal(r.json.error.code, -32000, `${what}: ${r.text}`);
      assert.match(r.json.error.message, /^Unauthorized:/, `${what}: ${r.text}`);
    }
    if (message) assert.match(r.json.error.message, message, `${what}: ${r.text}`);
    for (const s of F.secrets) assert.ok(!r.text.includes(s), `${what}: the body never repeats the credential`);
  }

  // A credential refused everywhere: initialize, a call in alice's session, GET and DELETE of
  // that session. Then nothing of it reached the spy server or any audit log, and alice's
  // session still works.
  async function expectRefusedEverywhere(cred, expect) {
    const sid = await aliceSession();
    const filesBefore = spyFiles().length;
    const init = await request(F.port, { headers: credHeaders(cred), body: initialize(7) });
    assertRefused(init, { ...expect, what: `${expect.what} (initialize)` });
    assert.equal(init.headers['mcp-session-id'], undefined, `${expect.what}: no session for a refused initialize`);
    const marker = `refused-${crypto.randomUUID()}`;
    const call = await sessionPost(F.port, cred, sid, callMsg('echo', { message: marker }));
    assertRefused(call, { ...expect, what: `${expect.what} (tools/call in a session)` });
    const get = await request(F.port, {
      method: 'GET',
      headers: { ...credHeaders(cred), 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL, Accept: 'text/event-stream' },
    });
    assertRefused(get, { ...expect, what: `${expect.what} (GET)` });
    const del = await request(F.port, {
      method: 'DELETE',
      headers: { ...credHeaders(cred), 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL },
    });
    assertRefused(del, { ...expect, what: `${expect.what} (DELETE)` });
    await probe(); // also proves the DELETE did not end alice's session
    assert.ok(!spyBytes().includes(marker), `${expect.what}: the refused call reached the server`);
    assert.equal(spyFiles().length, filesBefore, `${expect.what}: a refused initialize started a server`);
    for (const t of ['acme', 'globex']) {
      assert.ok(!auditText(F.audit[t]).includes(marker), `${expect.what}: the refused call is in ${t}'s audit log`);
    }
  }

  before(async () => {
    requireBinary();
    F.secrets = new Set();
    F.dir = tmpDir('gt-e2e-auth-');
    F.spyDir = path.join(F.dir, 'spy');
    F.keysDir = path.join(F.dir, 'keys');
    fs.mkdirSync(F.spyDir);
    F.port = await freePort();
    F.url = `http://127.0.0.1:${F.port}/mcp`;
    F.resource = F.url;
    F.otherResource = `http://127.0.0.1:${F.port}/other`;
    F.metadataUrl = `http://127.0.0.1:${F.port}/.well-known/oauth-protected-resource/mcp`;

    F.main = await startIssuer({
      alg: 'RS256',
      resources: { [F.resource]: [SCOPE, 'mcp:admin'], [F.otherResource]: [SCOPE] },
      clients: CLIENTS,
      ttl: 300,
      extraClaims: (_ctx, _token, client) => ({ ...PEOPLE[client.clientId] }),
      customizeJwt: (_ctx, _token, jwt) => {
        if (tweak) tweak(jwt);
      },
    });
    F.rot = await startIssuer({
      alg: 'ES256',
      resource: F.resource,
      scopes: [SCOPE],
      clients: [{ client_id: 'rot-client', client_secret: 'rot-secret' }],
    });
    F.foreign = await startIssuer({
      alg: 'RS256',
      resource: F.resource,
      scopes: [SCOPE],
      clients: [{ client_id: 'alice', client_secret: 'alice-secret' }],
      extraClaims: () => ({ ...PEOPLE.alice }),
    });
    F.dead = await startIssuer({
      alg: 'RS256',
      resource: F.resource,
      scopes: [SCOPE],
      clients: [{ client_id: 'dead-client', client_secret: 'dead-secret' }],
    });
    const deadPort = await freePort();
    F.home = await startJwksServer({ alg: 'EdDSA' }); // min_interval 2 s, acme
    F.stale = await startJwksServer({ alg: 'PS256' }); // max_age 1 s, max_stale 2 s, globex
    F.filed = await startJwksServer({ alg: 'ES256' }); // its JWKS is a file, not fetched
    F.mapped = await startJwksServer({ alg: 'ES256' }); // own audience, tenants map, ES256 only
    F.mapped.keys.push(generateSigningJwk('RS256')); // published, but not an allowed alg
    F.filedJwks = path.join(F.dir, 'filed-jwks.json');
    fs.writeFileSync(F.filedJwks, JSON.stringify({ keys: F.filed.keys.map(publicJwk) }));

    // API keys, made by glasstape itself.
    const keys = {};
    const entries = [];
    for (const [id, agent, tenant] of [
      ['ci-1', 'ci-bot', 'acme'], ['gx-1', 'gx-bot', 'globex'], ['it-1', 'it-bot', 'initech'],
      ['old-1', 'old-bot', 'acme']]) {
      const r = spawnSync(requireBinary(), ['keys', 'api-key', '--agent', agent, '--tenant', tenant, '--id', id],
        { encoding: 'utf8' });
      assert.equal(r.status, 0, `keys api-key: ${r.stderr}`);
      const [key, ...rest] = r.stdout.split('\n');
      assert.match(key, /^gtk_/, r.stdout);
      keys[id] = key;
      F.secrets.add(key);
      let entry = rest.filter((l) => !l.startsWith('#')).join('\n').trimEnd();
      if (id === 'old-1') entry += '\n    expires: 2020-01-01T00:00:00Z';
      entries.push(entry);
    }
    F.apiKeys = keys;
    F.keysFile = path.join(F.dir, 'api-keys.yaml');
    F.keysFileText = `keys:\n${entries.join('\n')}\n`;
    fs.writeFileSync(F.keysFile, F.keysFileText);

    F.audit = {};
    const gov = (t) => {
      const pdir = path.join(F.dir, 'policies', t);
      fs.mkdirSync(pdir, { recursive: true });
      fs.writeFileSync(path.join(pdir, `auth.${t}.yaml`), POLICIES[t]);
      F.audit[t] = path.join(F.dir, 'audit', t);
      return {
        policies: { dir: pdir, state_dir: path.join(F.dir, 'state', t) },
        audit: { dir: F.audit[t], record_args: 'full', fsync: 'group' },
      };
    };
    const config = {
      servers: { spy: { command: [NODE, SPY, '--record-dir', F.spyDir], restart: { max: 0 } } },
      identity: { agent_id: 'acme-config-agent', tenant: 'acme' },
      governance: gov('acme'),
      tenants: {
        globex: { identity: { agent_id: 'globex-config-agent', tenant: 'globex' }, governance: gov('globex') },
      },
      http: {
        listen: `127.0.0.1:${F.port}`,
        path: '/mcp',
        keepalive_s: 1,
        auth: {
          resource: F.resource,
          resource_name: RESOURCE_NAME,
          scopes: [SCOPE],
          issuers: [
            {
              issuer: F.main.issuer,
              jwks_uri: F.main.jwksUri,
              skew_s: 5,
              jwks_min_interval_s: 1,
              claims: { id: 'sub', tenant: 'org', roles: 'roles', attributes: { team: 'team' } },
            },
            {
              issuer: F.rot.issuer,
              jwks_uri: F.rot.jwksUri,
              jwks_min_interval_s: 0,
              claims: { tenant_value: 'acme' },
            },
            {
              issuer: F.dead.issuer,
              jwks_uri: `http://127.0.0.1:${deadPort}/jwks`,
              claims: { tenant_value: 'acme' },
            },
            {
              issuer: F.home.issuer,
              jwks_uri: F.home.jwksUri,
              jwks_min_interval_s: 2,
              claims: { tenant_value: 'acme' },
            },
            {
              issuer: F.stale.issuer,
              jwks_uri: F.stale.jwksUri,
              jwks_max_age_s: 1,
              jwks_max_stale_s: 2,
              jwks_min_interval_s: 0,
              claims: { tenant_value: 'globex' },
            },
            {
              issuer: F.mapped.issuer,
              jwks_uri: F.mapped.jwksUri,
              algorithms: ['ES256'],
              audience: F.otherResource,
              claims: { id: 'sub', tenant: 'org_id', tenants: { '0f3a': 'acme', '77b1': 'globex' } },
            },
            {
              issuer: F.filed.issuer,
              jwks_file: 'filed-jwks.json', // relative: to the config file
              claims: { tenant_value: 'acme' },
            },
          ],
          api_keys: 'api-keys.yaml', // relative: to the config file
        },
      },
    };
    F.configFile = path.join(F.dir, 'glasstape.yaml');
    fs.writeFileSync(F.configFile, JSON.stringify(config, null, 2));
    F.env = { ...process.env, GT_KEYS_DIR: F.keysDir };
    delete F.env.GT_ED25519_PRIVATE_KEY;
    F.issuers = () => [F.main, F.rot, F.dead, F.home, F.stale, F.mapped, F.filed].map((i) => i.issuer);
    F.t0 = Date.now();
    F.gt = await startServe({ configFile: F.configFile, port: F.port, env: F.env });
  });

  after(async () => {
    if (F.gt) await F.gt.stop().catch(() => {});
    for (const i of [F.main, F.rot, F.foreign, F.dead, F.home, F.stale, F.mapped, F.filed]) if (i) await i.stop().catch(() => {});
  });

  // ---------------------------------------------------------------- 1. metadata

  it('serves the RFC 9728 metadata at /.well-known/oauth-protected-resource/mcp, no credential needed', async () => {
    const r = await request(F.port, { method: 'GET', path: '/.well-known/oauth-protected-resource/mcp' });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/, JSON.stringify(r.headers));
    const m = r.json;
    assert.ok(m, `JSON: ${r.text}`);
    assert.equal(m.resource, F.resource, r.text);
    assert.deepEqual(m.authorization_servers, F.issuers(), r.text);
    assert.deepEqual(m.scopes_supported, [SCOPE], r.text);
    assert.deepEqual(m.bearer_methods_supported, ['header'], r.text);
    assert.equal(m.resource_name, RESOURCE_NAME, r.text);
    // The issuer it names is the authorization server the tokens come from.
    const as = await (await fetch(`${m.authorization_servers[0]}/.well-known/oauth-authorization-server`)).json();
    assert.equal(as.issuer, F.main.issuer);
    // The metadata is not an MCP endpoint: no session, nothing started.
    assert.equal(r.headers['mcp-session-id'], undefined);
    assert.equal(F.gt.children().length, 0, 'no server started for a metadata request');
  });

  // ---------------------------------------------------------------- 2. no credential

  it('answers a request without a credential with 401 and the metadata URL', async () => {
    const filesBefore = spyFiles().length;
    const init = await request(F.port, { body: initialize(3) });
    assertRefused(init, { status: 401, scope: SCOPE, what: 'initialize without a credential' });
    const c = parseChallenge(init.headers['www-authenticate']);
    assert.deepEqual(Object.keys(c.params).sort(), ['resource_metadata', 'scope'],
      `only resource_metadata and scope: ${init.headers['www-authenticate']}`);
    assert.equal(init.headers['mcp-session-id'], undefined);
    // GET and DELETE too, and a call in a (real) session.
    const get = await request(F.port, { method: 'GET', headers: { Accept: 'text/event-stream' } });
    assertRefused(get, { status: 401, scope: SCOPE, what: 'GET without a credential' });
    const del = await request(F.port, { method: 'DELETE', headers: { 'Mcp-Session-Id': 'x'.repeat(32) } });
    assertRefused(del, { status: 401, scope: SCOPE, what: 'DELETE without a credential' });
    const sid = await aliceSession();
    const marker = `nocred-${crypto.randomUUID()}`;
    const call = await sessionPost(F.port, null, sid, callMsg('echo', { message: marker }));
    assertRefused(call, { status: 401, scope: SCOPE, what: 'tools/call without a credential' });
    // bearer_methods_supported is ["header"]: a token in the query string is no credential.
    const qTok = await mint('alice');
    const inQuery = await request(F.port, { path: `/mcp?access_token=${encodeURIComponent(qTok)}`, body: initialize(4) });
    assertRefused(inQuery, { status: 401, scope: SCOPE, what: 'access_token in the query' });
    const inBody = await request(F.port, { body: { ...initialize(4), access_token: qTok } });
    assertRefused(inBody, { status: 401, scope: SCOPE, what: 'access_token in the body' });
    // Another scheme is no bearer credential.
    const basic = await request(F.port, { headers: { Authorization: `Basic ${Buffer.from('alice:alice-secret').toString('base64')}` }, body: initialize(4) });
    assert.equal(basic.status, 401, basic.text);
    assert.equal(parseChallenge(basic.headers['www-authenticate'])?.params.resource_metadata, F.metadataUrl);
    // An empty Bearer is no credential either.
    const empty = await request(F.port, { headers: { Authorization: 'Bearer ' }, body: initialize(4) });
    assert.equal(empty.status, 401, empty.text);
    await probe();
    assert.ok(!spyBytes().includes(marker), 'the unauthenticated call reached the server');
    assert.ok(!auditText(F.audit.acme).includes(marker), 'the unauthenticated call was judged');
    // alice's session (opened above) is the only server process.
    assert.equal(spyFiles().length, Math.max(filesBefore, 1), 'only alice\'s session started a server');
    // The SDK's own parser reads the same URL out of the challenge.
    const { extractWWWAuthenticateParams } = await import('@modelcontextprotocol/sdk/client/auth.js');
    const fake = new Response(null, { status: 401, headers: { 'WWW-Authenticate': init.headers['www-authenticate'] } });
    const p = extractWWWAuthenticateParams(fake);
    assert.equal(String(p.resourceMetadataUrl), F.metadataUrl, JSON.stringify(p));
    assert.equal(p.scope, SCOPE, JSON.stringify(p));
  });

  // ---------------------------------------------------------------- 3. the SDK client

  it('the official SDK client discovers the issuer, gets a token by itself and calls through GlassTape', async () => {
    // Discovery, as the SDK does it, reads GlassTape's metadata.
    const prm = await discoverOAuthProtectedResourceMetadata(new URL(F.url));
    assert.equal(prm.resource, F.resource);
    assert.deepEqual(prm.authorization_servers, F.issuers());
    assert.deepEqual(prm.scopes_supported, [SCOPE]);
    const info = await discoverOAuthServerInfo(new URL(F.url));
    assert.equal(String(info.authorizationServerUrl), F.main.issuer);
    assert.equal(info.authorizationServerMetadata?.token_endpoint, F.main.tokenEndpoint);

    // The full flow: 401 → RFC 9728 → RFC 8414 → client_credentials with resource → retry.
    const seen = [];
    const tap = async (u, init) => {
      const res = await fetch(u, init);
      const auth = new Headers(init?.headers).get('authorization');
      if (auth?.startsWith('Bearer ')) F.secrets.add(auth.slice(7));
      const body = res.status >= 400 ? await res.clone().text().catch(() => '') : undefined;
      seen.push({
        url: String(u), method: init?.method ?? 'GET', status: res.status, auth: !!auth,
        ...(body !== undefined ? { body: body.slice(0, 300), challenge: res.headers.get('www-authenticate') } : {}),
        ...(auth?.startsWith('Bearer ') ? { scope: (() => { try { return decodeJwt(auth.slice(7)).payload.scope; } catch { return '?'; } })() } : {}),
      });
      return res;
    };
    const provider = new ClientCredentialsProvider({
      clientId: 'alice',
      clientSecret: 'alice-secret',
      expectedIssuer: F.main.issuer,
      // SDK 1.32.2's fetchToken sends clientMetadata.scope for client_credentials, not the
      // challenge's scope nor scopes_supported: the client names the scope itself.
      scope: SCOPE,
    });
    const transport = new StreamableHTTPClientTransport(new URL(F.url), { authProvider: provider, fetch: tap });
    const client = new Client({ name: 'glasstape-auth-e2e', version: '1.0.0' }, { capabilities: {} });
    try {
      await withTimeout(client.connect(transport), 30_000, 'SDK connect with client_credentials')
        .catch((e) => { e.message += `\nrequests: ${JSON.stringify(seen, null, 1)}`; throw e; });
      const first = seen.find((s) => s.url === F.url);
      assert.equal(first?.status, 401, `the first MCP request is refused: ${JSON.stringify(seen)}`);
      assert.ok(seen.some((s) => s.url === F.metadataUrl && s.status === 200),
        `the SDK read GlassTape's metadata: ${JSON.stringify(seen)}`);
      assert.ok(seen.some((s) => s.url === F.main.tokenEndpoint && s.status === 200),
        `the SDK got a token from the issuer: ${JSON.stringify(seen)}`);
      const tokens = provider.tokens();
      assert.ok(tokens?.access_token, 'the provider holds the token');
      const { payload } = decodeJwt(tokens.access_token);
      assert.equal(payload.aud, F.resource, 'the SDK asked for a token for this resource');
      assert.equal(payload.iss, F.main.issuer);
      assert.match(payload.scope ?? '', /(^| )mcp:tools( |$)/, 'the token grants mcp:tools');
      assert.equal(client.getServerVersion()?.name, 'spy-server');

      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), ['echo', 'wait'], JSON.stringify(tools));
      const marker = `sdk-${crypto.randomUUID()}`;
      const ok = await client.callTool({ name: 'echo', arguments: { message: marker } });
      assert.equal(ok.isError, undefined, JSON.stringify(ok));
      assert.equal(JSON.parse(textOf(ok)).message, marker, JSON.stringify(ok));
      const denied = await client.callTool({ name: 'echo', arguments: { message: 'say the Forbidden word' } });
      assertPolicyDenied({ result: denied }, { rule: 'deny-forbidden-echo' }, 'SDK denied call');
      assert.match(textOf(denied), /forbidden word/i, textOf(denied));
      // The denied call never reached the server; the allowed one did, as alice of acme.
      assert.ok(spyBytes().includes(marker));
      assert.ok(!spyBytes().includes('say the Forbidden word'), 'a denied call reached the server');
      const rec = await waitDecision(F.audit.acme, marker);
      assert.equal(rec.agent, 'alice', JSON.stringify(rec));
      assert.equal(rec.tenant, 'acme', JSON.stringify(rec));
      assert.equal(rec.decision, 'allow', JSON.stringify(rec));
      assert.deepEqual(rec.auth, { issuer: F.main.issuer, jti: payload.jti, method: 'jwt' }, JSON.stringify(rec));
      // Every MCP request after the first carried the token.
      const mcp = seen.filter((s) => s.url === F.url);
      assert.ok(mcp.slice(1).every((s) => s.auth), JSON.stringify(seen));
    } finally {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    }
  });

  // ---------------------------------------------------------------- 4. refused tokens

  it('a valid token is accepted (the control for the refusals)', async () => {
    const t = await mint('bob');
    const sid = await openSession(F.port, { bearer: t });
    const a = await callTool(F.port, { bearer: t }, sid, 'echo', { message: 'bob says hi' });
    assert.equal(a.result?.isError, undefined, JSON.stringify(a));
    // The auth-scheme is case-insensitive (RFC 9110 §11.1).
    const lower = await callTool(F.port, { raw: `bearer ${t}` }, sid, 'echo', { message: 'lowercase scheme' });
    assert.equal(lower.result?.isError, undefined, JSON.stringify(lower));
    await endSession(F.port, { bearer: t }, sid);
  });

  it('refuses an expired token: 401 invalid_token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const t = await mint('bob', {
      edit: (jwt) => {
        jwt.payload.iat = now - 7200;
        jwt.payload.exp = now - 3600;
      },
    });
    assert.ok(decodeJwt(t).payload.exp < now, 'the token is expired');
    await expectRefusedEverywhere({ bearer: t }, { status: 401, error: 'invalid_token', what: 'expired token' });
  });

  it('refuses a token that is not yet valid (nbf in the future): 401 invalid_token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const t = await mint('bob', { edit: (jwt) => { jwt.payload.nbf = now + 3600; } });
    assert.ok(decodeJwt(t).payload.nbf > now);
    await expectRefusedEverywhere({ bearer: t }, { status: 401, error: 'invalid_token', what: 'nbf in the future' });
  });

  it('honours skew_s (5 s): a token 2 s past exp or 2 s before nbf is accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const [what, edit] of [
      ['exp 2 s ago', (jwt) => { jwt.payload.iat = now - 60; jwt.payload.exp = now - 2; }],
      ['nbf in 2 s', (jwt) => { jwt.payload.nbf = now + 2; }],
    ]) {
      const t = await mint('bob', { edit });
      const r = await request(F.port, { headers: credHeaders({ bearer: t }), body: initialize(5) });
      assert.equal(r.status, 200, `${what}: ${r.status} ${r.text}`);
      await endSession(F.port, { bearer: t }, r.headers['mcp-session-id']);
    }
    // Just beyond the leeway: refused.
    const late = await mint('bob', { edit: (jwt) => { jwt.payload.iat = now - 120; jwt.payload.exp = now - 30; } });
    await expectRefusedEverywhere({ bearer: late }, { status: 401, error: 'invalid_token', what: 'exp 30 s ago (skew 5 s)' });
  });

  it('refuses a token issued in the future (iat beyond skew_s): 401 invalid_token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const t = await mint('bob', { edit: (jwt) => { jwt.payload.iat = now + 3600; jwt.payload.exp = now + 7200; } });
    await expectRefusedEverywhere({ bearer: t }, { status: 401, error: 'invalid_token', what: 'iat an hour ahead' });
  });

  it('refuses a token for another resource (wrong audience): 401 invalid_token', async () => {
    const t = await mint('bob', { resource: F.otherResource });
    assert.equal(decodeJwt(t).payload.aud, F.otherResource);
    await expectRefusedEverywhere({ bearer: t }, { status: 401, error: 'invalid_token', what: 'wrong audience' });
  });

  it('refuses a token of an issuer the config does not name: 401 invalid_token', async () => {
    const t = await F.foreign.token({ clientId: 'alice', scope: SCOPE });
    F.secrets.add(t);
    assert.equal(decodeJwt(t).payload.aud, F.resource, 'the foreign token is for this resource');
    await expectRefusedEverywhere({ bearer: t }, { status: 401, error: 'invalid_token', what: 'foreign issuer' });
    // The same claims with the real issuer's `iss`, still signed by the foreign key.
    const { header, payload } = decodeJwt(t);
    const foreignKid = header.kid;
    assert.ok(!F.main.publishedJwks.some((k) => k.kid === foreignKid));
    const forged = `${b64u(header)}.${b64u({ ...payload, iss: F.main.issuer })}.${t.split('.')[2]}`;
    F.secrets.add(forged);
    await expectRefusedEverywhere({ bearer: forged }, { status: 401, error: 'invalid_token', what: 'iss rewritten' });
  });

  it('refuses a token with a bad signature: 401 invalid_token', async () => {
    const t = await mint('bob');
    const [h, , s] = t.split('.');
    const p = decodeJwt(t).payload;
    const tampered = `${h}.${b64u({ ...p, sub: 'alice', roles: ['admin'] })}.${s}`;
    F.secrets.add(tampered);
    await expectRefusedEverywhere({ bearer: tampered }, { status: 401, error: 'invalid_token', what: 'payload edited' });
    // Signed by a key the issuer never published, under the issuer's own kid.
    const rogue = generateSigningJwk('RS256');
    const own = signJws({ alg: 'RS256', typ: 'at+jwt', kid: F.main.kid }, p, rogue);
    F.secrets.add(own);
    await expectRefusedEverywhere({ bearer: own }, { status: 401, error: 'invalid_token', what: 'rogue key, real kid' });
  });

  it('refuses a token signed with a key the issuer never published (unknown kid): 401 invalid_token', async () => {
    const p = decodeJwt(await mint('bob')).payload;
    const rogue = generateSigningJwk('RS256');
    const t = signJws({ alg: 'RS256', typ: 'at+jwt', kid: rogue.kid }, { ...p, jti: crypto.randomUUID() }, rogue);
    F.secrets.add(t);
    await expectRefusedEverywhere({ bearer: t }, { status: 401, error: 'invalid_token', what: 'unknown kid' });
    // And again a second later (a second JWKS fetch is allowed then): still refused.
    await sleep(1100);
    const t2 = signJws({ alg: 'RS256', typ: 'at+jwt', kid: rogue.kid }, { ...p, jti: crypto.randomUUID() }, rogue);
    F.secrets.add(t2);
    const r = await request(F.port, { headers: credHeaders({ bearer: t2 }), body: initialize(8) });
    assertRefused(r, { status: 401, error: 'invalid_token', what: 'unknown kid, again' });
  });

  it('refuses alg confusion: alg none, and HS256 keyed with the issuer\'s public key: 401 invalid_token', async () => {
    const p = decodeJwt(await mint('bob')).payload;
    for (const alg of ['none', 'None', 'NONE']) {
      for (const sig of ['', 'c2ln']) {
        const t = `${b64u({ alg, typ: 'at+jwt', kid: F.main.kid })}.${b64u({ ...p, jti: crypto.randomUUID() })}.${sig}`;
        F.secrets.add(t);
        await expectRefusedEverywhere({ bearer: t }, { status: 401, error: 'invalid_token', what: `alg ${alg}, signature '${sig}'` });
      }
    }
    const jwk = F.main.publishedJwks.find((k) => k.kid === F.main.kid);
    const pub = crypto.createPublicKey({ key: publicJwk(jwk), format: 'jwk' });
    const secrets = {
      'SPKI PEM': pub.export({ type: 'spki', format: 'pem' }),
      'PKCS#1 PEM': pub.export({ type: 'pkcs1', format: 'pem' }),
      'SPKI DER': pub.export({ type: 'spki', format: 'der' }),
      'JWK JSON': JSON.stringify(jwk),
      'JWK n': Buffer.from(jwk.n, 'base64url'),
    };
    for (const [what, secret] of Object.entries(secrets)) {
      for (const kid of [F.main.kid, undefined]) {
        const header = { alg: 'HS256', typ: 'at+jwt', ...(kid ? { kid } : {}) };
        const t = hs256(header, { ...p, jti: crypto.randomUUID() }, secret);
        F.secrets.add(t);
        await expectRefusedEverywhere({ bearer: t }, {
          status: 401, error: 'invalid_token', what: `HS256 keyed with the ${what}${kid ? '' : ' (no kid)'}`,
        });
      }
    }
  });

  it('refuses a token without the required scope: 403 insufficient_scope with scope="mcp:tools"', async () => {
    for (const scope of ['', 'mcp:admin']) {
      const t = await mint('bob', { scope });
      const granted = decodeJwt(t).payload.scope;
      assert.ok(!String(granted ?? '').split(' ').includes(SCOPE), `the token lacks ${SCOPE}: ${granted}`);
      await expectRefusedEverywhere({ bearer: t }, {
        status: 403, error: 'insufficient_scope', scope: SCOPE, what: `scope ${granted ?? '(none)'}`,
      });
    }
  });

  it('refuses an opaque token and a token naming no tenant: 401 invalid_token', async () => {
    const opaque = await F.main.token({ clientId: 'bob', scope: SCOPE, resource: null });
    F.secrets.add(opaque);
    await expectRefusedEverywhere({ bearer: opaque }, { status: 401, error: 'invalid_token', what: 'opaque token' });
    const t = await mint('noorg');
    assert.equal(decodeJwt(t).payload.org, undefined);
    await expectRefusedEverywhere({ bearer: t }, { status: 401, error: 'invalid_token', what: 'no tenant claim' });
  });

  it('follows a key rotation at the issuer: the new kid is fetched; a retired key is refused', async () => {
    const first = await F.rot.token({ clientId: 'rot-client', scope: SCOPE });
    F.secrets.add(first);
    const sid = await openSession(F.port, { bearer: first });
    const a = await callTool(F.port, { bearer: first }, sid, 'echo', { message: 'before rotation' });
    assert.equal(a.result?.isError, undefined, JSON.stringify(a));
    // A token of the old key, not shown to GlassTape before the rotation.
    const oldKeyToken = await F.rot.token({ clientId: 'rot-client', scope: SCOPE });
    F.secrets.add(oldKeyToken);
    const { kid, previousKid } = await F.rot.rotateKeys({ keepOld: false });
    assert.notEqual(kid, previousKid);
    const next = await F.rot.token({ clientId: 'rot-client', scope: SCOPE });
    F.secrets.add(next);
    assert.equal(decodeJwt(next).header.kid, kid);
    const marker = `rotated-${crypto.randomUUID()}`;
    const b = await callTool(F.port, { bearer: next }, sid, 'echo', { message: marker });
    assert.equal(b.result?.isError, undefined, `a token of the new key works: ${JSON.stringify(b)}`);
    const rec = await waitDecision(F.audit.acme, marker);
    assert.equal(rec.agent, 'rot-client', JSON.stringify(rec));
    assert.equal(rec.auth?.issuer, F.rot.issuer, JSON.stringify(rec));
    // The old key is no longer published: its token, never seen before, is refused.
    assert.equal(decodeJwt(oldKeyToken).header.kid, previousKid);
    await expectRefusedEverywhere({ bearer: oldKeyToken }, { status: 401, error: 'invalid_token', what: 'retired key' });
    await endSession(F.port, { bearer: next }, sid);
  });

  it('answers 503 with Retry-After when the issuer\'s keys cannot be had', async () => {
    const t = await F.dead.token({ clientId: 'dead-client', scope: SCOPE });
    F.secrets.add(t);
    const filesBefore = spyFiles().length;
    const sid = await aliceSession();
    const init = await request(F.port, { headers: credHeaders({ bearer: t }), body: initialize(9) });
    assert.equal(init.status, 503, `${init.status} ${init.text}`);
    assert.ok(init.headers['retry-after'], `Retry-After: ${JSON.stringify(init.headers)}`);
    assert.equal(init.headers['mcp-session-id'], undefined);
    const marker = `dead-${crypto.randomUUID()}`;
    const call = await sessionPost(F.port, { bearer: t }, sid, callMsg('echo', { message: marker }));
    assert.equal(call.status, 503, `${call.status} ${call.text}`);
    assert.ok(!call.text.includes(t), 'the body never repeats the token');
    await probe();
    assert.ok(!spyBytes().includes(marker));
    assert.ok(!auditText(F.audit.acme).includes(marker));
    assert.equal(spyFiles().length, filesBefore);
  });

  it('takes `aud` as an array that holds the resource; refuses one that does not', async () => {
    const ok = F.home.token([F.otherResource, F.resource]);
    F.secrets.add(ok);
    const r = await request(F.port, { headers: credHeaders({ bearer: ok }), body: initialize(13) });
    assert.equal(r.status, 200, `aud [other, resource]: ${r.status} ${r.text}`);
    await endSession(F.port, { bearer: ok }, r.headers['mcp-session-id']);
    const bad = F.home.token([F.otherResource, 'http://127.0.0.1:1/mcp']);
    F.secrets.add(bad);
    await expectRefusedEverywhere({ bearer: bad }, { status: 401, error: 'invalid_token', what: 'aud array without the resource' });
    const none = F.home.token(undefined);
    F.secrets.add(none);
    assert.equal(decodeJwt(none).payload.aud, undefined);
    await expectRefusedEverywhere({ bearer: none }, { status: 401, error: 'invalid_token', what: 'no aud' });
    // Other claims an access token cannot go without, and another configured issuer's name.
    for (const [what, claims] of [
      ['no iss', { iss: undefined }],
      ['no exp', { exp: undefined }],
      ['iss of another configured issuer (signed with this one\'s key)', { iss: F.mapped.issuer }],
      ['iss of the main issuer (signed with this one\'s key)', { iss: F.main.issuer }],
    ]) {
      const t = F.home.token(F.resource, claims);
      F.secrets.add(t);
      await expectRefusedEverywhere({ bearer: t }, { status: 401, error: 'invalid_token', what });
    }
  });

  it('applies an issuer\'s own audience, algorithms and tenants map', async () => {
    const [es, rs] = F.mapped.keys;
    // audience: the issuer's own, not `resource`.
    const good = F.mapped.token(F.otherResource, { sub: 'mapped-bot', org_id: '77b1' }, es);
    F.secrets.add(good);
    const sid = await openSession(F.port, { bearer: good });
    const marker = `mapped-${crypto.randomUUID()}`;
    const a = await callTool(F.port, { bearer: good }, sid, 'echo', { message: marker });
    assert.equal(a.result?.isError, undefined, JSON.stringify(a));
    const rec = await waitDecision(F.audit.globex, marker);
    assert.equal(rec.tenant, 'globex', `org_id 77b1 maps to globex: ${JSON.stringify(rec)}`);
    assert.equal(rec.agent, 'mapped-bot', JSON.stringify(rec));
    await endSession(F.port, { bearer: good }, sid);
    const refusals = [
      ['aud = resource, not the issuer\'s audience', F.mapped.token(F.resource, { sub: 'mapped-bot', org_id: '77b1' }, es)],
      ['RS256, a published key but not in algorithms', F.mapped.token(F.otherResource, { sub: 'mapped-bot', org_id: '77b1' }, rs)],
      ['org_id not in the tenants map', F.mapped.token(F.otherResource, { sub: 'mapped-bot', org_id: 'globex' }, es)],
      ['sub a number', F.mapped.token(F.otherResource, { sub: 42, org_id: '0f3a' }, es)],
    ];
    for (const [what, t] of refusals) {
      F.secrets.add(t);
      await expectRefusedEverywhere({ bearer: t }, { status: 401, error: 'invalid_token', what });
    }
  });

  it('keeps what a token says out of the refusal\'s headers (quotes, CR LF, non-ASCII)', async () => {
    const nasty = 'x"\\\r\nX-Injected: 1\r\n\u00e9\u202e';
    const cases = [
      ['nasty iss', F.home.token(F.resource, { iss: `http://evil/${nasty}` })],
      ['nasty aud', F.home.token(`http://evil/${nasty}`)],
      ['nasty kid', signJws({ alg: 'EdDSA', typ: 'at+jwt', kid: nasty }, {
        iss: F.home.issuer, sub: 'x', aud: F.resource, exp: Math.floor(Date.now() / 1000) + 60, scope: SCOPE }, F.home.keys[0])],
      ['nasty tenant claim', F.mapped.token(F.otherResource, { sub: 'x', org_id: nasty }, F.mapped.keys[0])],
      ['nasty sub', F.mapped.token(F.otherResource, { sub: nasty, org_id: '0f3a' }, F.mapped.keys[0])],
      ['nasty alg', `${b64u({ alg: nasty, kid: 'k' })}.${b64u({ iss: F.main.issuer })}.c2ln`],
    ];
    for (const [what, t] of cases) {
      F.secrets.add(t);
      const r = await request(F.port, { headers: credHeaders({ bearer: t }), body: initialize(22) });
      assert.equal(r.headers['x-injected'], undefined, `${what}: a header was injected`);
      assertRefused(r, { status: 401, error: 'invalid_token', what });
    }
    const badKey = `gtk_${'A'.repeat(20)}"\\x`;
    const r = await request(F.port, { headers: { 'X-API-Key': badKey }, body: initialize(23) });
    F.secrets.add(badKey);
    assertRefused(r, { status: 401, error: 'invalid_token', what: 'API key with quotes' });
  });

  it('fetches the JWKS at most once per jwks_min_interval_s for unknown kids, then finds a new key', async () => {
    // The set is fetched (at start or first use); a good token needs no fetch.
    const good = F.home.token(F.resource);
    F.secrets.add(good);
    assert.equal((await request(F.port, { headers: credHeaders({ bearer: good }), body: initialize(14) })).status, 200);
    await sleep(2100); // past min_interval since whatever fetch came before
    const h0 = F.home.hits;
    // 12 tokens with made-up kids at once: one fetch at most.
    const rogue = Array.from({ length: 12 }, () => generateSigningJwk('EdDSA'));
    const answers = await Promise.all(rogue.map((k) => {
      const t = F.home.token(F.resource, {}, k);
      F.secrets.add(t);
      return request(F.port, { headers: credHeaders({ bearer: t }), body: initialize(15) });
    }));
    for (const a of answers) assertRefused(a, { status: 401, error: 'invalid_token', what: 'made-up kid' });
    await sleep(300);
    const burst = F.home.hits - h0;
    assert.ok(burst <= 1, `${burst} JWKS fetches for 12 unknown kids within jwks_min_interval_s (2 s)`);
    // A key the issuer publishes now: found once the interval has passed.
    await sleep(2100);
    const next = generateSigningJwk('EdDSA');
    F.home.keys.unshift(next);
    const t = F.home.token(F.resource, {}, next);
    F.secrets.add(t);
    const r = await request(F.port, { headers: credHeaders({ bearer: t }), body: initialize(16) });
    assert.equal(r.status, 200, `a token of the new key: ${r.status} ${r.text}`);
    assert.ok(F.home.hits > h0 + burst, 'the new kid made GlassTape fetch the JWKS again');
    await endSession(F.port, { bearer: t }, r.headers['mcp-session-id']);
  });

  it('reads a jwks_file, and again when it changes', async () => {
    const t = F.filed.token(F.resource);
    F.secrets.add(t);
    const sid = await openSession(F.port, { bearer: t });
    const a = await callTool(F.port, { bearer: t }, sid, 'echo', { message: 'filed' });
    assert.equal(a.result?.isError, undefined, JSON.stringify(a));
    await endSession(F.port, { bearer: t }, sid);
    // A new key, written over the file (renamed into place).
    const next = generateSigningJwk('ES256');
    fs.writeFileSync(`${F.filedJwks}.new`, JSON.stringify({ keys: [next].map(publicJwk) }));
    fs.renameSync(`${F.filedJwks}.new`, F.filedJwks);
    let r;
    await waitUntil(async () => {
      const t2 = F.filed.token(F.resource, {}, next);
      F.secrets.add(t2);
      r = await request(F.port, { headers: credHeaders({ bearer: t2 }), body: initialize(17) });
      return r.status === 200;
    }, 10_000, 'a token of the key newly in the jwks_file', 250).catch(() => {});
    assert.equal(r.status, 200, `a token of the new key in the file: ${r.status} ${r.text}`);
    // The old key left the file: a new token of it is refused.
    const old = F.filed.token(F.resource);
    F.secrets.add(old);
    await expectRefusedEverywhere({ bearer: old }, { status: 401, error: 'invalid_token', what: 'key removed from the jwks_file' });
  });

  it('refuses every token of an issuer whose keys are stale past jwks_max_stale_s: 503', async () => {
    const cached = F.stale.token(F.resource);
    F.secrets.add(cached);
    const sid = await openSession(F.port, { bearer: cached }); // verified, so remembered
    F.stale.failing = true;
    const failingSince = Date.now();
    const h0 = F.stale.hits;
    try {
      // Each try with a token never shown before (a verified one is remembered).
      let r;
      await waitUntil(async () => {
        const fresh = F.stale.token(F.resource);
        F.secrets.add(fresh);
        r = await request(F.port, { headers: credHeaders({ bearer: fresh }), body: initialize(18) });
        return r.status !== 200;
      }, 10_000, 'the stale issuer\'s tokens to be refused', 250).catch(() => {});
      assert.equal(r.status, 503, `a new token of the issuer ${Date.now() - failingSince} ms after its JWKS began to fail `
        + `(jwks_max_age_s 1, jwks_max_stale_s 2; ${F.stale.hits - h0} failed fetches since): ${r.status} ${r.text}`);
      assert.ok(r.headers['retry-after'], JSON.stringify(r.headers));
      await sleep(1000);
      // "after this without a good fetch, refuse all": a token verified before is refused too.
      const init = await request(F.port, { headers: credHeaders({ bearer: cached }), body: initialize(19) });
      const marker = `stale-${crypto.randomUUID()}`;
      const call = await sessionPost(F.port, { bearer: cached }, sid, callMsg('echo', { message: marker }));
      await sleep(300);
      const reached = spyBytes().includes(marker);
      assert.deepEqual([init.status, call.status], [503, 503],
        `a token verified before the keys went stale, ${Date.now() - failingSince} ms after the JWKS began to fail: `
        + `initialize ${init.status}, tools/call in its session ${call.status} (the call ${reached ? 'reached' : 'did not reach'} the server)`);
      assert.ok(!spyBytes().includes(marker), 'a call with a stale issuer\'s token reached the server');
      assert.ok(!auditText(F.audit.globex).includes(marker), 'a call with a stale issuer\'s token was judged');
    } finally {
      F.stale.failing = false;
    }
    // Keys again: accepted again.
    let ok;
    await waitUntil(async () => {
      const t = F.stale.token(F.resource);
      F.secrets.add(t);
      ok = await request(F.port, { headers: credHeaders({ bearer: t }), body: initialize(20) });
      return ok.status === 200;
    }, 10_000, 'the issuer to be trusted again', 250).catch(() => {});
    assert.equal(ok.status, 200, `after a good fetch: ${ok.status} ${ok.text}`);
  });

  // ---------------------------------------------------------------- 5. API keys

  it('takes an API key from `glasstape keys api-key` as Bearer and as X-API-Key; revoking it in the file refuses it', async () => {
    const key = F.apiKeys['ci-1'];
    for (const cred of [{ bearer: key }, { apiKey: key }]) {
      const sid = await openSession(F.port, cred);
      const marker = `apikey-${crypto.randomUUID()}`;
      const a = await callTool(F.port, cred, sid, 'echo', { message: marker });
      assert.equal(a.result?.isError, undefined, JSON.stringify(a));
      const rec = await waitDecision(F.audit.acme, marker);
      assert.equal(rec.agent, 'ci-bot', JSON.stringify(rec));
      assert.equal(rec.tenant, 'acme', JSON.stringify(rec));
      assert.deepEqual(rec.auth, { key_id: 'ci-1', method: 'api_key' }, JSON.stringify(rec));
      await endSession(F.port, cred, sid);
    }
    // An unknown key, in both places.
    const unknown = `gtk_${crypto.randomBytes(32).toString('base64url')}`;
    F.secrets.add(unknown);
    await expectRefusedEverywhere({ bearer: unknown }, { status: 401, error: 'invalid_token', what: 'unknown API key (Bearer)' });
    await expectRefusedEverywhere({ apiKey: unknown }, { status: 401, error: 'invalid_token', what: 'unknown API key (X-API-Key)' });

    // A key past its `expires`.
    await expectRefusedEverywhere({ apiKey: F.apiKeys['old-1'] }, { status: 401, error: 'invalid_token', what: 'expired API key' });

    // Revoke: a new file renamed over the old one, no restart.
    const sid = await openSession(F.port, { apiKey: key });
    const text = F.keysFileText.replace(/(  - id: ci-1\n(?:    .*\n|      .*\n)*)/, (e) => `${e}    revoked: true\n`);
    assert.notEqual(text, F.keysFileText, 'the entry was edited');
    const tmp = `${F.keysFile}.new`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, F.keysFile);
    let last;
    await waitUntil(async () => {
      last = await request(F.port, { headers: credHeaders({ apiKey: key }), body: initialize(11) });
      return last.status !== 200;
    }, 10_000, 'the revoked key to be refused', 250).catch(() => {});
    assertRefused(last, { status: 401, error: 'invalid_token', what: 'revoked key (initialize)' });
    await expectRefusedEverywhere({ bearer: key }, { status: 401, error: 'invalid_token', what: 'revoked API key (Bearer)' });
    await expectRefusedEverywhere({ apiKey: key }, { status: 401, error: 'invalid_token', what: 'revoked API key (X-API-Key)' });
    const inSession = await sessionPost(F.port, { apiKey: key }, sid, callMsg('echo', { message: 'after revocation' }));
    assertRefused(inSession, { status: 401, error: 'invalid_token', what: 'revoked key in its own session' });
    // The other keys of the file still work.
    const gx = await openSession(F.port, { apiKey: F.apiKeys['gx-1'] });
    await endSession(F.port, { apiKey: F.apiKeys['gx-1'] }, gx);

    // api_keys.hpp: an edit that does not load leaves the last good file in force; a removed
    // file refuses every key until it is back.
    const good = fs.readFileSync(F.keysFile, 'utf8');
    const gxTry = () => request(F.port, { headers: credHeaders({ apiKey: F.apiKeys['gx-1'] }), body: initialize(21) });
    fs.writeFileSync(`${F.keysFile}.new`, `${good}  - id: broken\n    sha256: nothex\n`);
    fs.renameSync(`${F.keysFile}.new`, F.keysFile);
    await sleep(1500);
    const still = await gxTry();
    assert.equal(still.status, 200, `a broken edit keeps the last good keys: ${still.status} ${still.text}`);
    await endSession(F.port, { apiKey: F.apiKeys['gx-1'] }, still.headers['mcp-session-id']);
    fs.rmSync(F.keysFile);
    let gone;
    await waitUntil(async () => (gone = await gxTry()).status !== 200, 10_000, 'keys refused without the file', 250)
      .catch(() => {});
    assertRefused(gone, { status: 401, error: 'invalid_token', what: 'API key with the keys file removed' });
    fs.writeFileSync(`${F.keysFile}.new`, good);
    fs.renameSync(`${F.keysFile}.new`, F.keysFile);
    let back;
    await waitUntil(async () => (back = await gxTry()).status === 200, 10_000, 'keys taken again', 250).catch(() => {});
    assert.equal(back.status, 200, `the file is back: ${back.status} ${back.text}`);
    await endSession(F.port, { apiKey: F.apiKeys['gx-1'] }, back.headers['mcp-session-id']);
  });

  // ---------------------------------------------------------------- 6. sessions

  it('binds a session to its principal: another principal\'s valid credential gets 404', async () => {
    const aTok = await mint('alice');
    const bTok = await mint('bob');
    const gTok = await mint('gina');
    const sid = await openSession(F.port, { bearer: aTok });
    const list = { jsonrpc: '2.0', id: 31, method: 'tools/list' };
    const unknown = await sessionPost(F.port, { bearer: bTok }, `${'0'.repeat(32)}`, list);
    assert.equal(unknown.status, 404, `an unknown session: ${unknown.text}`);
    for (const [who, cred] of [['bob (same tenant)', { bearer: bTok }], ['gina (other tenant)', { bearer: gTok }],
      ['an API key of gx-bot', { apiKey: F.apiKeys['gx-1'] }]]) {
      const marker = `hijack-${crypto.randomUUID()}`;
      const post = await sessionPost(F.port, cred, sid, callMsg('echo', { message: marker }));
      assert.equal(post.status, 404, `${who}: ${post.status} ${post.text}`);
      assert.equal(post.json?.error?.code, -32001, `${who}: ${post.text}`);
      assert.match(post.json?.error?.message ?? '', /^Session not found/, `${who}: ${post.text}`);
      const listed = await sessionPost(F.port, cred, sid, list);
      assert.equal(listed.status, unknown.status, `${who}: as an unknown session`);
      assert.equal(listed.text, unknown.text, `${who}: exactly as an unknown session`);
      const get = await request(F.port, {
        method: 'GET',
        headers: { ...credHeaders(cred), 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL, Accept: 'text/event-stream' },
        headOnly: true,
      });
      assert.equal(get.status, 404, `${who}: GET`);
      const del = await request(F.port, {
        method: 'DELETE',
        headers: { ...credHeaders(cred), 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL },
      });
      assert.equal(del.status, 404, `${who}: DELETE ${del.text}`);
      assert.ok(!spyBytes().includes(marker), `${who}: the call reached alice's server`);
    }
    // The same agent id in another tenant is another principal.
    const homeTok = F.home.token(F.resource, { sub: 'twin' }); // acme
    const staleTok = F.stale.token(F.resource, { sub: 'twin' }); // globex
    F.secrets.add(homeTok);
    F.secrets.add(staleTok);
    const twinSid = await openSession(F.port, { bearer: homeTok });
    const twin = await sessionPost(F.port, { bearer: staleTok }, twinSid, list);
    assert.equal(twin.status, 404, `agent twin of globex in twin of acme's session: ${twin.status} ${twin.text}`);
    assert.equal(twin.text, unknown.text, 'exactly as an unknown session');
    const twinOwn = await sessionPost(F.port, { bearer: homeTok }, twinSid, list);
    assert.equal(twinOwn.status, 200, twinOwn.text);
    await endSession(F.port, { bearer: homeTok }, twinSid);
    // alice's own credential works, and so does another token of hers (same principal).
    const own = await callTool(F.port, { bearer: aTok }, sid, 'echo', { message: 'mine' });
    assert.equal(own.result?.isError, undefined, JSON.stringify(own));
    const aTok2 = await mint('alice');
    assert.notEqual(aTok2, aTok);
    const again = await callTool(F.port, { bearer: aTok2 }, sid, 'echo', { message: 'still mine' });
    assert.equal(again.result?.isError, undefined, JSON.stringify(again));
    const del = await request(F.port, {
      method: 'DELETE',
      headers: { ...credHeaders({ bearer: aTok }), 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': PROTOCOL },
    });
    assert.ok(del.status >= 200 && del.status < 300, `alice ends her session: ${del.status} ${del.text}`);
  });

  // ---------------------------------------------------------------- 7. tenants

  it('puts each principal in its tenant: own audit log, auth in the receipt, one key per agent; unknown tenant 403', async () => {
    const who = [
      { name: 'alice', tenant: 'acme', cred: { bearer: await mint('alice') }, method: 'jwt' },
      { name: 'gina', tenant: 'globex', cred: { bearer: await mint('gina') }, method: 'jwt' },
      { name: 'svc|7', tenant: 'acme', cred: { bearer: await mint('svc|7') }, method: 'jwt' },
      { name: 'gx-bot', tenant: 'globex', cred: { bearer: F.apiKeys['gx-1'] }, method: 'api_key', keyId: 'gx-1' },
    ];
    for (const w of who) {
      const sid = await openSession(F.port, w.cred);
      w.marker = `tenant-${w.tenant}-${crypto.randomUUID()}`;
      const a = await callTool(F.port, w.cred, sid, 'echo', { message: w.marker });
      assert.equal(a.result?.isError, undefined, `${w.name}: ${JSON.stringify(a)}`);
      await endSession(F.port, w.cred, sid);
    }
    for (const w of who) {
      const other = w.tenant === 'acme' ? 'globex' : 'acme';
      const rec = await waitDecision(F.audit[w.tenant], w.marker, `${w.name}'s call`);
      assert.equal(rec.tenant, w.tenant, JSON.stringify(rec));
      assert.equal(rec.agent, w.name, JSON.stringify(rec));
      assert.equal(rec.decision, 'allow', JSON.stringify(rec));
      assert.ok(!auditText(F.audit[other]).includes(w.marker), `${w.name}'s call is not in ${other}'s log`);
      if (w.method === 'jwt') {
        const { payload } = decodeJwt(w.cred.bearer);
        assert.ok(payload.jti, 'oidc-provider tokens have a jti');
        assert.deepEqual(rec.auth, { issuer: F.main.issuer, jti: payload.jti, method: 'jwt' }, JSON.stringify(rec));
      } else {
        assert.deepEqual(rec.auth, { key_id: w.keyId, method: 'api_key' }, JSON.stringify(rec));
      }
      // Signed with the agent's own key, which the tenant's keyring lists for that agent.
      const ring = JSON.parse(fs.readFileSync(path.join(F.keysDir, w.tenant, 'keyring.json'), 'utf8'));
      const entry = ring.keys.find((k) => k.key_id === rec.key_id);
      assert.ok(entry, `${w.name}: key ${rec.key_id} is in ${w.tenant}'s keyring: ${JSON.stringify(ring)}`);
      assert.equal(entry.agent, w.name, `${w.name}: the keyring names the agent: ${JSON.stringify(entry)}`);
      assert.equal(entry.tenant, w.tenant, JSON.stringify(entry));
    }
    const keyIds = who.map((w) => decisionWith(F.audit[w.tenant], w.marker).key_id);
    assert.equal(new Set(keyIds).size, keyIds.length, `one key per agent: ${keyIds}`);
    // The key files: <keys_dir>/<tenant>/<agent>/agent.key; an unsafe id is hashed.
    for (const [tenant, agent] of [['acme', 'alice'], ['globex', 'gina'], ['globex', 'gx-bot'], ['acme', 'ci-bot'], ['acme', 'bob']]) {
      const f = path.join(F.keysDir, tenant, agent, 'agent.key');
      assert.ok(fs.existsSync(f), `${f} exists`);
      assert.equal(fs.statSync(f).mode & 0o777, 0o600, `${f} is 0600`);
    }
    const hashed = `agent-${crypto.createHash('sha256').update('svc|7').digest('hex').slice(0, 32)}`;
    assert.ok(fs.existsSync(path.join(F.keysDir, 'acme', hashed, 'agent.key')),
      `svc|7's key is under ${hashed}: ${fs.readdirSync(path.join(F.keysDir, 'acme'))}`);
    assert.ok(!fs.existsSync(path.join(F.keysDir, 'acme', 'gina')), 'gina has no key in acme');
    assert.ok(!fs.existsSync(path.join(F.keysDir, 'globex', 'alice')), 'alice has no key in globex');

    // A principal of a tenant the config does not have: 403, by token and by API key.
    const stranger = await mint('stranger');
    for (const [what, cred] of [['token of initech', { bearer: stranger }], ['API key of initech', { apiKey: F.apiKeys['it-1'] }]]) {
      await expectRefusedEverywhere(cred, { status: 403, what, message: /^Forbidden:/ });
    }
    assert.ok(!fs.existsSync(path.join(F.dir, 'audit', 'initech')), 'no audit log for initech');
    assert.ok(!fs.existsSync(path.join(F.keysDir, 'initech')), 'no keys for initech');

    // No credential is ever written: neither in a log, nor sent to a server.
    for (const t of ['acme', 'globex']) {
      const text = auditText(F.audit[t]);
      const decoded = auditPayloads(F.audit[t]).map((p) => JSON.stringify(p)).join('\n');
      for (const s of F.secrets) {
        assert.ok(!text.includes(s) && !decoded.includes(s), `a credential is in ${t}'s audit log`);
      }
    }
    const bytes = spyBytes();
    for (const s of F.secrets) assert.ok(!bytes.includes(s), 'a credential reached the server');
    assert.ok(!/authorization|x-api-key|gtk_/i.test(bytes), 'no credential header reached the server');
  });

  it('an SDK v2 client speaking 2026-07-28 (stateless) is authenticated per request, each in its tenant', async () => {
    const { Client: ClientV2, StreamableHTTPClientTransport: HttpV2 } = await import('@modelcontextprotocol/client');
    const connectV2 = async (headers) => {
      const client = new ClientV2({ name: 'gt-auth-v2', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
      await withTimeout(client.connect(new HttpV2(new URL(F.url), { requestInit: { headers } })), 20_000, 'v2 connect');
      return client;
    };
    // wait: alice is an admin of acme; bob is not; globex has no policy for it.
    for (const [who, tenant, mayWait] of [['alice', 'acme', true], ['bob', 'acme', false], ['gina', 'globex', false]]) {
      const t = await mint(who);
      const client = await connectV2({ Authorization: `Bearer ${t}` });
      try {
        assert.equal(client.getProtocolEra(), 'modern', `${who}: negotiated 2026-07-28`);
        const marker = `v2-${who}-${crypto.randomUUID()}`;
        const ok = await client.callTool({ name: 'echo', arguments: { message: marker } });
        assert.equal(ok.isError, undefined, `${who}: ${JSON.stringify(ok)}`);
        const rec = await waitDecision(F.audit[tenant], marker);
        assert.equal(rec.agent, who, JSON.stringify(rec));
        assert.equal(rec.tenant, tenant, JSON.stringify(rec));
        assert.equal(rec.auth?.jti, decodeJwt(t).payload.jti, JSON.stringify(rec));
        const other = tenant === 'acme' ? 'globex' : 'acme';
        assert.ok(!auditText(F.audit[other]).includes(marker), `${who}'s call is not in ${other}'s log`);
        const wait = await client.callTool({ name: 'wait', arguments: { ms: 0 } });
        assert.equal(wait.isError, mayWait ? undefined : true, `${who}: wait (${tenant}): ${JSON.stringify(wait)}`);
        if (!mayWait) assert.equal(wait._meta?.[DECISION_META_KEY]?.decision, 'deny', JSON.stringify(wait));
      } finally {
        await client.close().catch(() => {});
      }
    }
    // Without a credential, a 2026-07-28 request is refused like any other.
    await assert.rejects(connectV2({}), (e) => /401|unauthori/i.test(String(e?.message ?? e)) || e?.code === 401,
      'a v2 client without a credential cannot connect');
    const stateless = await request(F.port, {
      headers: { 'MCP-Protocol-Version': '2026-07-28' },
      body: { jsonrpc: '2.0', id: 61, method: 'tools/list', params: { _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } },
    });
    assertRefused(stateless, { status: 401, scope: SCOPE, what: '2026-07-28 tools/list without a credential' });
  });

  // ---------------------------------------------------------------- 8. roles

  it('judges by the token\'s roles, attributes and claims: wait is allowed for admins only', async () => {
    // Two acme agents with API keys, added to the file while serving: one without roles, one
    // whose entry gives it the admin role.
    const added = {};
    let text = fs.readFileSync(F.keysFile, 'utf8').trimEnd();
    for (const [agent, id, extra] of [['norole-bot', 'nr-1', ''], ['adm-bot', 'adm-1', '\n      roles: [admin]']]) {
      const r = spawnSync(requireBinary(), ['keys', 'api-key', '--agent', agent, '--tenant', 'acme', '--id', id],
        { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const [k, ...rest] = r.stdout.split('\n');
      F.secrets.add(k);
      added[agent] = k;
      text += `\n${rest.filter((l) => !l.startsWith('#')).join('\n').trimEnd()}${extra}`;
    }
    fs.writeFileSync(`${F.keysFile}.new`, `${text}\n`);
    fs.renameSync(`${F.keysFile}.new`, F.keysFile);
    const key = added['norole-bot'];
    await waitUntil(async () => (await request(F.port, { headers: credHeaders({ apiKey: key }), body: initialize(12) })).status === 200,
      10_000, 'the new API keys to be taken', 250);

    const cases = [
      { who: 'alice', roles: '["admin"]', allowed: true, cred: { bearer: await mint('alice') } },
      { who: 'dave', roles: '"auditor admin" (one string)', allowed: true, cred: { bearer: await mint('dave') } },
      { who: 'bob', roles: '"reader" (one string)', allowed: false, cred: { bearer: await mint('bob') } },
      { who: 'norole-bot', roles: '(API key, no roles)', allowed: false, cred: { apiKey: key } },
      { who: 'adm-bot', roles: '[admin] (API key entry)', allowed: true, cred: { bearer: added['adm-bot'] } },
    ];
    for (const c of cases) {
      const sid = await openSession(F.port, c.cred);
      const marker = `role-${c.who}-${crypto.randomUUID()}`;
      const a = await callTool(F.port, c.cred, sid, 'wait', { ms: 0, marker });
      const rec = await waitDecision(F.audit.acme, marker);
      assert.equal(rec.agent, c.who, JSON.stringify(rec));
      if (c.allowed) {
        assert.equal(a.result?.isError, undefined, `${c.who} ${c.roles}: allowed: ${JSON.stringify(a)}`);
        await waitUntil(() => spyBytes().includes(marker), 5000, `${c.who}'s call at the server`);
        assert.equal(rec.decision, 'allow', JSON.stringify(rec));
        assert.equal(rec.rule_id, 'allow-wait-admin', JSON.stringify(rec));
      } else {
        assertPolicyDenied(a, { code: 'GT-POLICY-NOMATCH' }, `${c.who} ${c.roles}`);
        assert.equal(rec.decision, 'deny', JSON.stringify(rec));
        assert.ok(!spyBytes().includes(marker), `${c.who}: a denied call reached the server`);
      }
      // echo is for everyone.
      const e = await callTool(F.port, c.cred, sid, 'echo', { message: `echo from ${c.who}` });
      assert.equal(e.result?.isError, undefined, `${c.who}: echo: ${JSON.stringify(e)}`);
      // principal.claims is the verified payload for a token, {} for an API key; the team
      // attribute is mapped from the `team` claim (alice's only).
      const claims = await callTool(F.port, c.cred, sid, 'echo', { message: 'claims-check' });
      if (c.cred.bearer && c.cred.bearer.split('.').length === 3) {
        assert.equal(claims.result?.isError, undefined, `${c.who}: claims-check: ${JSON.stringify(claims)}`);
      } else {
        assertPolicyDenied(claims, { rule: 'deny-claims-check' }, `${c.who}: claims-check`);
      }
      const team = await callTool(F.port, c.cred, sid, 'echo', { message: 'team-check' });
      if (c.who === 'alice') {
        assert.equal(team.result?.isError, undefined, `${c.who}: team-check: ${JSON.stringify(team)}`);
      } else {
        assertPolicyDenied(team, { rule: 'deny-team-check' }, `${c.who}: team-check`);
      }
      await endSession(F.port, c.cred, sid);
    }
  });

  // ---------------------------------------------------------------- 9. tool visibility

  it('lists to each authenticated principal only what its roles may call; a hidden tool called anyway is denied with a receipt', async () => {
    const listNames = async (who, cred, sid) => {
      const msg = { jsonrpc: '2.0', id: nextId++, method: 'tools/list' };
      const r = await sessionPost(F.port, cred, sid, msg);
      assert.equal(r.status, 200, `${who}: tools/list: ${r.status} ${r.text}`);
      assert.equal(r.json?.id, msg.id, `${who}: the answer to tools/list: ${r.text}`);
      assert.ok(Array.isArray(r.json?.result?.tools), `${who}: tools/list result: ${r.text}`);
      return r.json.result.tools.map((t) => t.name).sort();
    };
    // Same tenant (acme), different roles from the token: alice ["admin"], bob "reader",
    // ivan ["intern"].
    //   wait: allowed only by allow-wait-admin ('admin' in principal.roles), so for bob every
    //         allow rule is false whatever the arguments: hidden from bob, listed for alice.
    //   echo: deny-intern-echo ('intern' in principal.roles && tool.name == 'echo') is true
    //         whatever the arguments for ivan only; the deny rules that read args
    //         (deny-forbidden-echo, deny-claims-check, deny-team-check) hide it from nobody.
    const who = {};
    for (const name of ['alice', 'bob', 'ivan']) {
      const tok = await mint(name);
      assert.equal(decodeJwt(tok).payload.org, 'acme', `${name}'s token names acme`);
      const cred = { bearer: tok };
      who[name] = { cred, sid: await openSession(F.port, cred) };
    }
    assert.deepEqual(await listNames('alice', who.alice.cred, who.alice.sid), ['echo', 'wait'],
      'alice (admin) is shown echo and wait');
    assert.deepEqual(await listNames('bob', who.bob.cred, who.bob.sid), ['echo'],
      'bob (reader) is shown echo (its deny rules depend on the arguments) but not wait');
    assert.deepEqual(await listNames('ivan', who.ivan.cred, who.ivan.sid), [],
      'ivan (intern) is shown neither echo (denied to interns) nor wait (admins only)');

    // The hidden tools, called anyway: judged in full, denied with a signed receipt that names
    // the principal; nothing reaches the server.
    const hidden = [
      { name: 'bob', tool: 'wait', args: (m) => ({ ms: 0, marker: m }), expect: { code: 'GT-POLICY-NOMATCH' } },
      { name: 'ivan', tool: 'echo', args: (m) => ({ message: m }), expect: { code: 'GT-POLICY-DENY', rule: 'deny-intern-echo' } },
      { name: 'ivan', tool: 'wait', args: (m) => ({ ms: 0, marker: m }), expect: { code: 'GT-POLICY-NOMATCH' } },
    ];
    for (const h of hidden) {
      const marker = `hidden-${h.name}-${h.tool}-${crypto.randomUUID()}`;
      const a = await callTool(F.port, who[h.name].cred, who[h.name].sid, h.tool, h.args(marker));
      const d = assertPolicyDenied(a, h.expect, `${h.name}: hidden ${h.tool} called anyway`);
      assert.equal(typeof d.receipt_id, 'string', `${h.name}: ${h.tool}: the denial names its receipt: ${JSON.stringify(d)}`);
      assert.ok(d.receipt_id.length > 0, JSON.stringify(d));
      const rec = await waitDecision(F.audit.acme, marker);
      assert.equal(rec.id, d.receipt_id, `${h.name}: ${h.tool}: the receipt in _meta is this record: ${JSON.stringify(rec)}`);
      assert.equal(rec.agent, h.name, JSON.stringify(rec));
      assert.equal(rec.tenant, 'acme', JSON.stringify(rec));
      assert.equal(rec.tool, h.tool, JSON.stringify(rec));
      assert.equal(rec.decision, 'deny', JSON.stringify(rec));
      if (h.expect.rule) assert.equal(rec.rule_id, h.expect.rule, JSON.stringify(rec));
      assert.ok(!spyBytes().includes(marker), `${h.name}: a denied call of hidden ${h.tool} reached the server`);
    }

    // The principals that were shown the tool may call it: alice's wait, bob's echo.
    for (const s of [
      { name: 'alice', tool: 'wait', args: (m) => ({ ms: 0, marker: m }), rule: 'allow-wait-admin' },
      { name: 'bob', tool: 'echo', args: (m) => ({ message: m }), rule: 'allow-echo' },
    ]) {
      const marker = `shown-${s.name}-${s.tool}-${crypto.randomUUID()}`;
      const a = await callTool(F.port, who[s.name].cred, who[s.name].sid, s.tool, s.args(marker));
      assert.equal(a.result?.isError, undefined, `${s.name}: ${s.tool} is allowed: ${JSON.stringify(a)}`);
      const rec = await waitDecision(F.audit.acme, marker);
      assert.equal(rec.agent, s.name, JSON.stringify(rec));
      assert.equal(rec.tool, s.tool, JSON.stringify(rec));
      assert.equal(rec.decision, 'allow', JSON.stringify(rec));
      assert.equal(rec.rule_id, s.rule, JSON.stringify(rec));
      await waitUntil(() => spyBytes().includes(marker), 5000, `${s.name}'s ${s.tool} at the server`);
    }
    // echo stays listed because its args rules cannot be decided without the arguments, yet
    // they still apply to the call.
    const forbidden = await callTool(F.port, who.bob.cred, who.bob.sid, 'echo', { message: 'a forbidden word' });
    assertPolicyDenied(forbidden, { rule: 'deny-forbidden-echo' }, 'bob: echo with the forbidden word');

    for (const name of Object.keys(who)) await endSession(F.port, who[name].cred, who[name].sid);
  });

  // ---------------------------------------------------------------- operator log, shutdown, verify

  it('logs refusals rate-limited, never the credential; stops cleanly; every tenant\'s log verifies', async () => {
    // At least one refusal, whatever ran before.
    assert.equal((await request(F.port, { body: initialize(70) })).status, 401);
    await sleep(200);
    const log = F.gt.log();
    const refusals = log.split('\n').filter((l) => /auth: refused/.test(l));
    assert.ok(refusals.length >= 1, `the operator log has an auth: refused line:\n${log.slice(-3000)}`);
    assert.ok(refusals.every((l) => /from 127\.0\.0\.1/.test(l)), refusals.join('\n'));
    const minutes = Math.ceil((Date.now() - F.t0) / 60_000);
    assert.ok(refusals.length <= minutes + 1,
      `one line per client address per minute (${minutes} min): ${refusals.length}\n${refusals.join('\n')}`);
    for (const s of F.secrets) assert.ok(!log.includes(s), 'a credential is in the operator log');

    const r = await F.gt.stop();
    assert.deepEqual(r, { code: 0, sig: null }, `glasstape serve exit; its log:\n${F.gt.log().slice(-4000)}`);
    for (const t of ['acme', 'globex']) {
      const v = spawnSync(requireBinary(), ['verify', F.audit[t]], { env: F.env, encoding: 'utf8' });
      assert.equal(v.status, 0, `verify ${t}: ${v.stdout}${v.stderr}`);
      assert.match(v.stdout, /^ok: /m, v.stdout);
      const agents = new Set(decisions(F.audit[t]).map((p) => p.agent));
      assert.ok(agents.size >= 2, `${t}: decisions of several agents: ${[...agents]}`);
      // verify names the agent of every record (each signs with its own key).
      for (const a of agents) {
        assert.ok(v.stdout.includes(a), `verify ${t} names agent ${a}:\n${v.stdout}`);
      }
    }
  });
});

describe('glasstape serve with http.auth: config rules', { timeout: 120_000, skip }, () => {
  // Each bad http.auth section stops serve at startup with a message naming the key.
  const bad = [
    ['no resource', { api_keys: 'keys.yaml' }, /resource/],
    ['neither issuers nor api_keys', { resource: 'http://127.0.0.1:1/mcp' }, /issuers|api_keys/],
    ['both jwks_uri and jwks_file', { resource: 'http://127.0.0.1:1/mcp', issuers: [{
      issuer: 'http://127.0.0.1:2', jwks_uri: 'http://127.0.0.1:2/jwks', jwks_file: 'j.json', claims: { tenant_value: 'acme' } }] },
    /jwks_uri|jwks_file/],
    ['neither jwks_uri nor jwks_file', { resource: 'http://127.0.0.1:1/mcp', issuers: [{
      issuer: 'http://127.0.0.1:2', claims: { tenant_value: 'acme' } }] }, /jwks_uri|jwks_file/],
    ['algorithms HS256', { resource: 'http://127.0.0.1:1/mcp', issuers: [{
      issuer: 'http://127.0.0.1:2', jwks_uri: 'http://127.0.0.1:2/jwks', algorithms: ['HS256'], claims: { tenant_value: 'acme' } }] },
    /HS256/],
    ['algorithms none', { resource: 'http://127.0.0.1:1/mcp', issuers: [{
      issuer: 'http://127.0.0.1:2', jwks_uri: 'http://127.0.0.1:2/jwks', algorithms: ['none'], claims: { tenant_value: 'acme' } }] },
    /none/],
    ['claims naming no tenant', { resource: 'http://127.0.0.1:1/mcp', issuers: [{
      issuer: 'http://127.0.0.1:2', jwks_uri: 'http://127.0.0.1:2/jwks', claims: { id: 'sub' } }] }, /tenant/],
    ['a missing api_keys file', { resource: 'http://127.0.0.1:1/mcp', api_keys: 'nope.yaml' }, /nope\.yaml|api_keys/],
  ];
  for (const [what, auth, re] of bad) {
    it(`refuses http.auth with ${what}`, async () => {
      const dir = tmpDir('gt-e2e-auth-cfg-');
      fs.writeFileSync(path.join(dir, 'keys.yaml'), 'keys: []\n');
      const config = {
        servers: { spy: { command: [NODE, SPY, '--record-dir', dir] } },
        identity: { agent_id: 'a', tenant: 'acme' },
        http: { auth },
      };
      const file = path.join(dir, 'glasstape.yaml');
      fs.writeFileSync(file, JSON.stringify(config));
      const r = spawnSync(requireBinary(), ['serve', '--config', file, '--listen', '127.0.0.1:0'],
        { encoding: 'utf8', timeout: 20_000, env: { ...process.env, GT_KEYS_DIR: path.join(dir, 'k') } });
      assert.equal(r.signal, null, `it exits by itself (${what}): ${r.stderr}`);
      assert.notEqual(r.status, 0, `${what}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /http\.auth/, `${what}: the message names http.auth: ${r.stderr}`);
      assert.match(r.stderr, re, `${what}: ${r.stderr}`);
    });
  }

  it('refuses --tenant with http.auth', async () => {
    const dir = tmpDir('gt-e2e-auth-cfg-');
    fs.writeFileSync(path.join(dir, 'keys.yaml'), 'keys: []\n');
    const config = {
      servers: { spy: { command: [NODE, SPY, '--record-dir', dir] } },
      identity: { agent_id: 'a', tenant: 'acme' },
      http: { auth: { resource: 'http://127.0.0.1:1/mcp', api_keys: 'keys.yaml' } },
    };
    const file = path.join(dir, 'glasstape.yaml');
    fs.writeFileSync(file, JSON.stringify(config));
    const r = spawnSync(requireBinary(), ['serve', '--config', file, '--listen', '127.0.0.1:0', '--tenant', 'acme'],
      { encoding: 'utf8', timeout: 20_000, env: { ...process.env, GT_KEYS_DIR: path.join(dir, 'k') } });
    assert.notEqual(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.equal(r.signal, null, 'it exits by itself');
    assert.match(r.stderr + r.stdout, /--tenant/, r.stderr);
  });
});
