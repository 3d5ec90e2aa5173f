// The command line as a newcomer meets it (issue 15): `--` after repeatable options, the
// default server name, monitor-mode records, the offline tools reading the config, a port in
// use, unknown commands and exit codes (0 ok, 1 check failed, 2 usage error or cannot run),
// policy test/check on bad or empty directories, config error positions, help examples and
// `policy eval`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';

import {
  DECISION_META_KEY,
  EVERYTHING_ENTRY,
  NODE,
  connect,
  glasstapeBin,
  recordPayload,
  requireBinary,
  textOf,
  tmpDir,
  writeConfig,
} from './lib/harness.mjs';

const T = { timeout: 60_000 };
// A server command with options of its own after `--` (as `npx -y server`).
const SERVER = [NODE, '--no-warnings', EVERYTHING_ENTRY, 'stdio'];

function glasstape(args, opts = {}) {
  const env = { ...process.env, ...(opts.env || {}) };
  delete env.GT_ED25519_PRIVATE_KEY;
  return spawnSync(glasstapeBin(), args, { env, encoding: 'utf8', input: '', timeout: 30_000 });
}

// A config whose audit log and keys live in custom places (not ~/.glasstape).
function setup({ policies = null, mode = null } = {}) {
  const root = tmpDir('gt-e2e-cli-');
  const s = { root, auditDir: path.join(root, 'my-audit'), keysDir: path.join(root, 'my-keys') };
  const governance = { audit: { dir: s.auditDir, keys_dir: s.keysDir, fsync: 'always' } };
  if (policies) {
    s.policyDir = path.join(root, 'policies');
    fs.mkdirSync(s.policyDir);
    for (const [name, text] of Object.entries(policies)) fs.writeFileSync(path.join(s.policyDir, name), text);
    governance.policies = { dir: s.policyDir, state_dir: path.join(root, 'state'), ...(mode ? { mode } : {}) };
  }
  s.config = writeConfig({ identity: { agent_id: 'cli-agent' }, governance });
  return s;
}

function records(dir) {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const f of fs.readdirSync(dir).filter((n) => /^audit(-\d{12})?\.jsonl$/.test(n))) {
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (line.trim()) out.push(recordPayload(line));
    }
  }
  return out;
}

const ECHO_DENY = `policy_id: cli.echo
version: "1"
tools: [echo]
rules:
  deny:
    - id: no-secret-echo
      condition: "args.message.contains('secret')"
      reason: secrets are never echoed
  allow:
    - id: anything-else
      condition: ""
`;

