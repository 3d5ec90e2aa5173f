// The operator endpoints: /healthz, /readyz and /metrics on `glasstape serve`'s listener
// (http.admin_endpoints) and on a listener of their own (admin.listen, --admin-listen, for
// `serve` and `run`), and --log-format json.
//
// The SDK's Client makes the calls (Streamable HTTP for serve, stdio for run); node:http makes
// the raw requests (any Host header, any method), and the metrics are parsed here from the text
// format, checked by `promtool check metrics`, and scraped by a real Prometheus server.
//
//   GLASSTAPE_BIN      the glasstape binary (default <repo>/build/proxy/glasstape)
//   GT_EXAMPLE_SERVER  the example server (default <repo>/build/tests/glasstape-example-server)
//   PROMETHEUS, PROMTOOL  the Prometheus binaries (default: prometheus and promtool on PATH,
//                      else /usr/bin); a missing one fails the test that needs it
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import {
  REPO_ROOT,
  assertDenied,
  connect,
  isAlive,
  killQuietly,
  modes,
  requireBinary,
  startGlasstapeServe,
  textOf,
  tmpDir,
  waitUntil,
  withTimeout,
} from './lib/harness.mjs';

const T = { timeout: 60_000 };
const skip = modes().includes('proxy') ? false : 'GT_E2E_MODE=direct: nothing to run without glasstape';
const EXAMPLE =
  process.env.GT_EXAMPLE_SERVER || path.join(REPO_ROOT, 'build', 'tests', 'glasstape-example-server');
const TENANT = 'default';
const METRICS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const ADMIN_LINE = /admin endpoints at http:\/\/127\.0\.0\.1:(\d+)\/healthz, \/readyz and \/metrics/;

// echo is allowed unless it says `forbidden`; nothing else is.
const POLICY = `
policy_id: admin.e2e
version: "1.0"
description: What the admin endpoint tests may call.
tools: [echo]
rules:
  deny:
    - id: deny-forbidden-echo
      condition: "tool.name == 'echo' && args.message.lower().contains('forbidden')"
      reason: echo may not say the forbidden word
  allow:
    - id: allow-echo
      condition: "tool.name == 'echo'"
      reason: echo is harmless
`;
// echo and crash (the example server exits at once) are allowed.
const CRASH_POLICY = `
policy_id: admin.crash
version: "1.0"
description: The restart tests.
tools: [echo, crash]
rules:
  allow:
    - id: allow-echo-crash
      condition: "tool.name == 'echo' || tool.name == 'crash'"
      reason: crash only ends this session's server
`;

// ------------------------------------------------------------------------ configs

// A config in a fresh directory: {root, file, policies}. `servers` replaces the one `example`
// server; `http` and `top` are merged into the http section and the top level; `policy` is the
// text of the directory's only policy file (policies/admin.yaml).
function setup({ servers, http: httpExtra = {}, top = {}, policy = POLICY, withServers = true } = {}) {
  requireBinary();
  fs.accessSync(EXAMPLE, fs.constants.X_OK);
  const root = tmpDir('gt-e2e-admin-');
  const policies = path.join(root, 'policies');
  fs.mkdirSync(policies);
  fs.writeFileSync(path.join(policies, 'admin.yaml'), policy);
  const config = {
    ...(withServers ? { servers: servers ?? { example: { command: [EXAMPLE], restart: { max: 0 } } } } : {}),
    shutdown_grace_ms: 500,
    identity: { agent_id: 'admin-e2e-agent', roles: ['tester'] },
    http: { listen: '127.0.0.1:0', path: '/mcp', keepalive_s: 1, ...httpExtra },
    governance: {
      policies: { dir: policies, state_dir: path.join(root, 'state') },
      audit: { dir: path.join(root, 'audit'), keys_dir: path.join(root, 'keys'), fsync: 'group' },
    },
    ...top,
  };
  const file = path.join(root, 'glasstape.yaml');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return { root, file, policies };
}

// An SDK client over Streamable HTTP to `serve`: {client, close()}.
async function httpClient(serve) {
  const transport = new StreamableHTTPClientTransport(new URL(`${serve.base}/mcp`));
  const client = new Client({ name: 'glasstape-admin-e2e', version: '1.0.0' }, { capabilities: {} });
  try {
    await withTimeout(client.connect(transport), 20_000, 'initialize over HTTP');
  } catch (e) {
    e.message += `\n--- glasstape log ---\n${serve.log().slice(-4000)}`;
    throw e;
  }
  return {
    client,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

// One allowed and `denials` denied echo calls, each checked: [deny code, ...].
async function allowAndDeny(client, denials = 1) {
  const ok = await client.callTool({ name: 'echo', arguments: { message: 'hello metrics' } });
  assert.notEqual(ok.isError, true, `the allowed call: ${JSON.stringify(ok)}`);
  assert.match(textOf(ok), /hello metrics/);
  const codes = [];
  for (let i = 0; i < denials; i++) {
    const r = await client.callTool({ name: 'echo', arguments: { message: `say forbidden ${i}` } });
    codes.push(assertDenied(assert, r, 'echo').code);
  }
  return codes;
}

// ------------------------------------------------------------------------ raw HTTP

// One request: {status, headers, text}. `host` replaces the Host header (default the target).
function get(port, p, { method = 'GET', host, headers = {}, body } = {}) {
  const h = { Host: host ?? `127.0.0.1:${port}`, ...headers };
  if (body !== undefined) h['Content-Length'] = Buffer.byteLength(body);
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: h, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
        res.on('error', reject);
      });
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    }),
    15_000,
    `${method} ${p} on port ${port}`,
  );
}

