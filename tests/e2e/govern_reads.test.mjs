// Policies judging resources/read and prompts/get (governance.policies.govern), end to end with
// the official SDK Client and @modelcontextprotocol/server-everything, on both fronts:
//   stdio  the client spawns `glasstape run --config F` (the config's one server, `ev`)
//   http   `glasstape serve --config F`; the client speaks Streamable HTTP to http.path
// The policies are tests/e2e/fixtures/govern_reads (resources.yaml, prompts.yaml, tools.yaml),
// which `glasstape policy test` also checks with its own cases (reads_test.yaml).
//
// What the server offers alone (lists, documents, prompt answers) is read first, straight from
// the server, so every allowed answer and every filtered list is checked item by item.
//
//   GLASSTAPE_BIN  the glasstape binary (default <repo>/build/proxy/glasstape)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

import {
  DECISION_META_KEY,
  E2E_DIR,
  EVERYTHING,
  NODE,
  RAW_SERVER,
  TESTS_DIR,
  connect,
  glasstapeBin,
  isAlive,
  modes,
  recordPayload,
  requireBinary,
  startGlasstapeServe,
  textOf,
  tmpDir,
  waitUntil,
  withTimeout,
} from './lib/harness.mjs';
import { RawPeer } from './lib/raw.mjs';

const T = { timeout: 60_000 };
const FRONTS = ['stdio', 'http'];
// Every test but the first is about glasstape itself: GT_E2E_MODE=direct skips them.
const skip = modes().includes('proxy') ? false : 'GT_E2E_MODE=direct: nothing to run without glasstape';

