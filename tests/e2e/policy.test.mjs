// The policy engine end to end: real calls from the SDK client through `glasstape run` to the
// example server (build/tests/glasstape-example-server).
//
// Every denial is also shown not to have reached the server. The example server keeps its
// "files" in memory, so a denied write_file or delete_file leaves its store unchanged
// (list_files / read_file, allowed, show it); a denied `crash` leaves the server alive with its
// state; and for any call, the audit log holds a result record only for forwarded calls.
//
//   GT_EXAMPLE_SERVER  the example server (default <repo>/build/tests/glasstape-example-server)
//   GT_SHARED_DIR      the shared test material (default <repo>/../shared), read in place
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import {
  REPO_ROOT,
  DECISION_META_KEY,
  connect,
  glasstapeBin,
  modes,
  recordPayload,
  requireBinary,
  textOf,
  tmpDir,
  waitUntil,
  writeConfig,
} from './lib/harness.mjs';

const T = { timeout: 60_000 };
const EXAMPLE =
  process.env.GT_EXAMPLE_SERVER || path.join(REPO_ROOT, 'build', 'tests', 'glasstape-example-server');
const SHARED = process.env.GT_SHARED_DIR || path.join(REPO_ROOT, '..', 'shared');
const SEED_POLICIES = path.join(SHARED, 'seed', 'policies');

function glasstape(args, env = {}) {
  const e = { ...process.env, ...env };
  delete e.GT_ED25519_PRIVATE_KEY;
  return spawnSync(glasstapeBin(), args, { env: e, encoding: 'utf8' });
}

// A tenant with a policy directory (files: name → text), its limit state and an audit log.
function setup(files, policies = {}, identity = {}) {
  const root = tmpDir('gt-e2e-policy-');
  const dir = path.join(root, 'policies');
  fs.mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const s = {
    root,
    dir,
    stateDir: path.join(root, 'state'),
    auditDir: path.join(root, 'audit'),
    keysDir: path.join(root, 'keys'),
  };
  s.config = writeConfig({
    identity: { agent_id: 'e2e-agent', roles: ['analyst'], ...identity },
    governance: {
      policies: { dir, state_dir: s.stateDir, reload_interval_ms: 100, ...policies },
      audit: { dir: s.auditDir, keys_dir: s.keysDir, record_args: 'full' },
    },
  });
  s.connect = () => connect('proxy', [EXAMPLE], { config: s.config, capabilities: {} });
  return s;
}

// The audit log's records (decisions and results): the payloads of its signed envelopes (v1)
// or its lines (v2).
// (`glasstape tail` shows decisions only; `glasstape verify` checks the signatures.)
function auditRecords(s) {
  const out = [];
  for (const f of fs.readdirSync(s.auditDir).filter((n) => /^audit(-\d{12})?\.jsonl$/.test(n)).sort()) {
    for (const line of fs.readFileSync(path.join(s.auditDir, f), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      out.push(recordPayload(line));
    }
  }
  return out;
}

// The audit log says the call with this receipt was never forwarded: no result record.
function assertNotForwarded(s, receiptId) {
  assert.ok(receiptId, 'the denial names its receipt');
  const recs = auditRecords(s);
  assert.ok(recs.some((p) => p.id === receiptId), `decision ${receiptId} is in the audit log`);
  const res = recs.filter((p) => p.kind === 'result' && p.decision_id === receiptId);
  assert.deepEqual(res, [], `a result was recorded for the denied call ${receiptId}`);
}

async function call(sess, name, args) {
  return sess.client.callTool({ name, arguments: args });
}

function allowed(r) {
  assert.notEqual(r.isError, true, `expected an allowed call: ${textOf(r)}`);
  return textOf(r);
}

// A denied call's result. (The harness's assertDenied also wants the reason to name the
// tool, as deny_tools reasons do; a policy's reason is the rule's own text.)
function denied(r, tool, code) {
  assert.equal(r.isError, true, `expected a denied call: ${JSON.stringify(r)}`);
  // The text names the tool as policies do: `server/tool`.
  assert.match(textOf(r), new RegExp(`^GlassTape denied this call to \`[a-z0-9_-]+/${tool}\`: `), textOf(r));
  const d = r._meta?.[DECISION_META_KEY];
  assert.ok(d && d.decision === 'deny', JSON.stringify(r._meta));
  assert.equal(d.code, code, JSON.stringify(d));
  assert.ok(textOf(r).includes(d.reason), textOf(r));
  return d;
}

async function files(sess) {
  return allowed(await call(sess, 'list_files', {}))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/ \(\d+ bytes\)$/, ''))
    .sort();
}