// ------------------------------------------------------------------------ the text format

// `a="x",b="y\"z"` -> {a: 'x', b: 'y"z'} (the format's escapes: \\, \" and \n).
function parseLabels(s) {
  const out = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    assert.ok(eq > i, `label name at ${i} of \`${s}\``);
    const name = s.slice(i, eq).trim();
    assert.match(name, /^[a-zA-Z_][a-zA-Z0-9_]*$/, `label name in \`${s}\``);
    assert.equal(s[eq + 1], '"', `quoted label value in \`${s}\``);
    let v = '';
    let j = eq + 2;
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === '\\') {
        j += 1;
        v += s[j] === 'n' ? '\n' : s[j];
      } else {
        v += s[j];
      }
    }
    assert.equal(s[j], '"', `closed label value in \`${s}\``);
    assert.ok(!(name in out), `label ${name} twice in \`${s}\``);
    out[name] = v;
    i = j + 1;
    if (s[i] === ',') i += 1;
  }
  return out;
}

// The samples of a text-format exposition: [{name, labels, value}]; `types` maps family names to
// their # TYPE. Any line that is neither a comment nor `name{labels} value` fails the test.
function parseMetrics(text) {
  const samples = [];
  const types = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) types[m[1]] = m[2];
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: \`${line}\``);
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    assert.ok(m[3] === 'NaN' || !Number.isNaN(value), `bad value in \`${line}\``);
    samples.push({ name: m[1], labels: m[2] ? parseLabels(m[2]) : {}, value });
  }
  return { samples, types };
}

const sameLabels = (a, b) =>
  Object.keys(a).length === Object.keys(b).length && Object.keys(b).every((k) => a[k] === b[k]);

// Every series of `name` whose labels include `labels`.
function series(m, name, labels = {}) {
  return m.samples.filter((s) => s.name === name && Object.keys(labels).every((k) => s.labels[k] === labels[k]));
}

// The decision counter holds exactly one allowed and one denied call of `echo` on `server`
// (the denial with `code`), and nothing else.
function assertOneAllowOneDeny(m, server, code) {
  const base = { tenant: TENANT, server, kind: 'tool', tool: 'echo' };
  const decisions = series(m, 'glasstape_decisions_total')
    .map((x) => ({ ...x.labels, value: x.value }))
    .sort((a, b) => a.decision.localeCompare(b.decision));
  assert.deepEqual(decisions, [
    { ...base, decision: 'allow', code: '', value: 1 },
    { ...base, decision: 'deny', code, value: 1 },
  ], m.text);
}

// The value of the one series `name` with exactly `labels`, or undefined.
function valueOf(m, name, labels = {}) {
  const hits = m.samples.filter((s) => s.name === name && sameLabels(s.labels, labels));
  assert.ok(hits.length <= 1, `${name} ${JSON.stringify(labels)} appears ${hits.length} times`);
  return hits[0]?.value;
}

// A histogram series: cumulative buckets ending in +Inf == _count, and the _count.
function histogramCount(m, name, labels) {
  const buckets = series(m, `${name}_bucket`, labels).filter((s) => sameLabels(
    Object.fromEntries(Object.entries(s.labels).filter(([k]) => k !== 'le')), labels));
  const count = valueOf(m, `${name}_count`, labels);
  assert.ok(count !== undefined, `${name}_count ${JSON.stringify(labels)} is missing`);
  assert.ok(valueOf(m, `${name}_sum`, labels) >= 0, `${name}_sum ${JSON.stringify(labels)}`);
  assert.ok(buckets.length >= 2, `${name} ${JSON.stringify(labels)} has buckets`);
  let prev = -Infinity;
  let prevLe = 0;
  for (const b of buckets) {
    const le = b.labels.le === '+Inf' ? Infinity : Number(b.labels.le);
    assert.ok(le > prevLe || prev === -Infinity, `${name} buckets in order: ${b.labels.le}`);
    assert.ok(b.value >= prev, `${name} buckets are cumulative at le=${b.labels.le}`);
    prev = b.value;
    prevLe = le;
  }
  assert.equal(buckets.at(-1).labels.le, '+Inf', `${name}'s last bucket`);
  assert.equal(buckets.at(-1).value, count, `${name} +Inf bucket == _count`);
  return count;
}

async function scrape(port, opts) {
  const r = await get(port, '/metrics', opts);
  assert.equal(r.status, 200, `GET /metrics: ${r.text}`);
  assert.equal(r.headers['content-type'], METRICS_TYPE);
  return { ...parseMetrics(r.text), text: r.text };
}

// ------------------------------------------------------------------------ Prometheus