const FIXTURES = path.join(E2E_DIR, 'fixtures', 'govern_reads');
const MEMORY_ENTRY = path.join(
  TESTS_DIR, 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');
const DENIED = -32003;

// server-everything's resources: one document per file of its docs/ directory, and two
// templates (demo://resource/dynamic/text/{resourceId}, .../blob/{resourceId}).
const DOC = (name) => `demo://resource/static/document/${name}`;
const ARCH = DOC('architecture.md');
const FEATURES = DOC('features.md');
const STARTUP = DOC('startup.md');
const INSTRUCTIONS = DOC('instructions.md');
const TEXT7 = 'demo://resource/dynamic/text/7';
const BLOB3 = 'demo://resource/dynamic/blob/3';
// What fixtures/govern_reads lets an analyst see: the two documents it allows (startup.md is
// denied whatever the arguments, the other documents governed by nothing), and the prompts it
// can allow (completable-prompt is always denied, resource-prompt governed by nothing).
const VISIBLE_DOCS = [ARCH, FEATURES];
const VISIBLE_PROMPTS = ['simple-prompt', 'args-prompt'];
const ARGS_OSLO = { city: 'Oslo', state: 'NO' };
const ARGS_PARIS = { city: 'Paris' };
const ARGS_TEAM = { department: 'Engineering', name: 'Alice' };
const ARGS_RESOURCE = { resourceType: 'Text', resourceId: '1' };

// ------------------------------------------------------------------------ the server alone

const ALONE = {};
before(async () => {
  const s = await connect('direct', EVERYTHING, { capabilities: {} });
  try {
    const c = s.client;
    ALONE.resources = (await c.listResources()).resources;
    ALONE.templates = (await c.listResourceTemplates()).resourceTemplates;
    ALONE.prompts = (await c.listPrompts()).prompts;
    ALONE.read = {};
    for (const uri of [ARCH, FEATURES, STARTUP, INSTRUCTIONS]) ALONE.read[uri] = await c.readResource({ uri });
    ALONE.simple = await c.getPrompt({ name: 'simple-prompt' });
    ALONE.oslo = await c.getPrompt({ name: 'args-prompt', arguments: ARGS_OSLO });
    ALONE.paris = await c.getPrompt({ name: 'args-prompt', arguments: ARGS_PARIS });
    ALONE.team = await c.getPrompt({ name: 'completable-prompt', arguments: ARGS_TEAM });
  } finally {
    await s.close();
  }
});

const uris = (list) => list.map((r) => r.uri);
const names = (list) => list.map((p) => p.name);

// ------------------------------------------------------------------------ configs and clients

// A config in a fresh directory: one server `ev` (server-everything) unless `servers` says
// otherwise, the fixture policies, and an audit log with full arguments. `govern: null` leaves
// the key out (the default: tools, resources and prompts).
function setup({
  govern = ['tools', 'resources', 'prompts'],
  policyDir = FIXTURES,
  policies = {},
  identity = {},
  servers,
  aggregate,
  governance = {},
} = {}) {
  const root = tmpDir('gt-e2e-reads-');
  const s = {
    root,
    audit: path.join(root, 'audit'),
    keys: path.join(root, 'keys'),
    file: path.join(root, 'glasstape.yaml'),
  };
  const config = {
    servers: servers ?? { ev: { command: [...EVERYTHING] } },
    ...(aggregate ? { aggregate } : {}),
    shutdown_grace_ms: 500,
    http: { listen: '127.0.0.1:0', path: '/mcp', keepalive_s: 1 },
    identity: { agent_id: 'e2e-reads', roles: ['analyst'], ...identity },
    governance: {
      tools: { pins: 'off', pins_dir: path.join(root, 'pins') },
      policies: {
        dir: policyDir,
        state_dir: path.join(root, 'state'),
        reload: false,
        ...(govern ? { govern } : {}),
        ...policies,
      },
      audit: { dir: s.audit, keys_dir: s.keys, fsync: 'off', record_args: 'full' },
      ...governance,
    },
  };
  fs.writeFileSync(s.file, JSON.stringify(config, null, 2));
  return s;
}

function glasstape(args, opts = {}) {
  const env = { ...process.env };
  delete env.GT_ED25519_PRIVATE_KEY;
  return spawnSync(glasstapeBin(), args, { env, encoding: 'utf8', input: '', timeout: 30_000, ...opts });
}

// A client on `front` in front of the config's servers: {client, messages(), log(), close()}.
// messages() is every message the client received; close() also stops a serve it started.
// A judged read or prompt carries GlassTape's receipt in `_meta` (receipt_meta.test.mjs checks
// it against the log). Here answers are compared with the server's own, so it is taken off
// (and `_meta` with it when nothing else is in it).
function withoutReceipt(result) {
  const receipt = result?._meta?.['dev.glasstape/receipt'];
  if (!receipt) return result;
  assert.ok(typeof receipt.receipt_id === 'string' && Number.isInteger(receipt.seq), JSON.stringify(receipt));
  const { 'dev.glasstape/receipt': _, ...rest } = result._meta;
  const out = { ...result, _meta: rest };
  if (Object.keys(rest).length === 0) delete out._meta;
  return out;
}

function receiptless(client) {
  for (const m of ['readResource', 'getPrompt']) {
    const call = client[m].bind(client);
    client[m] = async (...args) => withoutReceipt(await call(...args));
  }
  return client;
}

async function open(front, s) {
  requireBinary();
  if (front === 'stdio') {
    const sess = await connect('proxy', [], { config: s.file, capabilities: {} });
    return {
      front,
      audit: s.audit,
      client: receiptless(sess.client),
      messages: () => sess.serverMessages,
      log: sess.stderr,
      async close() {
        await sess.close();
        // The log is complete (final checkpoint) once glasstape has exited.
        await waitUntil(() => !isAlive(sess.pid), 10_000, 'glasstape run to exit');
      },
    };
  }
  const serve = await startGlasstapeServe(['--config', s.file]);
  const transport = new StreamableHTTPClientTransport(new URL(`${serve.base}/mcp`));
  const client = new Client({ name: 'glasstape-reads-e2e', version: '1.0.0' }, { capabilities: {} });
  try {
    await withTimeout(client.connect(transport), 20_000, 'initialize over HTTP');
  } catch (e) {
    await serve.stop().catch(() => {});
    e.message += `\n--- glasstape log ---\n${serve.log().slice(-4000)}`;
    throw e;
  }
  const messages = [];
  const orig = transport.onmessage;
  transport.onmessage = (m, extra) => {
    messages.push(m);
    orig?.(m, extra);
  };
  let closed = false;
  return {
    front,
    audit: s.audit,
    client: receiptless(client),
    messages: () => messages,
    log: serve.log,
    async close() {
      if (closed) return;
      closed = true;
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
      await serve.stop();
    },
  };
}

// ------------------------------------------------------------------------ the audit log

// The payloads of the audit log's records (v1: DSSE envelopes; v2: the lines themselves).
function records(dir) {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const f of fs.readdirSync(dir).filter((n) => /^audit(-\d{12})?\.jsonl$/.test(n)).sort()) {
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (line.trim()) out.push(recordPayload(line));
    }
  }
  return out;
}

const decisionsOf = (s) => records(s.audit).filter((r) => r.kind === 'decision');

// Waits for `n` decision records satisfying `pred`, returns them.
async function waitDecisions(s, pred, n, what) {
  let found = [];
  await waitUntil(() => (found = decisionsOf(s).filter(pred)).length >= n, 10_000,
    `${n} decision record(s): ${what}`, 50);
  return found;
}

// `glasstape verify` on the config's audit log (after glasstape stopped).
function assertVerifies(s) {
  const v = glasstape(['verify', '--config', s.file]);
  assert.equal(v.status, 0, `glasstape verify:\n${v.stdout}${v.stderr}`);
}

// ------------------------------------------------------------------------ denials

// The JSON-RPC error a request ends with (fails when it gets a result instead).
async function rpcError(promise) {
  let r;
  try {
    r = await promise;
  } catch (e) {
    return e;
  }
  assert.fail(`expected a JSON-RPC error, got a result: ${JSON.stringify(r)}`);
}