describe('glasstape CLI', () => {
  test('--deny-tool before `--` leaves the server command whole; the default name is logged', T, async (t) => {
    requireBinary();
    const s = setup();
    const sess = await connect('proxy', SERVER, { config: s.config, denyTools: ['ech*', 'nothing'] });
    t.after(() => sess.close());
    const r = await sess.client.callTool({ name: 'echo', arguments: { message: 'hi' } });
    assert.equal(r.isError, true, JSON.stringify(r));
    assert.equal(r._meta[DECISION_META_KEY].code, 'GT-DENY-TOOL');
    await sess.client.listTools();
    const ok = await sess.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
    assert.notEqual(ok.isError, true, textOf(ok));
    assert.match(sess.stderr(), /server `server` is the command after `--` \(default name\).*`server\/<tool>`/);
  });

  test('a call no policy governs is denied with the server/ prefix policies match', T, async (t) => {
    requireBinary();
    const s = setup({ policies: { 'echo.yaml': ECHO_DENY } });
    const sess = await connect('proxy', SERVER, { config: s.config });
    t.after(() => sess.close());
    await sess.client.listTools();
    const r = await sess.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
    assert.equal(r.isError, true, JSON.stringify(r));
    assert.match(textOf(r), /no policy for tool `get-sum` of server `server`.*`server\/get-sum`/);
  });

  test('monitor mode: the signed record keeps code, reason and decided_by; one log line', T, async (t) => {
    requireBinary();
    const s = setup({ policies: { 'echo.yaml': ECHO_DENY }, mode: 'monitor' });
    const sess = await connect('proxy', SERVER, { config: s.config });
    t.after(() => sess.close());
    const r = await sess.client.callTool({ name: 'echo', arguments: { message: 'a secret' } });
    assert.notEqual(r.isError, true, textOf(r));
    const dec = records(s.auditDir).find((p) => p.kind === 'decision' && p.tool === 'echo');
    assert.ok(dec, 'decision record');
    assert.equal(dec.decision, 'allow');
    assert.equal(dec.would_deny, true);
    assert.equal(dec.code, 'GT-POLICY-DENY', JSON.stringify(dec));
    assert.equal(dec.reason, 'secrets are never echoed', JSON.stringify(dec));
    assert.equal(dec.decided_by, 'policy', JSON.stringify(dec));
    const tail = glasstape(['tail', '--config', s.config, '--no-color']);
    assert.equal(tail.status, 0, tail.stderr);
    assert.match(tail.stdout, /WOULD-DENY\s+no-secret-echo\s+secrets are never echoed/);
    const lines = sess.stderr().split('\n').filter((l) => /would deny/.test(l));
    assert.equal(lines.length, 1, sess.stderr());
    assert.match(lines[0], /GT-POLICY-DENY rule no-secret-echo: secrets are never echoed/);
  });

  test('a decision records the protocol version and a valid traceparent from _meta (issue 16)', T, async (t) => {
    requireBinary();
    const s = setup();
    const sess = await connect('proxy', SERVER, { config: s.config, denyTools: ['echo'] });
    t.after(() => sess.close());
    const tp = '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01';
    await sess.client.callTool({ name: 'echo', arguments: { message: 'a' }, _meta: { traceparent: tp } });
    // Not W3C (upper-case hex, an all-zero trace id): not recorded.
    await sess.client.callTool({ name: 'echo', arguments: { message: 'b' },
      _meta: { traceparent: tp.toUpperCase() } });
    await sess.client.callTool({ name: 'echo', arguments: { message: 'c' },
      _meta: { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` } });
    const decs = records(s.auditDir).filter((p) => p.kind === 'decision' && p.tool === 'echo');
    assert.equal(decs.length, 3, JSON.stringify(decs));
    for (const d of decs) assert.match(d.protocol_version ?? '', /^\d{4}-\d{2}-\d{2}$/, JSON.stringify(d));
    assert.equal(decs[0].traceparent, tp);
    assert.equal(decs[1].traceparent, undefined, JSON.stringify(decs[1]));
    assert.equal(decs[2].traceparent, undefined, JSON.stringify(decs[2]));
    await sess.close();
    const v = glasstape(['verify', '--config', s.config]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
  });

  test('verify, tail and keys read audit.dir and keys_dir from --config', T, async (t) => {
    requireBinary();
    const s = setup();
    const sess = await connect('proxy', SERVER, { config: s.config, denyTools: ['echo'] });
    await sess.client.callTool({ name: 'echo', arguments: { message: 'x' } });
    await sess.close();
    const v = glasstape(['verify', '--config', s.config]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /ok: \d+ records intact/);
    assert.ok(v.stdout.includes(s.keysDir), v.stdout);
    const tail = glasstape(['tail', '--config', s.config, '--denied', '--json']);
    assert.equal(tail.status, 0, tail.stderr);
    assert.equal(JSON.parse(tail.stdout.trim().split('\n').pop()).tool, 'echo');
    const keys = glasstape(['keys', 'show', '--config', s.config]);
    assert.equal(keys.status, 0, keys.stderr);
    assert.match(keys.stdout, /agent:\s+cli-agent/);
    assert.ok(keys.stdout.includes(s.keysDir), keys.stdout);
    // Without the config, the default keys dir has no keyring for this log: cannot run.
    const bare = glasstape(['verify', s.auditDir]);
    assert.equal(bare.status, 2, bare.stdout + bare.stderr);
  });

  test('serve on a port in use: one readable line, exit 2, no audit record', T, async (t) => {
    requireBinary();
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
    t.after(() => blocker.close());
    const port = blocker.address().port;
    const root = tmpDir('gt-e2e-cli-');
    const auditDir = path.join(root, 'audit');
    const config = writeConfig({
      servers: { example: { command: SERVER } },
      governance: { audit: { dir: auditDir, keys_dir: path.join(root, 'keys') } },
    });
    const r = glasstape(['serve', '--config', config, '--listen', `127.0.0.1:${port}`]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: Address already in use`));
    assert.doesNotMatch(r.stderr, /boost|asio|\.hpp/i);
    assert.deepEqual(records(auditDir), []);
  });

  test('unknown commands list the commands; usage errors exit 2', T, () => {
    requireBinary();
    const top = glasstape(['frobnicate']);
    assert.equal(top.status, 2, top.stderr);
    assert.match(top.stderr, /unknown command `frobnicate`/);
    assert.match(top.stderr, /commands: serve, run, policy, verify, tail, recover, keys/);
    const none = glasstape([]);
    assert.equal(none.status, 2, none.stderr);
    assert.match(none.stderr, /commands: /);
    const sub = glasstape(['policy', 'frob']);
    assert.equal(sub.status, 2, sub.stderr);
    assert.match(sub.stderr, /commands: check, test, sign, verify, eval/);
    const badOpt = glasstape(['tail', '--no-such-option']);
    assert.equal(badOpt.status, 2, badOpt.stderr);
    const missing = glasstape(['policy', 'check']);
    assert.equal(missing.status, 2, missing.stderr);
    const help = glasstape(['--help']);
    assert.equal(help.status, 0);
  });

  test('every command\'s help carries an example', T, () => {
    requireBinary();
    for (const cmd of [[], ['run'], ['serve'], ['policy'], ['policy', 'check'], ['policy', 'test'],
      ['policy', 'sign'], ['policy', 'verify'], ['policy', 'eval'], ['verify'], ['tail'], ['keys'],
      ['keys', 'generate'], ['keys', 'show'], ['keys', 'rotate'], ['keys', 'api-key']]) {
      const r = glasstape([...cmd, '--help']);
      assert.equal(r.status, 0, `${cmd.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /Example:\n  glasstape /, `${cmd.join(' ')} --help`);
    }
  });

  test('keys api-key: a new key once, and a keys-file entry holding only its SHA-256', T, () => {
    requireBinary();
    const a = glasstape(['keys', 'api-key', '--agent', 'ci-bot', '--tenant', 'acme', '--id', 'ci-1']);
    assert.equal(a.status, 0, a.stderr);
    const [key, ...rest] = a.stdout.split('\n');
    assert.match(key, /^gtk_[A-Za-z0-9_-]{43}$/);
    const entry = rest.join('\n');
    const sha = crypto.createHash('sha256').update(key).digest('hex');
    assert.ok(entry.includes(`  - id: ci-1\n    sha256: ${sha}\n`), entry);
    assert.match(entry, /id: "ci-bot"\n\s+tenant: acme/);
    assert.ok(!entry.includes(key), 'the entry never holds the key');
    const b = glasstape(['keys', 'api-key', '--agent', 'ci-bot', '--tenant', 'acme']);
    assert.notEqual(b.stdout.split('\n')[0], key, 'every key is new');
    assert.match(b.stdout, /- id: ci-bot-key\n/);
    // A tenant selects directories on disk: refused unless a plain name.
    const bad = glasstape(['keys', 'api-key', '--agent', 'x', '--tenant', '../etc']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /is not a tenant id/);
    assert.equal(bad.stdout, '');
  });

  test('policy test fails on a directory that does not load; check warns on an empty one', T, () => {
    requireBinary();
    const root = tmpDir('gt-e2e-cli-');
    const bad = path.join(root, 'bad');
    fs.mkdirSync(bad);
    fs.writeFileSync(path.join(bad, 'p.yaml'), 'policy_id: x\nversion: "1"\ntools: [a]\nrules: {allow: [{id: r, condition: "1 +"}]}\n');
    const t1 = glasstape(['policy', 'test', bad]);
    assert.equal(t1.status, 1, t1.stdout);
    assert.match(t1.stdout, /p\.yaml:4/);
    assert.match(t1.stdout, /do not load/);
    const empty = path.join(root, 'empty');
    fs.mkdirSync(empty);
    const c = glasstape(['policy', 'check', empty]);
    assert.equal(c.status, 0, c.stdout);
    assert.match(c.stdout, /warning: no policy files .* deny every call/);
  });

  test('config errors carry line, column and the known keys; exit 2', T, () => {
    requireBinary();
    const file = writeConfig('servers:\n  a:\n    command: [x]\n    restartt: {max: 1}\n');
    const r = glasstape(['run', '--config', file]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /line 4, column 5: servers\.a: unknown key `restartt` \(known keys: .*restart.*\)/);
  });

  test('policy eval shows the decision, the deciding rule and the trace', T, () => {
    requireBinary();
    const s = setup({ policies: { 'echo.yaml': ECHO_DENY } });
    const deny = glasstape(['policy', 'eval', '--config', s.config, '--tool', 'echo', '--args', '{"message":"my secret"}']);
    assert.equal(deny.status, 1, deny.stdout + deny.stderr);
    assert.match(deny.stdout, /decision: deny \(GT-POLICY-DENY\)/);
    assert.match(deny.stdout, /policy: cli\.echo v1, rule: no-secret-echo/);
    assert.match(deny.stdout, /deny rule `no-secret-echo` \(echo\.yaml:\d+\) matches/);
    const allow = glasstape(['policy', 'eval', '--policies', s.policyDir, '--tool', 'server/echo', '--args', '{"message":"hi"}']);
    assert.equal(allow.status, 0, allow.stdout + allow.stderr);
    assert.match(allow.stdout, /deny rule `no-secret-echo` \(echo\.yaml:\d+\) does not match/);
    assert.match(allow.stdout, /allow rule `anything-else` \(echo\.yaml:\d+\) matches/);
    const none = glasstape(['policy', 'eval', '--policies', s.policyDir, '--tool', 'add', '--json']);
    assert.equal(none.status, 1, none.stdout);
    assert.equal(JSON.parse(none.stdout).code, 'GT-POLICY-NONE');
    const bad = glasstape(['policy', 'eval', '--policies', s.policyDir, '--tool', 'echo', '--args', '[1]']);
    assert.equal(bad.status, 2, bad.stderr);
  });
});