function tool(name) {
  const env = process.env[name.toUpperCase()];
  if (env) return env;
  for (const dir of (process.env.PATH || '').split(':').concat('/usr/bin')) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} not found (Debian package prometheus; or set ${name.toUpperCase()})`);
}

function promtoolCheck(text) {
  const r = spawnSync(tool('promtool'), ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.error, undefined, `promtool: ${r.error}`);
  assert.deepEqual(
    { status: r.status, stdout: r.stdout, stderr: r.stderr },
    { status: 0, stdout: '', stderr: '' },
    `promtool check metrics on:\n${text}`,
  );
}

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

// A JSON GET against Prometheus' HTTP API; undefined while it does not answer yet.
async function promQuery(port, query) {
  try {
    const r = await get(port, `/api/v1/query?query=${encodeURIComponent(query)}`);
    if (r.status !== 200) return undefined;
    const j = JSON.parse(r.text);
    return j.status === 'success' ? j.data.result : undefined;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------------ the tests

describe('healthz, readyz and metrics on glasstape serve', { skip }, () => {
  it('answers the three endpoints and counts an allowed and a denied call exactly', T, async () => {
    const s = setup();
    const serve = await startGlasstapeServe(['--config', s.file]);
    let c;
    try {
      const health = await get(serve.port, '/healthz');
      assert.equal(health.status, 200);
      assert.equal(health.text, 'ok\n');
      const head = await get(serve.port, '/healthz', { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.text, '');

      const before = await get(serve.port, '/readyz');
      assert.equal(before.status, 200, before.text);
      assert.equal(before.headers['content-type'], 'text/plain; charset=utf-8');
      const lines0 = before.text.split('\n');
      assert.equal(lines0[0], 'ready');
      assert.equal(lines0.at(-1), '', 'readyz ends with a newline');
      assert.deepEqual(lines0.slice(1, -1).map((l) => l.replace(/:.*/, '')), [
        `ok    policies[${TENANT}]`,
        `ok    audit[${TENANT}]`,
        'ok    server[example]',
      ]);
      assert.ok(lines0.includes('ok    server[example]: not started yet (starts with the first session)'), before.text);
      assert.ok(lines0[1].includes(s.policies), `the policies check names the dir: ${before.text}`);

      const m0 = await scrape(serve.port);
      assert.deepEqual(series(m0, 'glasstape_decisions_total'), [], 'no decisions yet');
      assert.equal(valueOf(m0, 'glasstape_upstream_up', { server: 'example' }), 0);
      assert.equal(valueOf(m0, 'glasstape_policy_set_loaded', { tenant: TENANT }), 1);
      assert.equal(valueOf(m0, 'glasstape_policies_loaded', { tenant: TENANT }), 1);
      const info = series(m0, 'glasstape_build_info');
      assert.equal(info.length, 1, m0.text);
      assert.deepEqual(Object.keys(info[0].labels), ['version']);
      assert.match(info[0].labels.version, /^\d+\.\d+\.\d+/);
      assert.equal(info[0].value, 1);

      c = await httpClient(serve);
      const [code] = await allowAndDeny(c.client);
      assert.match(code, /^GT-/, 'a denial code');

      const ready = await get(serve.port, '/readyz');
      assert.equal(ready.status, 200, ready.text);
      assert.ok(ready.text.split('\n').includes('ok    server[example]: up'), ready.text);

      const m = await scrape(serve.port);
      assertOneAllowOneDeny(m, 'example', code);
      assert.equal(m.types.glasstape_decisions_total, 'counter');
      // Both calls were judged and recorded; only the allowed one went to the server.
      assert.equal(histogramCount(m, 'glasstape_decide_duration_seconds', { tenant: TENANT }), 2);
      assert.equal(histogramCount(m, 'glasstape_audit_write_duration_seconds', { tenant: TENANT }), 2);
      assert.equal(histogramCount(m, 'glasstape_upstream_duration_seconds', { tenant: TENANT, server: 'example' }), 1);
      assert.equal(histogramCount(m, 'glasstape_call_duration_seconds', { tenant: TENANT, server: 'example' }), 1);
      const batches = histogramCount(m, 'glasstape_audit_batch_records', { tenant: TENANT });
      assert.ok(batches >= 1, `audit batches: ${batches}`);
      const records = valueOf(m, 'glasstape_audit_records_total', { tenant: TENANT });
      assert.ok(records >= 2, `audit records: ${records}`);
      assert.equal(valueOf(m, 'glasstape_audit_batch_records_sum', { tenant: TENANT }), records,
        'every record written went through a batch');
      for (const [name, type] of Object.entries({
        glasstape_decide_duration_seconds: 'histogram',
        glasstape_audit_sync_duration_seconds: 'histogram',
        glasstape_sessions: 'gauge',
        glasstape_upstream_exits_total: 'counter',
        glasstape_http_refused_total: 'counter',
        glasstape_policy_reloads_total: 'counter',
        glasstape_upstream_up: 'gauge',
      })) {
        assert.equal(m.types[name], type, `# TYPE ${name}`);
      }
      assert.equal(valueOf(m, 'glasstape_sessions', { front: 'http' }), 1);
      assert.equal(valueOf(m, 'glasstape_sessions_opened_total', { front: 'http' }), 1);
      assert.equal(valueOf(m, 'glasstape_upstream_up', { server: 'example' }), 1);
      assert.equal(valueOf(m, 'glasstape_audit_log_writable', { tenant: TENANT }), 1);
      assert.equal(valueOf(m, 'glasstape_audit_write_failures_total', { tenant: TENANT }), 0);
      assert.equal(valueOf(m, 'glasstape_policy_reloads_total', { tenant: TENANT, result: 'ok' }), 1);
      assert.equal(valueOf(m, 'glasstape_policy_reloads_total', { tenant: TENANT, result: 'error' }), 0);
      const stamp = valueOf(m, 'glasstape_policy_last_reload_timestamp_seconds', { tenant: TENANT });
      assert.ok(Math.abs(stamp - Date.now() / 1000) < 120, `last reload at ${stamp}`);
      // This scrape counted itself; so did the one before, and the two readyz.
      assert.equal(valueOf(m, 'glasstape_http_requests_total', { endpoint: 'metrics' }), 2);
      assert.equal(valueOf(m, 'glasstape_http_requests_total', { endpoint: 'readyz' }), 2);
      assert.equal(valueOf(m, 'glasstape_http_requests_total', { endpoint: 'healthz' }), 2);
      assert.ok(valueOf(m, 'glasstape_http_requests_total', { endpoint: 'mcp' }) >= 4, m.text);
      promtoolCheck(m.text);
      promtoolCheck(m0.text);
    } finally {
      await c?.close();
      await serve.stop();
    }
  });

  it('is scraped by a real Prometheus server', T, async () => {
    const s = setup();
    const serve = await startGlasstapeServe(['--config', s.file]);
    let prom;
    let promLog = '';
    let c;
    try {
      c = await httpClient(serve);
      const DENIALS = 3;
      await allowAndDeny(c.client, DENIALS);

      const dir = tmpDir('gt-e2e-prom-');
      const cfg = path.join(dir, 'prometheus.yml');
      fs.writeFileSync(cfg, [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: glasstape',
        '    metrics_path: /metrics',
        '    static_configs:',
        `      - targets: ["127.0.0.1:${serve.port}"]`,
        '',
      ].join('\n'));
      const port = await freePort();
      prom = spawn(tool('prometheus'), [
        `--config.file=${cfg}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      prom.stdout.on('data', (d) => (promLog += d));
      prom.stderr.on('data', (d) => (promLog += d));

      let up;
      let deny;
      try {
        await waitUntil(async () => {
          if (prom.exitCode !== null) throw new Error(`prometheus exited (${prom.exitCode})`);
          up = await promQuery(port, 'up{job="glasstape"}');
          deny = await promQuery(port, 'glasstape_decisions_total{decision="deny"}');
          return up?.length === 1 && up[0].value[1] === '1' && deny?.length === 1 &&
            Number(deny[0].value[1]) === DENIALS;
        }, 20_000, 'Prometheus to scrape glasstape', 250);
      } catch (e) {
        e.message += `\nup: ${JSON.stringify(up)}\ndeny: ${JSON.stringify(deny)}\n--- prometheus ---\n${promLog.slice(-4000)}`;
        throw e;
      }
      assert.deepEqual(deny[0].metric, {
        __name__: 'glasstape_decisions_total',
        instance: `127.0.0.1:${serve.port}`,
        job: 'glasstape',
        tenant: TENANT,
        server: 'example',
        kind: 'tool',
        tool: 'echo',
        decision: 'deny',
        code: deny[0].metric.code,
      });
      assert.match(deny[0].metric.code, /^GT-/);
      const allow = await promQuery(port, 'glasstape_decisions_total{decision="allow"}');
      assert.equal(allow?.length, 1, JSON.stringify(allow));
      assert.equal(allow[0].value[1], '1');
      // Prometheus saw the histograms as such (a _count it can query) and the build info.
      const count = await promQuery(port, 'glasstape_decide_duration_seconds_count');
      assert.equal(count?.[0]?.value[1], String(DENIALS + 1), JSON.stringify(count));
      const info = await promQuery(port, 'glasstape_build_info');
      assert.equal(info?.[0]?.value[1], '1', JSON.stringify(info));
    } finally {
      if (prom && prom.exitCode === null) {
        const gone = new Promise((r) => prom.once('exit', r));
        prom.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
        killQuietly(prom.pid);
      }
      await c?.close();
      await serve.stop();
    }
  });
});

describe('readyz names the failing check', { skip }, () => {
  it('policies: 503 while the only policy file is invalid, 200 once a valid one is written', T, async () => {
    const s = setup({ policy: 'policy_id: [unclosed\n  rules: : :\n' });
    const serve = await startGlasstapeServe(['--config', s.file]);
    try {
      const r = await get(serve.port, '/readyz');
      assert.equal(r.status, 503, r.text);
      const lines = r.text.split('\n');
      assert.equal(lines[0], 'not ready');
      const fail = lines.find((l) => l.startsWith(`FAIL  policies[${TENANT}]: `));
      assert.ok(fail, `a FAIL line for the policies: ${r.text}`);
      assert.ok(fail.includes(s.policies), `it names the directory: ${fail}`);
      assert.match(fail, /admin\.yaml/, `it names the file: ${fail}`);
      assert.match(fail, /yaml/i, `it gives the error: ${fail}`);
      assert.ok(lines.includes(`ok    server[example]: not started yet (starts with the first session)`), r.text);
      assert.ok(lines.some((l) => l.startsWith(`ok    audit[${TENANT}]: `)), r.text);
      const m0 = await scrape(serve.port);
      assert.equal(valueOf(m0, 'glasstape_policy_set_loaded', { tenant: TENANT }), 0);
      assert.equal(valueOf(m0, 'glasstape_policy_reloads_total', { tenant: TENANT, result: 'error' }), 1);
      assert.equal(valueOf(m0, 'glasstape_policy_reloads_total', { tenant: TENANT, result: 'ok' }), 0);
      promtoolCheck(m0.text);

      const tmp = path.join(s.policies, '.admin.yaml.tmp');
      fs.writeFileSync(tmp, POLICY);
      fs.renameSync(tmp, path.join(s.policies, 'admin.yaml'));
      let last;
      await waitUntil(async () => {
        last = await get(serve.port, '/readyz');
        return last.status === 200;
      }, 10_000, `readyz to turn 200 after the fix (last: ${last?.text})`, 100);
      assert.equal(last.text.split('\n')[0], 'ready');
      assert.ok(last.text.split('\n').some((l) => l.startsWith(`ok    policies[${TENANT}]: `) && l.includes(s.policies)), last.text);
      const m = await scrape(serve.port);
      assert.equal(valueOf(m, 'glasstape_policy_set_loaded', { tenant: TENANT }), 1);
      assert.equal(valueOf(m, 'glasstape_policies_loaded', { tenant: TENANT }), 1);
      assert.equal(valueOf(m, 'glasstape_policy_reloads_total', { tenant: TENANT, result: 'ok' }), 1);
      assert.equal(valueOf(m, 'glasstape_policy_reloads_total', { tenant: TENANT, result: 'error' }), 1);
    } finally {
      await serve.stop();
    }
  });

  // A raw initialize: the SDK client would give up on the error; the server is tried all the same.
  const initialize = (port, p = '/mcp') => get(port, p, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'admin-e2e', version: '1' } },
    }),
  });

  it('server: 503 once a server with no restarts left has exited', T, async () => {
    // Two servers: /mcp serves both, /mcp/<name> each alone.
    const s = setup({
      servers: {
        example: { command: [EXAMPLE], restart: { max: 0 } },
        quitter: { command: ['/bin/false'], restart: { max: 0 } },
      },
    });
    const serve = await startGlasstapeServe(['--config', s.file], {
      ready: /serving MCP at http:\/\/127\.0\.0\.1:(\d+)\/mcp\/quitter for server `quitter`/,
    });
    try {
      const r0 = await get(serve.port, '/readyz');
      assert.equal(r0.status, 200, r0.text);
      const init = await initialize(serve.port, '/mcp/quitter');
      assert.doesNotMatch(init.text, /"result"/, `initialize cannot succeed: ${init.text}`);
      let r;
      await waitUntil(async () => {
        r = await get(serve.port, '/readyz');
        return r.status === 503;
      }, 10_000, 'readyz to turn 503', 50);
      const lines = r.text.split('\n');
      assert.equal(lines[0], 'not ready');
      const fail = lines.find((l) => l.startsWith('FAIL  server[quitter]: '));
      assert.ok(fail, `a FAIL line for the server: ${r.text}`);
      assert.match(fail, /^FAIL {2}server\[quitter\]: down: .*quitter.*exited/, fail);
      // Only the failing check fails.
      assert.deepEqual(lines.filter((l) => l.startsWith('FAIL')), [fail], r.text);
      assert.ok(lines.includes('ok    server[example]: not started yet (starts with the first session)'), r.text);
      const m = await scrape(serve.port);
      const exits = valueOf(m, 'glasstape_upstream_exits_total', { server: 'quitter', restarting: 'false' });
      assert.ok(exits >= 1, `exits: ${exits}\n${m.text}`);
      assert.equal(valueOf(m, 'glasstape_upstream_exits_total', { server: 'quitter', restarting: 'true' }), undefined);
      assert.equal(valueOf(m, 'glasstape_upstream_restarts_total', { server: 'quitter' }), undefined);
      assert.equal(valueOf(m, 'glasstape_upstream_up', { server: 'quitter' }), 0);
      assert.equal(valueOf(m, 'glasstape_upstream_up', { server: 'example' }), 0);
      promtoolCheck(m.text);
    } finally {
      await serve.stop();
    }
  });

  it('server: 503 naming `cannot start` for a command that does not exist', T, async () => {
    const missing = path.join(tmpDir('gt-e2e-admin-missing-'), 'no-such-server');
    const s = setup({ servers: { ghost: { command: [missing], restart: { max: 0 } } } });
    const serve = await startGlasstapeServe(['--config', s.file]);
    try {
      await initialize(serve.port);
      let r;
      await waitUntil(async () => {
        r = await get(serve.port, '/readyz');
        return r.status === 503;
      }, 10_000, 'readyz to turn 503', 50);
      const fail = r.text.split('\n').find((l) => l.startsWith('FAIL  server[ghost]: '));
      assert.ok(fail, r.text);
      assert.match(fail, /^FAIL {2}server\[ghost\]: down: cannot start: /, fail);
      const m = await scrape(serve.port);
      assert.equal(valueOf(m, 'glasstape_upstream_up', { server: 'ghost' }), 0);
      promtoolCheck(m.text);
    } finally {
      await serve.stop();
    }
  });
  // A session whose server crashes; restart {max: 1} with `backoff_ms`.
  async function crashing(backoffMs) {
    const s = setup({
      policy: CRASH_POLICY,
      servers: { example: { command: [EXAMPLE], restart: { max: 1, backoff_ms: backoffMs } } },
    });
    const serve = await startGlasstapeServe(['--config', s.file]);
    let c;
    try {
      c = await httpClient(serve);
      const crashed = await c.client.callTool({ name: 'crash', arguments: {} }).then(
        (r) => ({ result: r }), (e) => ({ error: e }));
      assert.ok(crashed.error || crashed.result.isError, `crash answers with an error: ${JSON.stringify(crashed)}`);
      // The restart waits `backoff_ms`: in the meantime the server is not ready.
      const r = await get(serve.port, '/readyz');
      assert.equal(r.status, 503, r.text);
      assert.match(r.text, /^FAIL {2}server\[example\]: restarting after: .*exited/m, r.text);
      return { serve, c };
    } catch (e) {
      await c?.close();
      await serve.stop().catch(() => {});
      throw e;
    }
  }

  it('server: 503 `restarting after` while a crashed server waits to restart, then up', T, async () => {
    const { serve, c } = await crashing(1000);
    try {
      let r;
      await waitUntil(async () => {
        r = await get(serve.port, '/readyz');
        return r.status === 200;
      }, 10_000, 'readyz to be 200 after the restart', 50);
      assert.ok(r.text.split('\n').includes('ok    server[example]: up'), r.text);
      const ok = await c.client.callTool({ name: 'echo', arguments: { message: 'after the restart' } });
      assert.equal(textOf(ok), 'after the restart');
      const m = await scrape(serve.port);
      assert.equal(valueOf(m, 'glasstape_upstream_exits_total', { server: 'example', restarting: 'true' }), 1, m.text);
      assert.equal(valueOf(m, 'glasstape_upstream_exits_total', { server: 'example', restarting: 'false' }), undefined, m.text);
      assert.equal(valueOf(m, 'glasstape_upstream_restarts_total', { server: 'example' }), 1, m.text);
      assert.equal(valueOf(m, 'glasstape_upstream_up', { server: 'example' }), 1, m.text);
      promtoolCheck(m.text);
    } finally {
      await c.close();
      await serve.stop();
    }
  });

  // A session that ends while its server waits to restart takes that link's state with it: no
  // restart is pending any more.
  it('server: a session ended while its server waits to restart does not leave readyz at 503', T, async () => {
    const { serve, c } = await crashing(1000);
    try {
      await c.close();
      let r;
      await waitUntil(async () => {
        r = await get(serve.port, '/readyz');
        return r.status === 200;
      }, 4000, 'readyz to be 200 once the session is gone', 100).catch((e) => {
        e.message += `\n${r?.text}`;
        throw e;
      });
      assert.doesNotMatch(r.text, /FAIL/, r.text);
    } finally {
      await serve.stop();
    }
  });
});

describe('refusals and methods', { skip }, () => {
  it('counts a refused Host exactly once, refuses it on /metrics too, and 405s POST /metrics', T, async () => {
    const s = setup();
    const serve = await startGlasstapeServe(['--config', s.file]);
    try {
      const m0 = await scrape(serve.port);
      const refused0 = valueOf(m0, 'glasstape_http_refused_total', { reason: 'host' }) ?? 0;
      const mcp0 = valueOf(m0, 'glasstape_http_requests_total', { endpoint: 'mcp' }) ?? 0;
      assert.equal(refused0, 0);

      const evil = await get(serve.port, '/mcp', {
        method: 'POST',
        host: 'evil.example',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
      assert.equal(evil.status, 403, evil.text);
      const m1 = await scrape(serve.port);
      assert.equal(valueOf(m1, 'glasstape_http_refused_total', { reason: 'host' }), refused0 + 1, m1.text);
      assert.equal(valueOf(m1, 'glasstape_http_requests_total', { endpoint: 'mcp' }), mcp0 + 1);
      // No other reason counted it.
      assert.deepEqual(series(m1, 'glasstape_http_refused_total').map((x) => x.labels.reason), ['host']);

      for (const p of ['/metrics', '/readyz', '/healthz']) {
        const bad = await get(serve.port, p, { host: 'evil.example' });
        assert.equal(bad.status, 403, `${p} with a bad Host: ${bad.text}`);
        assert.doesNotMatch(bad.text, /glasstape_|ready|^ok/, `${p} leaks nothing`);
      }
      const bad2 = await get(serve.port, '/metrics', { host: 'evil.example:80' });
      assert.equal(bad2.status, 403);

      for (const p of ['/metrics', '/readyz', '/healthz']) {
        for (const method of ['POST', 'PUT', 'DELETE']) {
          const r = await get(serve.port, p, { method, body: method === 'POST' ? '{}' : undefined,
            headers: method === 'POST' ? { 'Content-Type': 'application/json' } : {} });
          assert.equal(r.status, 405, `${method} ${p}: ${r.text}`);
          assert.equal(r.headers.allow, 'GET, HEAD', `${method} ${p} Allow`);
        }
      }

      // The MCP path itself still answers as before.
      const parse = await get(serve.port, '/mcp', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
        body: '{not json',
      });
      assert.equal(parse.status, 400, parse.text);
      const origin = await get(serve.port, '/mcp', {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          Origin: 'http://evil.example',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
      assert.equal(origin.status, 403, origin.text);
      const other = await get(serve.port, '/nowhere');
      assert.equal(other.status, 404);

      const m2 = await scrape(serve.port);
      // Five bad-Host requests: /mcp, then /metrics, /readyz, /healthz, and /metrics again.
      assert.equal(valueOf(m2, 'glasstape_http_refused_total', { reason: 'host' }), refused0 + 5, m2.text);
      assert.equal(valueOf(m2, 'glasstape_http_refused_total', { reason: 'parse_error' }), 1, m2.text);
      assert.equal(valueOf(m2, 'glasstape_http_refused_total', { reason: 'origin' }), 1, m2.text);
      assert.equal(valueOf(m2, 'glasstape_http_requests_total', { endpoint: 'other' }), 1, m2.text);
      assert.equal(valueOf(m2, 'glasstape_http_requests_total', { endpoint: 'mcp' }), mcp0 + 3, m2.text);
      promtoolCheck(m2.text);
    } finally {
      await serve.stop();
    }
  });
});

describe('a listener of their own', { skip }, () => {
  it('http.admin_endpoints: false hides them from the MCP listener; --admin-listen serves them', T, async () => {
    const s = setup({ http: { admin_endpoints: false } });
    const serve = await startGlasstapeServe(['--config', s.file, '--admin-listen', '127.0.0.1:0']);
    let c;
    try {
      await waitUntil(() => ADMIN_LINE.test(serve.log()), 5000, 'the admin endpoints log line');
      const adminPort = Number(ADMIN_LINE.exec(serve.log())[1]);
      assert.ok(adminPort > 0 && adminPort !== serve.port, `admin port ${adminPort}`);

      for (const p of ['/metrics', '/readyz', '/healthz']) {
        const r = await get(serve.port, p);
        assert.equal(r.status, 404, `${p} on the MCP listener: ${r.text}`);
      }
      const health = await get(adminPort, '/healthz');
      assert.equal(health.status, 200);
      assert.equal(health.text, 'ok\n');
      const ready = await get(adminPort, '/readyz');
      assert.equal(ready.status, 200, ready.text);
      assert.equal(ready.text.split('\n')[0], 'ready');
      for (const p of ['/mcp', '/', '/metricsx', '/healthz/']) {
        const r = await get(adminPort, p, p === '/mcp' ? {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
        } : {});
        assert.equal(r.status, 404, `${p} on the admin listener: ${r.text}`);
      }
      const r405 = await get(adminPort, '/metrics', { method: 'POST', body: '' });
      assert.equal(r405.status, 405);
      assert.equal(r405.headers.allow, 'GET, HEAD');
      // Bound to loopback: a name that is not loopback is refused, localhost is not.
      const evil = await get(adminPort, '/metrics', { host: 'evil.example' });
      assert.equal(evil.status, 403, evil.text);
      const local = await get(adminPort, '/healthz', { host: `localhost:${adminPort}` });
      assert.equal(local.status, 200);

      // MCP still works on the main listener, and its calls show on the admin listener.
      c = await httpClient(serve);
      const [code] = await allowAndDeny(c.client);
      const m = await scrape(adminPort);
      const base = { tenant: TENANT, server: 'example', kind: 'tool', tool: 'echo' };
      assert.equal(valueOf(m, 'glasstape_decisions_total', { ...base, decision: 'allow', code: '' }), 1, m.text);
      assert.equal(valueOf(m, 'glasstape_decisions_total', { ...base, decision: 'deny', code }), 1, m.text);
      assert.equal(valueOf(m, 'glasstape_sessions', { front: 'http' }), 1, m.text);
      promtoolCheck(m.text);
    } finally {
      await c?.close();
      await serve.stop();
    }
  });

  it('admin.listen in the config works too (the endpoints stay on the MCP listener by default)', T, async () => {
    const adminPortWanted = await freePort();
    const s = setup({ top: { admin: { listen: `127.0.0.1:${adminPortWanted}` } } });
    const serve = await startGlasstapeServe(['--config', s.file]);
    try {
      await waitUntil(() => ADMIN_LINE.test(serve.log()), 5000, 'the admin endpoints log line');
      assert.equal(Number(ADMIN_LINE.exec(serve.log())[1]), adminPortWanted);
      const a = await get(adminPortWanted, '/healthz');
      assert.equal(a.status, 200);
      const b = await get(serve.port, '/healthz');
      assert.equal(b.status, 200);
    } finally {
      await serve.stop();
    }
  });

  it('with http.auth they leave the MCP listener, unless http.admin_endpoints: true', T, async () => {
    // An API key made by glasstape itself, for the default tenant.
    const made = spawnSync(requireBinary(), ['keys', 'api-key', '--agent', 'admin-e2e-bot', '--tenant', TENANT, '--id', 'k1'],
      { encoding: 'utf8', timeout: 10_000 });
    assert.equal(made.status, 0, made.stderr);
    const [key, ...rest] = made.stdout.split('\n');
    assert.match(key, /^gtk_/);
    const keysText = `keys:\n${rest.filter((l) => !l.startsWith('#')).join('\n').trimEnd()}\n`;
    const auth = (root) => {
      fs.writeFileSync(path.join(root, 'api-keys.yaml'), keysText);
      return { resource: 'http://127.0.0.1/mcp', api_keys: path.join(root, 'api-keys.yaml') };
    };
    const initBody = JSON.stringify({
      jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'admin-e2e', version: '1' } },
    });
    const post = (port, headers = {}) => get(port, '/mcp', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
      body: initBody,
    });

    // Default: the endpoints are only on the admin listener.
    const a = setup();
    let cfg = JSON.parse(fs.readFileSync(a.file, 'utf8'));
    cfg.http.auth = auth(a.root);
    fs.writeFileSync(a.file, JSON.stringify(cfg));
    let serve = await startGlasstapeServe(['--config', a.file, '--admin-listen', '127.0.0.1:0']);
    try {
      await waitUntil(() => ADMIN_LINE.test(serve.log()), 5000, 'the admin endpoints log line');
      const adminPort = Number(ADMIN_LINE.exec(serve.log())[1]);
      for (const p of ['/metrics', '/readyz', '/healthz']) {
        const r = await get(serve.port, p);
        assert.equal(r.status, 404, `${p} on the MCP listener with http.auth: ${r.status} ${r.text}`);
      }
      const refused = await post(serve.port);
      assert.equal(refused.status, 401, refused.text);
      const allowed = await post(serve.port, { 'X-API-Key': key });
      assert.equal(allowed.status, 200, allowed.text);
      const m = await scrape(adminPort);
      assert.equal(valueOf(m, 'glasstape_http_refused_total', { reason: 'unauthenticated' }), 1, m.text);
      assert.deepEqual(series(m, 'glasstape_http_refused_total').map((x) => x.labels.reason), ['unauthenticated'], m.text);
      assert.equal(valueOf(m, 'glasstape_sessions_opened_total', { front: 'http' }), 1, m.text);
      assert.equal((await get(adminPort, '/readyz')).status, 200);
    } finally {
      await serve.stop();
    }

    // Asked for: served on the MCP listener with no credential, like /healthz of any service.
    const b = setup({ http: { admin_endpoints: true } });
    cfg = JSON.parse(fs.readFileSync(b.file, 'utf8'));
    cfg.http.auth = auth(b.root);
    fs.writeFileSync(b.file, JSON.stringify(cfg));
    serve = await startGlasstapeServe(['--config', b.file]);
    try {
      const h = await get(serve.port, '/healthz');
      assert.equal(h.status, 200, h.text);
      await scrape(serve.port);
      assert.equal((await post(serve.port)).status, 401);
      assert.doesNotMatch(serve.log(), ADMIN_LINE, 'no admin listener was asked for');
    } finally {
      await serve.stop();
    }
  });

  it('glasstape run --admin-listen: the stdio session and its decisions are counted', T, async () => {
    const s = setup({ withServers: false });
    const sess = await connect('proxy', [EXAMPLE], {
      config: s.file,
      extra: ['--admin-listen', '127.0.0.1:0'],
      capabilities: {},
    });
    try {
      await waitUntil(() => ADMIN_LINE.test(sess.stderr()), 5000, `the admin endpoints log line:\n${sess.stderr()}`);
      const adminPort = Number(ADMIN_LINE.exec(sess.stderr())[1]);
      const [code] = await allowAndDeny(sess.client);
      const m = await scrape(adminPort);
      assertOneAllowOneDeny(m, 'server', code);  // `run -- CMD` names the server `server`
      assert.equal(valueOf(m, 'glasstape_sessions', { front: 'stdio' }), 1, m.text);
      assert.equal(valueOf(m, 'glasstape_sessions_opened_total', { front: 'stdio' }), 1, m.text);
      assert.equal(valueOf(m, 'glasstape_upstream_up', { server: 'server' }), 1, m.text);
      assert.equal(histogramCount(m, 'glasstape_decide_duration_seconds', { tenant: TENANT }), 2);
      assert.equal(histogramCount(m, 'glasstape_upstream_duration_seconds', { tenant: TENANT, server: 'server' }), 1);
      promtoolCheck(m.text);
      const ready = await get(adminPort, '/readyz');
      assert.equal(ready.status, 200, ready.text);
      assert.ok(ready.text.split('\n').includes('ok    server[server]: up'), ready.text);
      assert.equal((await get(adminPort, '/mcp')).status, 404);
    } finally {
      await sess.close();
      await waitUntil(() => !isAlive(sess.pid), 10_000, 'glasstape run to exit');
    }
  });
});

describe('--log-format json', { skip }, () => {
  const RFC3339_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
  const LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical'];

  // Every line of `log` one JSON object with exactly the four string fields.
  function checkJsonLines(log) {
    const lines = log.split('\n');
    assert.equal(lines.at(-1), '', 'the log ends with a newline');
    const objs = [];
    for (const line of lines.slice(0, -1)) {
      let o;
      assert.doesNotThrow(() => (o = JSON.parse(line)), `not JSON: \`${line}\``);
      assert.ok(o && typeof o === 'object' && !Array.isArray(o), `not an object: \`${line}\``);
      assert.deepEqual(Object.keys(o).sort(), ['level', 'logger', 'msg', 'time'], line);
      for (const k of ['time', 'level', 'logger', 'msg']) assert.equal(typeof o[k], 'string', `${k} in ${line}`);
      assert.match(o.time, RFC3339_Z, line);
      assert.ok(Math.abs(Date.parse(o.time) - Date.now()) < 10 * 60_000, `time ${o.time} is now, in UTC`);
      assert.ok(LEVELS.includes(o.level), `level ${o.level}`);
      assert.notEqual(o.logger, '', line);
      objs.push(o);
    }
    return objs;
  }

  it('serve: every log line is one JSON object, and one names the serving URL', T, async () => {
    const s = setup();
    const serve = await startGlasstapeServe(['--config', s.file, '--log-format', 'json']);
    let c;
    try {
      c = await httpClient(serve);
      await allowAndDeny(c.client);
    } finally {
      await c?.close();
      await serve.stop();
    }
    const objs = checkJsonLines(serve.log());
    assert.ok(objs.length >= 4, serve.log());
    assert.ok(objs.some((o) => o.msg.includes(serve.url) && /serving MCP at/.test(o.msg)), serve.log());
    assert.ok(objs.some((o) => o.level === 'info'), serve.log());
  });

  it('run: log_format: json in the config does the same', T, async () => {
    const s = setup({ withServers: false, top: { log_format: 'json' } });
    const sess = await connect('proxy', [EXAMPLE], { config: s.file, capabilities: {} });
    try {
      await allowAndDeny(sess.client);
    } finally {
      await sess.close();
      await waitUntil(() => !isAlive(sess.pid), 10_000, 'glasstape run to exit');
    }
    const objs = checkJsonLines(sess.stderr());
    assert.ok(objs.length >= 2, sess.stderr());
    assert.ok(objs.some((o) => o.msg.includes(EXAMPLE)), `a line names the server command:\n${sess.stderr()}`);
  });

  // The fatal error that ends start-up (`admin.listen: cannot listen on ...`) is a JSON line too.
  it('a fatal start-up error is a JSON line too', T, async () => {
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
    try {
      const s = setup();
      const busy = blocker.address().port;
      const r = spawnSync(requireBinary(), [
        'serve', '--config', s.file, '--log-format', 'json', '--admin-listen', `127.0.0.1:${busy}`,
      ], { encoding: 'utf8', timeout: 15_000 });
      assert.equal(r.status, 2, r.stderr);
      const objs = checkJsonLines(r.stderr);
      assert.ok(objs.some((o) => o.msg.includes(`cannot listen on 127.0.0.1:${busy}`)), r.stderr);
    } finally {
      blocker.close();
    }
  });

  it('an unknown --log-format is a usage error', T, () => {
    const s = setup();
    const r = spawnSync(requireBinary(), ['serve', '--config', s.file, '--log-format', 'xml'], {
      encoding: 'utf8', timeout: 10_000,
    });
    assert.equal(r.status, 2, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /log-format/, r.stderr);
  });
});