// Asserts a denied read or prompt: an McpError -32003 whose message names it, its server, the
// reason and the receipt, with the decision in data["dev.glasstape/decision"]; the same error
// on the wire. Then the signed decision record with that receipt id, and no result record (it
// was not forwarded). Returns the decision.
async function assertDenied(s, promise, want) {
  const { kind, name, server = 'ev', code, rule, policy, reason } = want;
  const err = await rpcError(promise);
  assert.ok(err instanceof McpError, `an McpError, not ${err?.stack ?? err}`);
  assert.equal(err.code, DENIED, err.message);
  const d = err.data?.[DECISION_META_KEY];
  assert.ok(d && typeof d === 'object', `error.data["${DECISION_META_KEY}"]: ${JSON.stringify(err.data)}`);
  assert.equal(d.decision, 'deny', JSON.stringify(d));
  assert.equal(d.code, code, JSON.stringify(d));
  assert.equal(d.decided_by, 'policy', JSON.stringify(d));
  if (rule !== undefined) assert.equal(d.rule_id, rule, JSON.stringify(d));
  if (policy !== undefined) assert.equal(d.policy_id, policy, JSON.stringify(d));
  if (reason instanceof RegExp) assert.match(d.reason, reason, JSON.stringify(d));
  else if (reason !== undefined) assert.equal(d.reason, reason, JSON.stringify(d));
  assert.equal(typeof d.receipt_id, 'string', JSON.stringify(d));
  assert.ok(d.receipt_id.length > 0, JSON.stringify(d));

  const head = kind === 'resource' ? `GlassTape denied reading \`${name}\`` : `GlassTape denied the prompt \`${name}\``;
  const text = `${head} on server \`${server}\`: ${d.reason} (receipt ${d.receipt_id})`;
  assert.ok(err.message.startsWith(`MCP error ${DENIED}: ${text}`), `message:\n${err.message}\nexpected to start with:\n${text}`);
  const wire = s.messages().filter((m) => m.error?.data?.[DECISION_META_KEY]?.receipt_id === d.receipt_id);
  assert.equal(wire.length, 1, `one error on the wire for receipt ${d.receipt_id}`);
  assert.equal(wire[0].error.code, DENIED);
  assert.ok(wire[0].error.message.startsWith(text), wire[0].error.message);
  assert.ok(!('result' in wire[0]), JSON.stringify(wire[0]));

  const [rec] = await waitDecisions(s, (r) => r.id === d.receipt_id, 1, `receipt ${d.receipt_id}`);
  assert.equal(rec.method, kind === 'resource' ? 'resources/read' : 'prompts/get', JSON.stringify(rec));
  assert.equal(rec.tool, name, JSON.stringify(rec));
  assert.equal(rec.server, server, JSON.stringify(rec));
  assert.equal(rec.decision, 'deny', JSON.stringify(rec));
  assert.equal(rec.code, code, JSON.stringify(rec));
  assert.equal(rec.agent, 'e2e-reads', JSON.stringify(rec));
  if (rule !== undefined) assert.equal(rec.rule_id, rule, JSON.stringify(rec));
  const results = records(s.audit).filter((r) => r.kind === 'result' && r.decision_id === d.receipt_id);
  assert.deepEqual(results, [], `a result was recorded for the denied request ${d.receipt_id}`);
  return d;
}

// Every judged read and prompt of the log as `method tool decision`, sorted.
function judged(s) {
  return decisionsOf(s).filter((r) => r.method).map((r) => `${r.method} ${r.tool} ${r.decision}`).sort();
}

// Allowed ones are recorded with a result record too.
async function assertAllowedRecorded(s, method, tool) {
  const [rec] = await waitDecisions(s, (r) => r.method === method && r.tool === tool && r.decision === 'allow', 1,
    `allow ${method} ${tool}`);
  assert.equal(rec.server, 'ev', JSON.stringify(rec));
  await waitUntil(() => records(s.audit).some((r) => r.kind === 'result' && r.decision_id === rec.id), 10_000,
    `the result record of ${method} ${tool}`, 50);
  return rec;
}

// ------------------------------------------------------------------------ the tests