const FILES_POLICY = `policy_id: e2e.files
version: "1"
tools: [write_file, read_file, list_files]
limits:
  - {id: bytes-per-week, type: spend, amount: "tool.name == 'write_file' ? size(args.content) : 0", max: 20, window: 7d, per: principal}
rules:
  deny:
    - id: no-secrets
      condition: "tool.name != 'list_files' && args.path.contains('secret')"
      reason: secret paths are off limits
    - id: numbers-only
      condition: "tool.name == 'write_file' && args.path.startsWith('/num/') && int(args.content) > 10"
      reason: numbers over 10 are not allowed
  allow:
    - id: reads
      condition: "tool.name != 'write_file'"
    - id: tmp-writes
      condition: "args.path.startsWith('/tmp/') || args.path.startsWith('/num/')"
`;

const DELETE_POLICY = `policy_id: e2e.deletes
version: "1"
tools: [delete_file]
extraction_bindings:
  bindings:
    - {path: input.principal.attr.ticket, sources: [{type: context, name: ticket}], required: true}
limits:
  - {id: one-delete-per-week, type: rate, max: 1, window: 7d, per: principal}
rules:
  allow:
    - {id: with-ticket, condition: "ticket != ''"}
`;

const ECHO_POLICY = `policy_id: e2e.echo
version: "1"
tools: [echo, list_files]
rules:
  allow: [{id: any, condition: ""}]
`;