describe('server-everything offers what these tests name (direct)', () => {
  test('documents, templates and prompts with their arguments', T, () => {
    const listed = uris(ALONE.resources);
    for (const u of [ARCH, FEATURES, STARTUP, INSTRUCTIONS]) assert.ok(listed.includes(u), `${u} listed: ${listed.join(', ')}`);
    assert.ok(listed.length > 4, `more documents than the ones named: ${listed.join(', ')}`);
    assert.deepEqual(ALONE.templates.map((t) => t.uriTemplate).sort(),
      ['demo://resource/dynamic/blob/{resourceId}', 'demo://resource/dynamic/text/{resourceId}']);
    assert.match(ALONE.read[ARCH].contents[0].text, /\S/);
    assert.deepEqual(names(ALONE.prompts).sort(), ['args-prompt', 'completable-prompt', 'resource-prompt', 'simple-prompt']);
    const args = Object.fromEntries(ALONE.prompts.map((p) => [p.name, (p.arguments ?? []).map((a) => a.name).sort()]));
    assert.deepEqual(args, {
      'simple-prompt': [],
      'args-prompt': ['city', 'state'],
      'completable-prompt': ['department', 'name'],
      'resource-prompt': ['resourceId', 'resourceType'],
    });
    assert.equal(textOf({ content: [ALONE.oslo.messages[0].content] }), "What's weather in Oslo, NO?");
    assert.equal(textOf({ content: [ALONE.paris.messages[0].content] }), "What's weather in Paris?");
    assert.equal(textOf({ content: [ALONE.team.messages[0].content] }), 'Please promote Alice to the head of the Engineering team.');
  });
});

for (const front of FRONTS) {
  describe(`govern: [tools, resources, prompts] over ${front}`, { skip, timeout: 120_000 }, () => {
    test('resources: lists filtered, allowed reads unchanged, denied reads -32003 with a signed receipt', T, async (t) => {
      const s = setup();
      const c = await open(front, s);
      t.after(() => c.close());

      // resources/list keeps what the analyst may read; templates are not filtered.
      const { resources } = await c.client.listResources();
      assert.deepEqual(resources, ALONE.resources.filter((r) => VISIBLE_DOCS.includes(r.uri)));
      assert.deepEqual((await c.client.listResourceTemplates()).resourceTemplates, ALONE.templates);

      // Allowed: the server's answer, unchanged.
      assert.deepEqual(await c.client.readResource({ uri: ARCH }), ALONE.read[ARCH]);
      assert.deepEqual(await c.client.readResource({ uri: FEATURES }), ALONE.read[FEATURES]);
      // From a template (not listed), allowed by `demo://resource/dynamic/*` (`*` crosses `/`).
      const dyn = await c.client.readResource({ uri: TEXT7 });
      assert.equal(dyn.contents.length, 1, JSON.stringify(dyn));
      assert.equal(dyn.contents[0].uri, TEXT7);
      assert.match(dyn.contents[0].text, /^Resource 7: This is a plaintext resource created at /);

      // Denied: hidden ones read anyway, and one from a template.
      await assertDenied(c, c.client.readResource({ uri: STARTUP }), {
        kind: 'resource', name: STARTUP, code: 'GT-POLICY-DENY', rule: 'no-startup',
        policy: 'e2e.reads.resources', reason: 'the startup notes are off limits',
      });
      await assertDenied(c, c.client.readResource({ uri: BLOB3 }), {
        kind: 'resource', name: BLOB3, code: 'GT-POLICY-DENY', rule: 'no-blobs',
        policy: 'e2e.reads.resources', reason: 'binary resources are not read',
      });
      const none = await assertDenied(c, c.client.readResource({ uri: INSTRUCTIONS }), {
        kind: 'resource', name: INSTRUCTIONS, code: 'GT-POLICY-NONE',
      });
      assert.ok(none.reason.includes(INSTRUCTIONS), none.reason);

      for (const u of [ARCH, FEATURES, TEXT7]) await assertAllowedRecorded(s, 'resources/read', u);
      await c.close();
      // Exactly the six reads were judged, nothing else (lists are not judged).
      assert.deepEqual(judged(s), [
        `resources/read ${ARCH} allow`, `resources/read ${BLOB3} deny`, `resources/read ${TEXT7} allow`,
        `resources/read ${FEATURES} allow`, `resources/read ${INSTRUCTIONS} deny`, `resources/read ${STARTUP} deny`,
      ].sort());
      assert.equal(decisionsOf(s).length, 6, JSON.stringify(decisionsOf(s)));
      assertVerifies(s);
    });

    test('prompts: list filtered, a prompt allowed or denied by its arguments, receipts signed', T, async (t) => {
      const s = setup();
      const c = await open(front, s);
      t.after(() => c.close());

      const { prompts } = await c.client.listPrompts();
      assert.deepEqual(prompts, ALONE.prompts.filter((p) => VISIBLE_PROMPTS.includes(p.name)));

      assert.deepEqual(await c.client.getPrompt({ name: 'simple-prompt' }), ALONE.simple);
      assert.deepEqual(await c.client.getPrompt({ name: 'args-prompt', arguments: ARGS_OSLO }), ALONE.oslo);
      // The same prompt, denied by a rule on its arguments.
      const paris = await assertDenied(c, c.client.getPrompt({ name: 'args-prompt', arguments: ARGS_PARIS }), {
        kind: 'prompt', name: 'args-prompt', code: 'GT-POLICY-DENY', rule: 'no-paris',
        policy: 'e2e.reads.prompts', reason: 'no weather for Paris',
      });
      // Hidden ones asked for anyway.
      await assertDenied(c, c.client.getPrompt({ name: 'completable-prompt', arguments: ARGS_TEAM }), {
        kind: 'prompt', name: 'completable-prompt', code: 'GT-POLICY-DENY', rule: 'no-team-changes',
        policy: 'e2e.reads.prompts', reason: 'team changes are not for agents',
      });
      const none = await assertDenied(c, c.client.getPrompt({ name: 'resource-prompt', arguments: ARGS_RESOURCE }), {
        kind: 'prompt', name: 'resource-prompt', code: 'GT-POLICY-NONE',
      });
      assert.ok(none.reason.includes('resource-prompt'), none.reason);
      // A tool call in the same session: recorded without `method`.
      const echo = await c.client.callTool({ name: 'echo', arguments: { message: 'reads' } });
      assert.equal(textOf(echo), 'Echo: reads');

      const [parisRec] = await waitDecisions(s, (r) => r.id === paris.receipt_id, 1, 'the Paris denial');
      assert.deepEqual(parisRec.args, ARGS_PARIS, JSON.stringify(parisRec));
      const oslo = await assertAllowedRecorded(s, 'prompts/get', 'args-prompt');
      assert.deepEqual(oslo.args, ARGS_OSLO, JSON.stringify(oslo));
      await assertAllowedRecorded(s, 'prompts/get', 'simple-prompt');
      const [tool] = await waitDecisions(s, (r) => r.tool === 'echo', 1, 'echo');
      assert.equal(tool.decision, 'allow', JSON.stringify(tool));
      assert.equal('method' in tool, false, `a tools/call record has no method: ${JSON.stringify(tool)}`);
      await c.close();
      assert.deepEqual(judged(s), [
        'prompts/get args-prompt allow', 'prompts/get args-prompt deny', 'prompts/get completable-prompt deny',
        'prompts/get resource-prompt deny', 'prompts/get simple-prompt allow',
      ].sort());
      assert.equal(decisionsOf(s).length, 6, JSON.stringify(decisionsOf(s)));
      assertVerifies(s);
    });
  });

  describe(`govern: [tools] (opting out) over ${front}`, { skip, timeout: 120_000 }, () => {
    test('the default governs all three: a resource no policy names is denied', T, async (t) => {
      const s = setup({ govern: null });
      const c = await open(front, s);
      t.after(() => c.close());
      assert.deepEqual((await c.client.listResources()).resources, ALONE.resources.filter((r) => VISIBLE_DOCS.includes(r.uri)));
      await assertDenied(c, c.client.readResource({ uri: INSTRUCTIONS }), {
        kind: 'resource', name: INSTRUCTIONS, code: 'GT-POLICY-NONE',
      });
    });

    test('reads and prompts are forwarded unjudged, unfiltered and unrecorded', T, async (t) => {
      const s = setup({ govern: ['tools'] });
      const c = await open(front, s);
      t.after(() => c.close());
      assert.deepEqual((await c.client.listResources()).resources, ALONE.resources);
      assert.deepEqual((await c.client.listPrompts()).prompts, ALONE.prompts);
      assert.deepEqual(await c.client.readResource({ uri: STARTUP }), ALONE.read[STARTUP]);
      assert.deepEqual(await c.client.readResource({ uri: INSTRUCTIONS }), ALONE.read[INSTRUCTIONS]);
      const blob = await c.client.readResource({ uri: BLOB3 });
      assert.match(Buffer.from(blob.contents[0].blob, 'base64').toString(), /^Resource 3: This is a base64 blob/);
      assert.deepEqual(await c.client.getPrompt({ name: 'args-prompt', arguments: ARGS_PARIS }), ALONE.paris);
      assert.deepEqual(await c.client.getPrompt({ name: 'completable-prompt', arguments: ARGS_TEAM }), ALONE.team);
      // Tools are still judged (and recorded).
      assert.equal(textOf(await c.client.callTool({ name: 'echo', arguments: { message: 'x' } })), 'Echo: x');
      await waitDecisions(s, (r) => r.tool === 'echo', 1, 'echo');
      await c.close();
      assert.deepEqual(decisionsOf(s).map((r) => `${r.tool} ${r.decision}`), ['echo allow']);
      assert.deepEqual(records(s.audit).filter((r) => 'method' in r), []);
      assertVerifies(s);
    });
  });
}