if (modes().includes('proxy')) {
  describe('policies (proxy)', () => {
    test('an allow, and a deny from each rule kind, none reaching the server', T, async (t) => {
      requireBinary();
      const s = setup({ 'files.yaml': FILES_POLICY });
      const sess = await s.connect();
      t.after(() => sess.close());

      // allow
      assert.equal(allowed(await call(sess, 'write_file', { path: '/tmp/a', content: 'hello' })),
        'wrote /tmp/a');
      // a deny rule
      let d = denied(await call(sess, 'write_file', { path: '/tmp/secret', content: 'x' }),
        'write_file', 'GT-POLICY-DENY');
      assert.equal(d.rule_id, 'no-secrets');
      assert.equal(d.policy_id, 'e2e.files');
      assert.match(d.reason, /secret paths are off limits/);
      // no matching allow rule
      d = denied(await call(sess, 'write_file', { path: '/etc/passwd', content: 'x' }),
        'write_file', 'GT-POLICY-NOMATCH');
      assert.match(d.reason, /no matching allow rule/);
      // an evaluation error inside a deny rule denies (fail closed)
      d = denied(await call(sess, 'write_file', { path: '/num/n', content: 'abc' }),
        'write_file', 'GT-POLICY-ERROR');
      assert.equal(d.rule_id, 'numbers-only');
      // no policy for the tool; `crash` would kill the server if it got there
      d = denied(await call(sess, 'crash', {}), 'crash', 'GT-POLICY-NONE');
      assert.match(d.reason, /no policy for tool `crash`/);
      // a schema mismatch (the schema stage, before policies)
      d = denied(await call(sess, 'write_file', { path: '/tmp/b', content: 7 }), 'write_file',
        'GT-SCHEMA-INVALID');
      // an exhausted spend budget: 5 bytes used, 16 more > 20
      d = denied(await call(sess, 'write_file', { path: '/tmp/big', content: 'x'.repeat(16) }),
        'write_file', 'GT-LIMIT');
      assert.equal(d.rule_id, 'bytes-per-week');
      assert.match(d.reason,
        /spend budget `bytes-per-week` of policy `e2e\.files` exceeded: 5 used \+ 16 requested > 20 per 7d per principal; resets at \d{4}-\d\d-\d\dT00:00:00Z \(in \d/);
      // a call that fits the budget is still allowed
      allowed(await call(sess, 'write_file', { path: '/num/n', content: '7' }));

      // The server never saw a denied call: its store has exactly the two allowed writes (and
      // it is the same process: the denied `crash` did not restart it).
      assert.deepEqual(await files(sess),
        ['/docs/budget.csv', '/docs/readme.txt', '/num/n', '/tmp/a']);
      for (const r of auditRecords(s).filter((p) => p.kind === 'decision' && p.decision === 'deny')) {
        assertNotForwarded(s, r.id);
      }
    });

    test('a missing required binding and an exhausted rate limit; counters survive a restart',
      T, async (t) => {
        requireBinary();
        const withTicket = setup({ 'deletes.yaml': DELETE_POLICY, 'echo.yaml': ECHO_POLICY,
          'files.yaml': FILES_POLICY }, {}, { attributes: { ticket: 'OPS-1' } });
        const noTicket = setup({ 'deletes.yaml': DELETE_POLICY, 'echo.yaml': ECHO_POLICY,
          'files.yaml': FILES_POLICY });

        // The identity has no `ticket` attribute: a required binding is missing → deny.
        const a = await noTicket.connect();
        t.after(() => a.close());
        const d0 = denied(await call(a, 'delete_file', { path: '/docs/readme.txt' }), 'delete_file',
          'GT-POLICY-ERROR');
        assert.match(d0.reason, /required value `ticket` is missing/);
        assert.match(allowed(await call(a, 'read_file', { path: '/docs/readme.txt' })), /Welcome/);
        await a.close();

        const b = await withTicket.connect();
        assert.equal(allowed(await call(b, 'delete_file', { path: '/docs/readme.txt' })),
          'deleted /docs/readme.txt');
        const d1 = denied(await call(b, 'delete_file', { path: '/docs/budget.csv' }), 'delete_file',
          'GT-LIMIT');
        assert.equal(d1.rule_id, 'one-delete-per-week');
        assert.match(d1.reason,
          /rate limit `one-delete-per-week` of policy `e2e\.deletes` exceeded: 1 calls per 7d per principal; resets at \d{4}-\d\d-\d\dT00:00:00Z \(in \d/);
        assert.match(allowed(await call(b, 'read_file', { path: '/docs/budget.csv' })), /laptop/);
        await b.close();

        // (7-day windows, aligned to the epoch: the test cannot straddle a reset.)
        // A restart of glasstape (and of the server): the counter is still exhausted.
        const c = await withTicket.connect();
        t.after(() => c.close());
        const d2 = denied(await call(c, 'delete_file', { path: '/docs/budget.csv' }), 'delete_file',
          'GT-LIMIT');
        assert.equal(d2.rule_id, 'one-delete-per-week');
        assert.deepEqual(await files(c), ['/docs/budget.csv', '/docs/readme.txt']);
        assertNotForwarded(withTicket, d2.receipt_id);
      });

    test('two proxies sharing a state dir share one limit', T, async (t) => {
      requireBinary();
      // One `glasstape run` per MCP server for the same tenant: one state dir, one limit.
      const s = setup({ 'deletes.yaml': DELETE_POLICY.replace('max: 1,', 'max: 2,'),
        'echo.yaml': ECHO_POLICY }, {}, { attributes: { ticket: 'OPS-1' } });
      const a = await s.connect();
      t.after(() => a.close());
      const b = await s.connect();
      t.after(() => b.close());
      allowed(await call(a, 'delete_file', { path: '/docs/readme.txt' }));
      allowed(await call(b, 'delete_file', { path: '/docs/budget.csv' }));
      for (const [sess, p] of [[a, '/docs/budget.csv'], [b, '/docs/readme.txt']]) {
        const d = denied(await call(sess, 'delete_file', { path: p }), 'delete_file', 'GT-LIMIT');
        assert.match(d.reason, /rate limit `one-delete-per-week` of policy `e2e\.deletes` exceeded: 2 calls per 7d/);
      }
      assert.deepEqual(await files(a), ['/docs/budget.csv']);
      assert.deepEqual(await files(b), ['/docs/readme.txt']);
    });

    test('monitor mode forwards the call and records would-deny', T, async (t) => {
      requireBinary();
      const s = setup({ 'files.yaml': FILES_POLICY }, { mode: 'monitor' });
      const sess = await s.connect();
      t.after(() => sess.close());
      // A deny rule matches, but monitor mode forwards the call: the server writes the file.
      assert.equal(allowed(await call(sess, 'write_file', { path: '/tmp/secret', content: 'x' })),
        'wrote /tmp/secret');
      assert.ok((await files(sess)).includes('/tmp/secret'));
      // `glasstape tail --denied` shows would-denies too.
      const tail = glasstape(['tail', s.auditDir, '--denied', '--json']);
      assert.equal(tail.status, 0, tail.stderr);
      const shown = tail.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      const dec = shown.find((p) => p.kind === 'decision' && p.tool === 'write_file');
      assert.ok(dec, tail.stdout);
      assert.equal(dec.decision, 'allow');
      assert.equal(dec.would_deny, true, JSON.stringify(dec));
      assert.equal(dec.mode, 'monitor');
      assert.equal(dec.rule_id, 'no-secrets', JSON.stringify(dec));
      await waitUntil(() => auditRecords(s).some((p) => p.kind === 'result' && p.decision_id === dec.id),
        10_000, 'the result record of the forwarded call');
      const v = glasstape(['verify', s.auditDir], { GT_KEYS_DIR: s.keysDir });
      assert.equal(v.status, 0, v.stdout + v.stderr);
      assert.match(sess.stderr(), /monitor mode: would deny/);
    });

    test('hot reload: the next call uses the new version; a broken edit keeps the last good one',
      T, async (t) => {
        requireBinary();
        const s = setup({ 'files.yaml': FILES_POLICY, 'echo.yaml': ECHO_POLICY });
        const sess = await s.connect();
        t.after(() => sess.close());
        allowed(await call(sess, 'write_file', { path: '/tmp/v1', content: 'a' }));

        // Version 2 also denies writes under /tmp/hot. Make the change visible to the poller
        // (size and mtime change), then wait for the reload log line.
        const file = path.join(s.dir, 'files.yaml');
        const v2 = FILES_POLICY.replace('version: "1"', 'version: "2"').replace(
          '  deny:\n',
          '  deny:\n    - {id: no-hot, condition: "has(args.path) && args.path.startsWith(\'/tmp/hot\')", reason: hot paths closed in v2}\n');
        fs.writeFileSync(file, v2);
        await waitUntil(() => (sess.stderr().match(/policy: loaded \d+ policies/g) || []).length >= 2,
          10_000, 'the reload of version 2');
        let d = denied(await call(sess, 'write_file', { path: '/tmp/hot1', content: 'a' }),
          'write_file', 'GT-POLICY-DENY');
        assert.equal(d.rule_id, 'no-hot');
        assert.equal(d.policy_version, '2');

        // A broken edit: loud in the log, and version 2 still decides.
        fs.writeFileSync(file, v2.replace('rules:', 'rules:\n  deny: [{id: broken, condition: "args.path ==="}]\n  bogus:'));
        await waitUntil(() => /policy reload of `[^`]+` failed; keeping the last good version/.test(sess.stderr()),
          10_000, 'the failed reload in the log');
        d = denied(await call(sess, 'write_file', { path: '/tmp/hot2', content: 'a' }),
          'write_file', 'GT-POLICY-DENY');
        assert.equal(d.policy_version, '2');
        assert.deepEqual(await files(sess), ['/docs/budget.csv', '/docs/readme.txt', '/tmp/v1']);
      });

    test('require_signed_policies: an altered file is not loaded; its tools are denied', T,
      async (t) => {
        requireBinary();
        const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
        const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url');
        const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
        // list_files is governed by echo.yaml only here, so it can show the server's store.
        const filesPolicy = FILES_POLICY.replace('tools: [write_file, read_file, list_files]',
          'tools: [write_file, read_file]');
        const s = setup({ 'files.yaml': filesPolicy, 'echo.yaml': ECHO_POLICY },
          { require_signed_policies: true, public_key: pub.toString('base64') });
        const keyFile = path.join(s.root, 'policy.key');
        fs.writeFileSync(keyFile, seed.toString('base64'), { mode: 0o600 }); // a private key
        const sign = glasstape(['policy', 'sign', s.dir, '--key', keyFile]);
        assert.equal(sign.status, 0, sign.stdout + sign.stderr);

        // Signed and intact: allowed.
        let sess = await s.connect();
        allowed(await call(sess, 'write_file', { path: '/tmp/signed', content: 'a' }));
        await sess.close();

        // Altered after signing: the tools it governs are denied with that reason.
        fs.appendFileSync(path.join(s.dir, 'files.yaml'), '# allow everything now\n');
        sess = await s.connect();
        t.after(() => sess.close());
        const d = denied(await call(sess, 'write_file', { path: '/tmp/altered', content: 'a' }),
          'write_file', 'GT-POLICY-UNSIGNED');
        assert.match(d.reason, /`files\.yaml` was altered after signing \(sha256 mismatch\)/);
        allowed(await call(sess, 'echo', { message: 'still signed' }));
        assert.deepEqual(await files(sess), ['/docs/budget.csv', '/docs/readme.txt']);
        assertNotForwarded(s, d.receipt_id);
      });

    test('the GlassTape SDK seed policies decide through the proxy (read in place)', T,
      async (t) => {
        requireBinary();
        assert.ok(fs.existsSync(path.join(SEED_POLICIES, 'finance.payments.v1.json')),
          `seed policies at ${SEED_POLICIES} (set GT_SHARED_DIR)`);
        const s = setup({}, {
          dir: SEED_POLICIES,
          reload: false,
          bindings: { make_payment: 'finance.payments.v1', fetch: 'external.api_call.v1' },
        }, { attributes: { user_role: 'analyst' } });
        const sess = await s.connect();
        t.after(() => sess.close());
        assert.match(allowed(await call(sess, 'make_payment', { amount: 20, recipient: 'acme' })),
          /^paid 20(\.0)? USD to acme$/);
        const d = denied(await call(sess, 'make_payment', { amount: 60, recipient: 'acme' }),
          'make_payment', 'GT-POLICY-DENY');
        assert.equal(d.policy_id, 'finance.payments.v1');
        assert.equal(d.rule_id, 'deny-large-payments-for-analysts');
        assertNotForwarded(s, d.receipt_id);
        // external.api_call.v1 needs `endpoint`, which fetch does not have: required → deny.
        const f = denied(await call(sess, 'fetch', { url: 'https://example.com/' }), 'fetch',
          'GT-POLICY-ERROR');
        assert.match(f.reason, /required value `endpoint` is missing/);
        assertNotForwarded(s, f.receipt_id);
        // echo is governed by none of them.
        denied(await call(sess, 'echo', { message: 'hi' }), 'echo', 'GT-POLICY-NONE');
      });
  });
}