describe('govern: more (stdio)', { skip, timeout: 120_000 }, () => {
  test('resources/list is filtered per principal: an intern sees and reads the architecture only', T, async (t) => {
    const s = setup({ identity: { agent_id: 'e2e-reads', roles: ['intern'] } });
    const c = await open('stdio', s);
    t.after(() => c.close());
    assert.deepEqual((await c.client.listResources()).resources, ALONE.resources.filter((r) => r.uri === ARCH));
    assert.deepEqual(await c.client.readResource({ uri: ARCH }), ALONE.read[ARCH]);
    await assertDenied(c, c.client.readResource({ uri: FEATURES }), {
      kind: 'resource', name: FEATURES, code: 'GT-POLICY-DENY', rule: 'interns-read-the-architecture-only',
      reason: 'interns read the architecture only',
    });
    // Prompts do not depend on the role.
    assert.deepEqual((await c.client.listPrompts()).prompts, ALONE.prompts.filter((p) => VISIBLE_PROMPTS.includes(p.name)));
  });

  test('default_policy judges what no policy governs; deny_tools does not judge prompts', T, async (t) => {
    const dir = path.join(tmpDir('gt-e2e-reads-default-'), 'policies');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'default.yaml'), `policy_id: e2e.reads.default
version: "1"
rules:
  deny:
    - id: no-blobs
      condition: "has(resource.uri) && resource.uri.contains('/blob/')"
      reason: binary resources are not read
    - id: no-team-changes
      condition: "has(prompt.name) && prompt.name == 'completable-prompt'"
      reason: team changes are not for agents
  allow:
    - {id: anything-else, condition: ""}
`);
    const s = setup({ policyDir: dir, policies: { default_policy: 'e2e.reads.default' },
      governance: { deny_tools: ['simple-prompt', 'demo*'] } });
    const c = await open('stdio', s);
    t.after(() => c.close());
    // Nothing listed is denied whatever the arguments but completable-prompt.
    assert.deepEqual((await c.client.listResources()).resources, ALONE.resources);
    assert.deepEqual((await c.client.listPrompts()).prompts, ALONE.prompts.filter((p) => p.name !== 'completable-prompt'));
    assert.deepEqual(await c.client.readResource({ uri: INSTRUCTIONS }), ALONE.read[INSTRUCTIONS]);
    assert.deepEqual(await c.client.readResource({ uri: STARTUP }), ALONE.read[STARTUP]);
    // deny_tools names tools only: neither `simple-prompt` nor `demo*` touches these.
    assert.deepEqual(await c.client.getPrompt({ name: 'simple-prompt' }), ALONE.simple);
    await assertDenied(c, c.client.readResource({ uri: BLOB3 }), {
      kind: 'resource', name: BLOB3, code: 'GT-POLICY-DENY', rule: 'no-blobs', policy: 'e2e.reads.default',
      reason: 'binary resources are not read',
    });
    await assertDenied(c, c.client.getPrompt({ name: 'completable-prompt', arguments: ARGS_TEAM }), {
      kind: 'prompt', name: 'completable-prompt', code: 'GT-POLICY-DENY', rule: 'no-team-changes',
      policy: 'e2e.reads.default',
    });
    const [rec] = await waitDecisions(s, (r) => r.tool === 'simple-prompt', 1, 'simple-prompt');
    assert.equal(rec.decision, 'allow', JSON.stringify(rec));
    assert.equal(rec.method, 'prompts/get', JSON.stringify(rec));
    await c.close();
    assertVerifies(s);
  });

  test('govern: [tools, resources] judges reads only; prompts pass unjudged', T, async (t) => {
    const s = setup({ govern: ['tools', 'resources'] });
    const c = await open('stdio', s);
    t.after(() => c.close());
    assert.deepEqual((await c.client.listResources()).resources, ALONE.resources.filter((r) => VISIBLE_DOCS.includes(r.uri)));
    assert.deepEqual((await c.client.listPrompts()).prompts, ALONE.prompts);
    assert.deepEqual(await c.client.getPrompt({ name: 'completable-prompt', arguments: ARGS_TEAM }), ALONE.team);
    await assertDenied(c, c.client.readResource({ uri: STARTUP }), {
      kind: 'resource', name: STARTUP, code: 'GT-POLICY-DENY', rule: 'no-startup',
    });
    await c.close();
    assert.deepEqual(judged(s), [`resources/read ${STARTUP} deny`]);
  });

  test('a `govern` without `tools`, or with an unknown kind, is a config error', T, () => {
    requireBinary();
    for (const [govern, want] of [
      [['resources', 'prompts'], /govern.*tools/],
      [['tools', 'files'], /govern/],
    ]) {
      const s = setup({ govern });
      const r = glasstape(['run', '--config', s.file]);
      assert.equal(r.status, 2, `govern ${JSON.stringify(govern)}: status ${r.status}\n${r.stderr}`);
      assert.match(r.stderr, want, r.stderr);
      assert.deepEqual(records(s.audit), []);
    }
  });
});

describe('ambiguous reads and prompts are refused, never forwarded (stdio, raw)', { skip, timeout: 120_000 }, () => {
  for (const govern of [['tools', 'resources', 'prompts'], ['tools']]) {
    const what = govern.length > 1 ? 'governed' : 'not governed';
    test(`a repeated \`uri\` or \`name\` gets -32600 (${what})`, T, async (t) => {
      requireBinary();
      const s = setup({ govern, servers: { ev: { command: [NODE, RAW_SERVER] } } });
      const peer = new RawPeer(glasstapeBin(), ['run', '--config', s.file]);
      t.after(() => peer.close());
      const init = await peer.initialize();
      assert.ok(init.result, JSON.stringify(init));
      const text1 = 'demo://resource/dynamic/text/1';
      const refused = {
        31: `{"jsonrpc":"2.0","id":31,"method":"resources/read","params":{"uri":"${text1}","uri":"${STARTUP}"}}`,
        32: `{"jsonrpc":"2.0","id":32,"method":"resources/read","params":{"uri":"${STARTUP}","\\u0075ri":"${text1}"}}`,
        33: `{"jsonrpc":"2.0","id":33,"method":"prompts/get","params":{"name":"simple-prompt","name":"completable-prompt"}}`,
        34: '{"jsonrpc":"2.0","id":34,"method":"prompts/get","params":{"name":"completable-prompt","arguments":{},"name":"simple-prompt"}}',
      };
      for (const [id, line] of Object.entries(refused)) {
        peer.send(line);
        const r = await peer.response(Number(id));
        assert.equal(r.error?.code, -32600, `id ${id}: ${JSON.stringify(r)}`);
        assert.ok(!('result' in r), JSON.stringify(r));
      }
      // The same requests without the copy are forwarded (the fixture answers {method}).
      const read = await peer.request(41, 'resources/read', { uri: text1 });
      assert.deepEqual(withoutReceipt(read.result), { method: 'resources/read' }, JSON.stringify(read));
      const get = await peer.request(42, 'prompts/get', { name: 'simple-prompt' });
      assert.deepEqual(withoutReceipt(get.result), { method: 'prompts/get' }, JSON.stringify(get));
      await peer.waitReflected((l) => JSON.parse(l).id === 42, 10_000, 'request 42');
      const seen = peer.reflected().map((l) => JSON.parse(l));
      assert.deepEqual(seen.filter((m) => m.id >= 31 && m.id <= 34), [], 'a refused request reached the server');
      assert.deepEqual(seen.filter((m) => m.id === 41 || m.id === 42).map((m) => m.method), ['resources/read', 'prompts/get']);
      if (govern.length > 1) {
        // Judged, these need a string `uri` and an object `arguments`.
        const bad = await peer.request(43, 'resources/read', { uri: 5 });
        assert.equal(bad.error?.code, -32602, JSON.stringify(bad));
        const badArgs = await peer.request(44, 'prompts/get', { name: 'simple-prompt', arguments: 'x' });
        assert.equal(badArgs.error?.code, -32602, JSON.stringify(badArgs));
        await peer.close();
        assert.deepEqual(judged(s), [`prompts/get simple-prompt allow`, `resources/read ${text1} allow`]);
      } else {
        await peer.close();
        assert.deepEqual(judged(s), []);
      }
    });
  }
});

// ------------------------------------------------------------------------ behind the aggregate

// server-everything (prefix always: its prompts are ev__<name>) and server-memory (a resource,
// memory://knowledge-graph, that no policy governs).
function aggregateSetup() {
  const memFile = path.join(tmpDir('gt-e2e-reads-mem-'), 'memory.jsonl');
  return setup({
    servers: {
      ev: { command: [...EVERYTHING], prefix_mode: 'always' },
      mem: { command: [NODE, MEMORY_ENTRY], env: { MEMORY_FILE_PATH: memFile } },
    },
  });
}

for (const front of FRONTS) {
  describe(`govern behind the aggregate over ${front}`, { skip, timeout: 120_000 }, () => {
    test('a prefixed prompt is routed, then judged under the server\'s own name', T, async (t) => {
      const s = aggregateSetup();
      const c = await open(front, s);
      t.after(() => c.close());
      assert.equal(c.client.getServerVersion().title, 'GlassTape: ev, mem');
      assert.deepEqual((await c.client.listPrompts()).prompts,
        ALONE.prompts.filter((p) => VISIBLE_PROMPTS.includes(p.name)).map((p) => ({ ...p, name: `ev__${p.name}` })));
      assert.deepEqual((await c.client.listResources()).resources, ALONE.resources.filter((r) => VISIBLE_DOCS.includes(r.uri)));

      assert.deepEqual(await c.client.getPrompt({ name: 'ev__args-prompt', arguments: ARGS_OSLO }), ALONE.oslo);
      await assertDenied(c, c.client.getPrompt({ name: 'ev__args-prompt', arguments: ARGS_PARIS }), {
        kind: 'prompt', name: 'args-prompt', server: 'ev', code: 'GT-POLICY-DENY', rule: 'no-paris',
        reason: 'no weather for Paris',
      });
      assert.deepEqual(await c.client.readResource({ uri: ARCH }), ALONE.read[ARCH]);
      await assertDenied(c, c.client.readResource({ uri: BLOB3 }), {
        kind: 'resource', name: BLOB3, server: 'ev', code: 'GT-POLICY-DENY', rule: 'no-blobs',
      });
      await c.close();
      assert.deepEqual(judged(s), [
        'prompts/get args-prompt allow', 'prompts/get args-prompt deny',
        `resources/read ${ARCH} allow`, `resources/read ${BLOB3} deny`,
      ].sort());
      assert.ok(decisionsOf(s).every((r) => r.server === 'ev' && !r.tool.startsWith('ev__')), JSON.stringify(decisionsOf(s)));
      assertVerifies(s);
    });

    test('hidden entries asked for anyway are judged and denied with a receipt', T, async (t) => {
      const s = aggregateSetup();
      const c = await open(front, s);
      t.after(() => c.close());
      assert.ok(!uris((await c.client.listResources()).resources).includes('memory://knowledge-graph'));
      assert.ok(!names((await c.client.listPrompts()).prompts).includes('ev__completable-prompt'));
      // Each on its own (subtests), so one failing does not hide the others.
      await t.test('a hidden prompt (ev__completable-prompt)', () =>
        assertDenied(c, c.client.getPrompt({ name: 'ev__completable-prompt', arguments: ARGS_TEAM }), {
          kind: 'prompt', name: 'completable-prompt', server: 'ev', code: 'GT-POLICY-DENY', rule: 'no-team-changes',
        }));
      await t.test('a hidden document of ev (startup.md)', () =>
        assertDenied(c, c.client.readResource({ uri: STARTUP }), {
          kind: 'resource', name: STARTUP, server: 'ev', code: 'GT-POLICY-DENY', rule: 'no-startup',
        }));
      await t.test('a hidden resource of mem (memory://knowledge-graph)', () =>
        assertDenied(c, c.client.readResource({ uri: 'memory://knowledge-graph' }), {
          kind: 'resource', name: 'memory://knowledge-graph', server: 'mem', code: 'GT-POLICY-NONE',
        }));
    });
  });
}

// ------------------------------------------------------------------------ policy test

describe('glasstape policy test with resource: and prompt: cases', { skip }, () => {
  test('the fixture cases pass; a wrong expectation and a case naming two targets fail', T, () => {
    requireBinary();
    const cases = (fs.readFileSync(path.join(FIXTURES, 'reads_test.yaml'), 'utf8').match(/^\s*- name:/gm) || []).length;
    assert.ok(cases >= 10, `${cases} cases`);
    const ok = glasstape(['policy', 'test', '--verbose', FIXTURES]);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`^PASS: ${cases} passed, 0 failed \\(1 test files\\)$`, 'm'), ok.stdout);
    assert.match(ok.stdout, /PASS reads_test\.yaml: weather in Paris is denied by its argument\n\s+deny GT-POLICY-DENY by e2e\.reads\.prompts\/no-paris: no weather for Paris/, ok.stdout);

    // A copy of the directory with cases that must fail.
    const dir = path.join(tmpDir('gt-e2e-reads-ptest-'), 'policies');
    fs.cpSync(FIXTURES, dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'wrong_test.yaml'), `tests:
  - name: startup is not allowed
    resource: ${STARTUP}
    server: ev
    expect: allow
  - name: both a tool and a resource
    tool: echo
    resource: ${ARCH}
    server: ev
    expect: allow
  - name: both a resource and a prompt
    resource: ${ARCH}
    prompt: simple-prompt
    server: ev
    expect: allow
  - name: Paris for real
    prompt: args-prompt
    server: ev
    args: {city: Paris}
    expect: allow
`);
    const bad = glasstape(['policy', 'test', dir]);
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, new RegExp(`^FAIL: ${cases} passed, 4 failed \\(2 test files\\)$`, 'm'), bad.stdout);
    assert.match(bad.stdout, /FAIL wrong_test\.yaml: startup is not allowed\n\s+wrong_test\.yaml:\d+: expected allow, got deny GT-POLICY-DENY by e2e\.reads\.resources\/no-startup/, bad.stdout);
    assert.match(bad.stdout, /FAIL wrong_test\.yaml: both a tool and a resource\n\s+wrong_test\.yaml:\d+: .*exactly one of `tool`, `resource`.*`prompt`/, bad.stdout);
    assert.match(bad.stdout, /FAIL wrong_test\.yaml: both a resource and a prompt\n\s+wrong_test\.yaml:\d+: .*exactly one of `tool`, `resource`.*`prompt`/, bad.stdout);
    assert.match(bad.stdout, /FAIL wrong_test\.yaml: Paris for real\n\s+wrong_test\.yaml:\d+: expected allow, got deny GT-POLICY-DENY by e2e\.reads\.prompts\/no-paris/, bad.stdout);
  });
});
