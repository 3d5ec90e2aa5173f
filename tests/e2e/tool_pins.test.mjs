// Pinned tool definitions and the description scan (issue 18): governance.tools {pins, pins_dir,
// scan}. A rug pull (a tool whose definition changes after it was pinned) under enforce, warn
// and across sessions; approve-new; `glasstape tools diff|approve|pins`; poisoned descriptions
// under scan hide/deny/log; a pin file edited by hand; `glasstape verify` on a log holding the
// tool-change and tool-finding records; and the rug pull over `glasstape serve`.
//
// The server is fixtures/rug_server.mjs (the official SDK's low-level Server), driven through
// `glasstape run --config F` (stdio) and `glasstape serve` by the official SDK Client. Every
// expected hash is computed here, independently: SHA-256 over the RFC 8785 (JCS) form of the
// definition's pinned members (the `canonicalize` package).
//
//   GLASSTAPE_BIN  the glasstape binary (default <repo>/build/proxy/glasstape)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import canonicalize from 'canonicalize';

import {
  ADD_MUTATED_DESCRIPTION,
  POISONED,
  definitions,
} from './fixtures/rug_server.mjs';
import {
  DECISION_META_KEY,
  E2E_DIR,
  NODE,
  assertDenied,
  connect,
  glasstapeBin,
  isEnvelopeLine,
  recordPayload,
  requireBinary,
  startGlasstapeServe,
  textOf,
  tmpDir,
  withTimeout,
} from './lib/harness.mjs';

const T = { timeout: 60_000 };
const FIXTURE = path.join(E2E_DIR, 'fixtures', 'rug_server.mjs');
const SERVER = 'rug';

// ------------------------------------------------------------------------ helpers

// RFC 8785 (JCS), from the `canonicalize` package: the form GlassTape hashes, and the compact
// sorted JSON `tools diff` prints for a new tool.
const jcs = (v) => canonicalize(v);
const PINNED = ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'];
function pinnedMembers(tool) {
  const out = {};
  for (const k of PINNED) if (k in tool) out[k] = tool[k];
  return out;
}
const sha = (tool) => crypto.createHash('sha256').update(jcs(pinnedMembers(tool)), 'utf8').digest('hex');
const short = (h) => h.slice(0, 12);
const byName = (list, name) => list.find((t) => t.name === name);

// The fixture's definitions (fixtures/rug_server.mjs), as the proxy receives them.
const ADD0 = byName(definitions({}), 'add');
const ADD1 = byName(definitions({ mutated: true }), 'add');
const MUTATE = byName(definitions({}), 'mutate');
const MULTIPLY = byName(definitions({ grown: true }), 'multiply');

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

function glasstape(args) {
  const env = { ...process.env };
  delete env.GT_ED25519_PRIVATE_KEY;
  return spawnSync(glasstapeBin(), args, { env, encoding: 'utf8', input: '', timeout: 30_000 });
}

// A config with one server `rug` (the fixture) and governance.tools {pins, scan}; the pins,
// the audit log and the keys in a fresh temporary directory (never ~/.glasstape).
// opts: pins, scan (omitted: the defaults), poisoned, state (the fixture keeps its state in a
// file), root (reuse another setup's directories), http (for `serve`).
function setup({ pins, scan, poisoned = false, entries = false, state = false, root, http } = {}) {
  const s = { root: root ?? tmpDir('gt-e2e-pins-') };
  s.pinsDir = path.join(s.root, 'pins');
  s.auditDir = path.join(s.root, 'audit');
  s.keysDir = path.join(s.root, 'keys');
  s.pinsFile = path.join(s.pinsDir, `${SERVER}.pins.json`);
  s.pendingFile = path.join(s.pinsDir, `${SERVER}.pending.json`);
  s.stateFile = path.join(s.root, 'rug-state.json');
  const command = [NODE, FIXTURE];
  if (poisoned) command.push('--poisoned');
  if (entries) command.push('--entries');
  if (state) command.push('--state', s.stateFile);
  const tools = { pins_dir: s.pinsDir };
  if (pins) tools.pins = pins;
  if (scan) tools.scan = scan;
  const config = {
    servers: { [SERVER]: { command, restart: { max: 0 } } },
    identity: { agent_id: 'pins-e2e-agent' },
    governance: { tools, audit: { dir: s.auditDir, keys_dir: s.keysDir, fsync: 'always' } },
  };
  if (http) {
    config.http = { listen: '127.0.0.1:0', path: '/mcp', keepalive_s: 1 };
    config.shutdown_grace_ms = 300;  // serve waits 2 × this after SIGTERM
  }
  s.config = path.join(tmpDir('gt-e2e-pins-cfg-'), 'glasstape.yaml');
  fs.writeFileSync(s.config, JSON.stringify(config, null, 2));
  return s;
}

// `glasstape run --config F` (no `--`: the config's one server, named `rug`).
async function open(s, t) {
  requireBinary();
  const sess = await connect('proxy', [], { config: s.config });
  t.after(() => sess.close());
  return sess;
}

const names = async (sess) => (await sess.client.listTools()).tools.map((t) => t.name);

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function records(dir) {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  const files = fs.readdirSync(dir).filter((n) => /^audit(-\d{12})?\.jsonl$/.test(n)).sort();
  for (const f of files) {
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (line.trim()) out.push(recordPayload(line));
    }
  }
  return out;
}
// The records, once the log has stopped growing: records of observations (tool-change,
// tool-finding) are queued for the log's writer before the answer goes to the client, and
// written by it a moment later.
async function settled(s) {
  const size = () => (fs.existsSync(s.auditDir)
    ? fs.readdirSync(s.auditDir).reduce((n, f) => n + fs.statSync(path.join(s.auditDir, f)).size, 0) : 0);
  let last = -1;
  let stableSince = Date.now();
  const deadline = Date.now() + 5000;
  for (;;) {
    const now = size();
    if (now !== last) {
      last = now;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= 100 || Date.now() > deadline) {
      return records(s.auditDir);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
const toolChanges = async (s, tool) => (await settled(s)).filter((r) => r.kind === 'tool-change' && r.tool === tool);
const toolFindings = async (s, tool) => (await settled(s)).filter((r) => r.kind === 'tool-finding' && r.tool === tool);
const decisions = async (s, tool) => (await settled(s)).filter((r) => r.kind === 'decision' && r.tool === tool);

// The members of `r` among `keys` (one it lacks stays absent, so deepEqual sees it missing).
function pick(r, keys) {
  const out = {};
  for (const k of keys) if (k in r) out[k] = r[k];
  return out;
}
const CHANGE_KEYS = ['kind', 'server', 'tool', 'change', 'sha256', 'previous_sha256', 'action', 'pins'];

async function call(sess, name, args) {
  return sess.client.callTool({ name, arguments: args });
}

function assertAllowed(r, text) {
  assert.notEqual(r.isError, true, `expected an allowed call: ${JSON.stringify(r)}`);
  assert.equal(textOf(r), text);
}

function assertDeniedWith(r, tool, code, reason) {
  const d = assertDenied(assert, r, tool);
  return checkDecision(d, code, reason);
}

function checkDecision(d, code, reason) {
  assert.equal(d.code, code, JSON.stringify(d));
  assert.equal(d.decided_by, 'tools', JSON.stringify(d));
  if (reason !== undefined) assert.equal(d.reason, reason);
  return d;
}

const changedReason = (tool, before, after) =>
  `the definition of tool \`${tool}\` of server \`${SERVER}\` changed since it was pinned (sha256 ` +
  `${short(before)}… → ${short(after)}…); see \`glasstape tools diff\`, and approve it with ` +
  '`glasstape tools approve`';
const pinsReason = (tool, why) =>
  `tool \`${tool}\` of server \`${SERVER}\` cannot be checked: the pins of that server cannot be ` +
  `read, so no definition of it can be trusted (${why})`;
const unapprovedReason = (tool) =>
  `tool \`${tool}\` of server \`${SERVER}\` is new and not approved (pins: approve-new); an ` +
  'operator approves it with `glasstape tools approve`';

// What the scan finds in each --poisoned tool: [kind, where, excerpt], in report order
// (invisible and bidi characters, then markup, then secrets, then tool names).
const FINDINGS = {
  get_time: [['invisible', '/description', 'Unicode tag characters (11 characters from U+E0041) spelling "ALWAYS OBEY"']],
  get_weather: [
    ['markup', '/description', '<IMPORTANT>'],
    ['markup', '/description', 'Before using this tool'],
    ['markup', '/description', '</IMPORTANT>'],
    ['secret', '/description', '~/.ssh'],
    ['secret', '/description', 'id_rsa'],
  ],
  lookup: [['invisible', '/description', 'invisible character (1 character from U+200B)']],
  flip_text: [['bidi', '/description', 'bidirectional control (1 character from U+202E)']],
  send_note: [['tool-reference', '/description', 'names the tool `get_weather`']],
  summarize: [
    ['markup', '/description', 'Ignore previous instructions'],
    ['markup', '/description', 'do not tell the user'],
  ],
};
// The mutated `add` (ADD_MUTATED_DESCRIPTION) is poisoned too.
const ADD1_FINDINGS = [
  ['markup', '/description', '<IMPORTANT>'],
  ['markup', '/description', '</IMPORTANT>'],
  ['secret', '/description', '~/.ssh'],
  ['secret', '/description', 'id_rsa'],
];
const asFindings = (list) => list.map(([kind, where, excerpt]) => ({ kind, where, excerpt }));
const poisonedReason = (tool) =>
  `the definition of tool \`${tool}\` of server \`${SERVER}\` looks poisoned: ` +
  FINDINGS[tool].map(([kind, where, excerpt]) => `${kind} at ${where} (${excerpt})`).join('; ');
const POISONED_NAMES = Object.keys(POISONED);
const ALL_POISONED_FIXTURE = ['add', 'mutate', ...POISONED_NAMES, 'echo_text'];

// ------------------------------------------------------------------------ glasstape serve

function startServe(s) {
  return startGlasstapeServe(['--config', s.config, '--listen', '127.0.0.1:0']);
}

async function httpClient(url) {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: 'glasstape-pins-e2e', version: '1.0.0' }, { capabilities: {} });
  await withTimeout(client.connect(transport), 20_000, 'initialize over HTTP');
  return {
    client,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

// ------------------------------------------------------------------------ the tests

describe('pinned tool definitions (governance.tools.pins)', () => {
  test('the fixture alone (no proxy) lists what definitions() says, and changes it on `mutate`', T, async (t) => {
    const sess = await connect('direct', [NODE, FIXTURE, '--poisoned']);
    t.after(() => sess.close());
    // The SDK Client parses tools/list with its own schema: what it hands back is what was sent.
    assert.deepEqual((await sess.client.listTools()).tools, definitions({}, true));
    const listChanged = sess.nextToolListChanged();
    assertAllowed(await call(sess, 'mutate', { mutated: true, grown: true }), 'state {"mutated":true,"grown":true}');
    await listChanged;
    assert.deepEqual((await sess.client.listTools()).tools, definitions({ mutated: true, grown: true }, true));
    assertAllowed(await call(sess, 'add', { a: 1, b: 2, sidenote: 'x' }), '3');
    assertAllowed(await call(sess, 'multiply', { a: 3, b: 4 }), '12');
    assertAllowed(await call(sess, 'get_weather', {}), 'get_weather called');
    assert.notEqual(sha(ADD0), sha(ADD1));
  });

  test('enforce: a rug pull is hidden and denied until `tools approve`; diff shows what changed', T, async (t) => {
    const s = setup({ pins: 'enforce' });
    const sess = await open(s, t);

    // First sight: both tools pinned, one `pinned` record each.
    assert.deepEqual(await names(sess), ['add', 'mutate']);
    const pins = readJson(s.pinsFile);
    assert.equal(pins.format, 'glasstape.pins/1');
    assert.equal(pins.server, SERVER);
    assert.deepEqual(Object.keys(pins.tools).sort(), ['add', 'mutate']);
    assert.equal(pins.tools.add.sha256, sha(ADD0));
    assert.deepEqual(pins.tools.add.definition, pinnedMembers(ADD0));
    assert.match(pins.tools.add.pinned_at, RFC3339);
    assert.equal(pins.tools.mutate.sha256, sha(MUTATE));
    assert.equal(fs.existsSync(s.pendingFile), false, 'nothing waits for approval yet');
    for (const tool of [ADD0, MUTATE]) {
      assert.deepEqual((await toolChanges(s, tool.name)).map((r) => pick(r, CHANGE_KEYS)), [{
        kind: 'tool-change', server: SERVER, tool: tool.name, change: 'new', sha256: sha(tool),
        action: 'pinned', pins: 'enforce',
      }]);
    }
    assertAllowed(await call(sess, 'add', { a: 2, b: 3 }), '5');

    // The rug pull: the server changes `add` and says so.
    const listChanged = sess.nextToolListChanged();
    assertAllowed(await call(sess, 'mutate', {}), 'state {"mutated":true,"grown":false}');
    await listChanged;
    assert.deepEqual(await names(sess), ['mutate'], '`add` changed: hidden from tools/list');
    const reason = changedReason('add', sha(ADD0), sha(ADD1));
    // Denied whatever the arguments (the old schema's, or the new one's): the gate comes first.
    assertDeniedWith(await call(sess, 'add', { a: 2, b: 3, sidenote: 'x' }), 'add', 'GT-TOOL-CHANGED', reason);
    assertDeniedWith(await call(sess, 'add', { a: 2, b: 3 }), 'add', 'GT-TOOL-CHANGED', reason);
    assert.deepEqual(await names(sess), ['mutate'], 'still hidden at the next listing');

    // One signed record of the change (not one per listing), both hashes.
    const changes = (await toolChanges(s, 'add')).filter((r) => r.change === 'changed');
    assert.deepEqual(changes.map((r) => pick(r, CHANGE_KEYS)), [{
      kind: 'tool-change', server: SERVER, tool: 'add', change: 'changed', sha256: sha(ADD1),
      previous_sha256: sha(ADD0), action: 'hidden', pins: 'enforce',
    }]);
    assert.notEqual(changes[0].previous_sha256, changes[0].sha256);
    const denials = (await decisions(s, 'add')).filter((r) => r.decision === 'deny');
    assert.deepEqual(denials.map((r) => [r.code, r.decided_by, r.reason]),
      [['GT-TOOL-CHANGED', 'tools', reason], ['GT-TOOL-CHANGED', 'tools', reason]]);
    // The scan (default: log) reads the new description too: recorded, not acted on.
    assert.deepEqual((await toolFindings(s, 'add')).map((r) => [r.action, r.sha256, r.findings, r.more]),
      [['logged', sha(ADD1), asFindings(ADD1_FINDINGS), 0]]);
    assert.match(sess.stderr(), new RegExp(
      `tools: the definition of \`rug/add\` changed since it was pinned \\(${short(sha(ADD0))} → ` +
      `${short(sha(ADD1))}\\): hidden, and its calls denied \\(GT-TOOL-CHANGED\\)`));

    // The new definition waits in the pending file; the pin is untouched.
    const pending = readJson(s.pendingFile);
    assert.deepEqual(Object.keys(pending.tools), ['add']);
    assert.equal(pending.tools.add.sha256, sha(ADD1));
    assert.deepEqual(pending.tools.add.definition, pinnedMembers(ADD1));
    assert.equal(readJson(s.pinsFile).tools.add.sha256, sha(ADD0));

    // The operator's view.
    const diff = glasstape(['tools', 'diff', '--config', s.config, '--server', SERVER]);
    assert.equal(diff.status, 0, diff.stderr);
    assert.equal(diff.stdout,
      `rug/add: changed (pinned ${short(sha(ADD0))}… at ${pins.tools.add.pinned_at}, now ` +
      `${short(sha(ADD1))}… seen ${pending.tools.add.pinned_at})\n` +
      `  changed /description: "Adds two numbers." -> ${JSON.stringify(ADD_MUTATED_DESCRIPTION)}\n` +
      '  added /inputSchema/properties/sidenote: {"type":"string"}\n' +
      '  changed /inputSchema/required: ["a","b"] -> ["a","b","sidenote"]\n');
    const list = glasstape(['tools', 'pins', '--config', s.config]);
    assert.equal(list.status, 0, list.stderr);
    assert.equal(list.stdout, `rug: 2 pinned (${s.pinsFile})\n` +
      `  add  ${sha(ADD0)}  ${pins.tools.add.pinned_at}\n` +
      `  mutate  ${sha(MUTATE)}  ${pins.tools.mutate.pinned_at}\n`);
    const noNames = glasstape(['tools', 'approve', '--config', s.config, '--server', SERVER]);
    assert.equal(noNames.status, 2, noNames.stdout);
    assert.equal(noNames.stderr, 'glasstape: name the tools to approve, or give --all\n');

    // Approval: the running proxy reads the pin file again at its next listing.
    const ok = glasstape(['tools', 'approve', '--config', s.config, '--server', SERVER, 'add']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, `approved rug/add (sha256 ${sha(ADD1)})\n`);
    assert.equal(readJson(s.pinsFile).tools.add.sha256, sha(ADD1));
    assert.deepEqual(readJson(s.pinsFile).tools.add.definition, pinnedMembers(ADD1));
    assert.deepEqual(readJson(s.pendingFile).tools, {});
    const { tools } = await sess.client.listTools();
    assert.deepEqual(tools.map((x) => x.name), ['add', 'mutate']);
    assert.equal(byName(tools, 'add').description, ADD_MUTATED_DESCRIPTION);
    assertAllowed(await call(sess, 'add', { a: 2, b: 3, sidenote: 'x' }), '5');
    assert.ok(sess.stderr().includes(`tools: pins of server \`rug\` read again from \`${s.pinsFile}\``), sess.stderr());
    assert.equal((await toolChanges(s, 'add')).length, 2, 'an approved definition is not a new change');

    const after = glasstape(['tools', 'diff', '--config', s.config]);
    assert.equal(after.status, 0, after.stderr);
    assert.equal(after.stdout, 'no tool definition waits for approval\n');
    const again = glasstape(['tools', 'approve', '--config', s.config, '--server', SERVER, 'add']);
    assert.equal(again.status, 1, again.stdout);
    assert.equal(again.stderr, 'glasstape: nothing to approve (no waiting definition of the named tools)\n');
  });

  test('warn: a rug pull is logged and recorded, the tool stays listed and callable', T, async (t) => {
    const s = setup({ pins: 'warn' });
    const sess = await open(s, t);
    assert.deepEqual(await names(sess), ['add', 'mutate']);
    assertAllowed(await call(sess, 'mutate', {}), 'state {"mutated":true,"grown":false}');
    const { tools } = await sess.client.listTools();
    assert.deepEqual(tools.map((x) => x.name), ['add', 'mutate']);
    assert.equal(byName(tools, 'add').description, ADD_MUTATED_DESCRIPTION);
    assertAllowed(await call(sess, 'add', { a: 1, b: 2, sidenote: 's' }), '3');
    assert.deepEqual((await toolChanges(s, 'add')).map((r) => pick(r, CHANGE_KEYS)), [
      { kind: 'tool-change', server: SERVER, tool: 'add', change: 'new', sha256: sha(ADD0), action: 'pinned', pins: 'warn' },
      {
        kind: 'tool-change', server: SERVER, tool: 'add', change: 'changed', sha256: sha(ADD1),
        previous_sha256: sha(ADD0), action: 'warned', pins: 'warn',
      },
    ]);
    assert.deepEqual((await decisions(s, 'add')).map((r) => [r.decision, r.code]), [['allow', '']]);
    assert.match(sess.stderr(), new RegExp(
      `tools: the definition of \`rug/add\` changed since it was pinned \\(${short(sha(ADD0))} → ` +
      `${short(sha(ADD1))}\\): allowed \\(pins: warn\\)`));
    // The pin stays; the new definition waits for a review all the same.
    assert.equal(readJson(s.pinsFile).tools.add.sha256, sha(ADD0));
    assert.equal(readJson(s.pendingFile).tools.add.sha256, sha(ADD1));
  });

  test('a rug pull between sessions: a later proxy denies the changed tool from its first call', T, async (t) => {
    const s = setup({ pins: 'enforce', state: true });
    {
      const first = await open(s, t);
      assert.deepEqual(await names(first), ['add', 'mutate']);
      assertAllowed(await call(first, 'mutate', {}), 'state {"mutated":true,"grown":false}');
      await first.close();
    }
    assert.deepEqual(readJson(s.stateFile), { mutated: true, grown: false });
    assert.equal(fs.existsSync(s.pendingFile), false, 'the first proxy never saw the change');
    assert.deepEqual((await toolChanges(s, 'add')).map((r) => r.change), ['new']);

    // A new proxy and a new server process, which starts changed. No tools/list from the
    // client: the proxy lists the tools itself before judging the call.
    const second = await open(s, t);
    assertDeniedWith(await call(second, 'add', { a: 1, b: 2, sidenote: 'x' }), 'add', 'GT-TOOL-CHANGED',
      changedReason('add', sha(ADD0), sha(ADD1)));
    assert.deepEqual(await names(second), ['mutate']);
    assertAllowed(await call(second, 'mutate', { mutated: true }), 'state {"mutated":true,"grown":false}');
    assert.deepEqual((await toolChanges(s, 'add')).map((r) => pick(r, CHANGE_KEYS)).slice(1), [{
      kind: 'tool-change', server: SERVER, tool: 'add', change: 'changed', sha256: sha(ADD1),
      previous_sha256: sha(ADD0), action: 'hidden', pins: 'enforce',
    }]);
    assert.equal(readJson(s.pendingFile).tools.add.sha256, sha(ADD1));
  });

  test('approve-new: new tools are hidden and denied until approved, also one added later', T, async (t) => {
    const s = setup({ pins: 'approve-new' });
    const sess = await open(s, t);
    assert.deepEqual(await names(sess), [], 'nothing is approved yet');
    assertDeniedWith(await call(sess, 'add', { a: 1, b: 1 }), 'add', 'GT-TOOL-UNAPPROVED', unapprovedReason('add'));
    assertDeniedWith(await call(sess, 'mutate', {}), 'mutate', 'GT-TOOL-UNAPPROVED', unapprovedReason('mutate'));
    assert.equal(fs.existsSync(s.pinsFile), false, 'approve-new pins nothing by itself');
    for (const tool of [ADD0, MUTATE]) {
      assert.deepEqual((await toolChanges(s, tool.name)).map((r) => pick(r, CHANGE_KEYS)), [{
        kind: 'tool-change', server: SERVER, tool: tool.name, change: 'new', sha256: sha(tool),
        action: 'awaiting-approval', pins: 'approve-new',
      }]);
    }
    assert.match(sess.stderr(), /tools: `rug\/add` is new and waits for approval \(pins: approve-new\)/);
    const pending = readJson(s.pendingFile);
    assert.deepEqual(Object.keys(pending.tools).sort(), ['add', 'mutate']);

    const diff = glasstape(['tools', 'diff', '--config', s.config]);
    assert.equal(diff.status, 0, diff.stderr);
    assert.equal(diff.stdout,
      `rug/add: new, not pinned (sha256 ${sha(ADD0)}, seen ${pending.tools.add.pinned_at})\n` +
      `  ${jcs(pinnedMembers(ADD0))}\n` +
      `rug/mutate: new, not pinned (sha256 ${sha(MUTATE)}, seen ${pending.tools.mutate.pinned_at})\n` +
      `  ${jcs(pinnedMembers(MUTATE))}\n`);
    const none = glasstape(['tools', 'pins', '--config', s.config]);
    assert.equal(none.status, 0, none.stderr);
    assert.equal(none.stdout, `rug: 0 pinned (${s.pinsFile})\n`);

    // The approval is a change of the pin file: the client is told to list again (no server
    // announced anything) and then sees the approved tools.
    const told = sess.nextToolListChanged();
    const all = glasstape(['tools', 'approve', '--config', s.config, '--server', SERVER, '--all']);
    assert.equal(all.status, 0, all.stderr);
    assert.equal(all.stdout, `approved rug/add (sha256 ${sha(ADD0)})\napproved rug/mutate (sha256 ${sha(MUTATE)})\n`);
    await told;
    assert.deepEqual(await names(sess), ['add', 'mutate']);
    assertAllowed(await call(sess, 'add', { a: 1, b: 1 }), '2');

    // A tool the server adds later waits for its own approval.
    assertAllowed(await call(sess, 'mutate', { grown: true }), 'state {"mutated":false,"grown":true}');
    assert.deepEqual(await names(sess), ['add', 'mutate']);
    assertDeniedWith(await call(sess, 'multiply', { a: 3, b: 4 }), 'multiply', 'GT-TOOL-UNAPPROVED',
      unapprovedReason('multiply'));
    assert.deepEqual((await toolChanges(s, 'multiply')).map((r) => pick(r, CHANGE_KEYS)), [{
      kind: 'tool-change', server: SERVER, tool: 'multiply', change: 'new', sha256: sha(MULTIPLY),
      action: 'awaiting-approval', pins: 'approve-new',
    }]);
    const one = glasstape(['tools', 'approve', '--config', s.config, '--server', SERVER, 'multiply']);
    assert.equal(one.status, 0, one.stderr);
    assert.equal(one.stdout, `approved rug/multiply (sha256 ${sha(MULTIPLY)})\n`);
    assert.deepEqual(await names(sess), ['add', 'mutate', 'multiply']);
    assertAllowed(await call(sess, 'multiply', { a: 3, b: 4 }), '12');
  });

  test('a pin file edited by hand: under enforce every tool of the server is denied (GT-TOOL-PINS)', T, async (t) => {
    const s = setup({ pins: 'enforce' });
    {
      const first = await open(s, t);
      assert.deepEqual(await names(first), ['add', 'mutate']);
      await first.close();
    }
    const good = fs.readFileSync(s.pinsFile, 'utf8');
    const edited = JSON.parse(good);
    edited.tools.add.sha256 = 'f'.repeat(64);
    const bad = `${JSON.stringify(edited, null, 2)}\n`;
    fs.writeFileSync(s.pinsFile, bad);
    const why = `${s.pinsFile}: tools.add: \`definition\` does not hash to \`sha256\` (edited by hand?)`;
    const before = (await settled(s)).length;

    const sess = await open(s, t);
    assert.deepEqual(await names(sess), [], 'no definition of `rug` can be trusted');
    assertDeniedWith(await call(sess, 'add', { a: 1, b: 2 }), 'add', 'GT-TOOL-PINS', pinsReason('add', why));
    assertDeniedWith(await call(sess, 'mutate', {}), 'mutate', 'GT-TOOL-PINS', pinsReason('mutate', why));
    assert.ok(sess.stderr().includes(
      `tools: cannot use the pins of server \`rug\`: ${why}; its tools are denied until it is fixed`), sess.stderr());
    assert.equal(fs.readFileSync(s.pinsFile, 'utf8'), bad, 'the proxy never rewrites a pin file it cannot read');
    assert.deepEqual((await settled(s)).slice(before).filter((r) => r.kind === 'tool-change'), []);
    const cli = glasstape(['tools', 'pins', '--config', s.config]);
    assert.equal(cli.status, 2, cli.stdout);
    assert.equal(cli.stderr, `glasstape: ${why}\n`);

    // Fixed on disk: picked up at the next listing, without a restart.
    fs.writeFileSync(s.pinsFile, good);
    assert.deepEqual(await names(sess), ['add', 'mutate']);
    assertAllowed(await call(sess, 'add', { a: 1, b: 2 }), '3');

    await sess.close();

    // Under warn the same file is logged, and nothing is denied.
    fs.writeFileSync(s.pinsFile, bad);
    const w = setup({ pins: 'warn', root: s.root });
    const warned = await open(w, t);
    assert.deepEqual(await names(warned), ['add', 'mutate']);
    assertAllowed(await call(warned, 'add', { a: 1, b: 2 }), '3');
    assert.ok(warned.stderr().includes(`tools: cannot use the pins of server \`rug\`: ${why}\n`), warned.stderr());
  });

  test('a pin file that is not JSON: the GT-TOOL-PINS decision reason names the denied tool', T,
    async (t) => {
      const s = setup({ pins: 'enforce' });
      fs.mkdirSync(s.pinsDir, { recursive: true });
      fs.writeFileSync(s.pinsFile, '{"format": "glasstape.pins/1", ');
      const sess = await open(s, t);
      assert.deepEqual(await names(sess), []);
      const reason = pinsReason('mutate', `${s.pinsFile}: not a JSON object`);
      assertDeniedWith(await call(sess, 'mutate', {}), 'mutate', 'GT-TOOL-PINS', reason);
      assertDenied(assert, await call(sess, 'mutate', {}), 'mutate');
    });

  test('revert after approval: going back to the old definition is a recorded, approvable change',
    T,
    async (t) => {
      const s = setup({ pins: 'enforce' });
      const sess = await open(s, t);
      assert.deepEqual(await names(sess), ['add', 'mutate']);
      assertAllowed(await call(sess, 'mutate', {}), 'state {"mutated":true,"grown":false}');
      assert.deepEqual(await names(sess), ['mutate']);
      const ok = glasstape(['tools', 'approve', '--config', s.config, '--server', SERVER, 'add']);
      assert.equal(ok.status, 0, ok.stderr);
      assert.deepEqual(await names(sess), ['add', 'mutate']);
      // The server goes back to the first definition: a change against the approved pin.
      assertAllowed(await call(sess, 'mutate', { mutated: false }), 'state {"mutated":false,"grown":false}');
      assert.deepEqual(await names(sess), ['mutate']);
      assertDeniedWith(await call(sess, 'add', { a: 1, b: 2 }), 'add', 'GT-TOOL-CHANGED', changedReason('add', sha(ADD1), sha(ADD0)));
      assert.deepEqual((await toolChanges(s, 'add')).map((r) => [r.change, r.previous_sha256, r.sha256, r.action]), [
        ['new', undefined, sha(ADD0), 'pinned'],
        ['changed', sha(ADD0), sha(ADD1), 'hidden'],
        ['changed', sha(ADD1), sha(ADD0), 'hidden'],
      ]);
      assert.equal(readJson(s.pendingFile).tools.add?.sha256, sha(ADD0), 'the reverted definition waits for approval');
      const again = glasstape(['tools', 'approve', '--config', s.config, '--server', SERVER, 'add']);
      assert.equal(again.status, 0, again.stderr);
    });

  test('enforce: a call right after tools/list_changed, before any new listing, is judged on the new definition',
    T,
    async (t) => {
      const s = setup({ pins: 'enforce' });
      const sess = await open(s, t);
      assert.deepEqual(await names(sess), ['add', 'mutate']);
      const listChanged = sess.nextToolListChanged();
      assertAllowed(await call(sess, 'mutate', {}), 'state {"mutated":true,"grown":false}');
      await listChanged;
      // The server said its tools changed; the client calls without listing again.
      assertDeniedWith(await call(sess, 'add', { a: 1, b: 2, sidenote: 'x' }), 'add', 'GT-TOOL-CHANGED',
        changedReason('add', sha(ADD0), sha(ADD1)));
    });

  test('every change and finding gets its own log line',
    T,
    async (t) => {
      const s = setup({ pins: 'warn', scan: 'log', poisoned: true });
      const sess = await open(s, t);
      assert.deepEqual(await names(sess), ALL_POISONED_FIXTURE);
      for (const tool of POISONED_NAMES) {
        assert.ok(sess.stderr().includes(`tools: \`rug/${tool}\` has ${FINDINGS[tool].length} suspicious finding(s)`),
          `no log line for the findings of ${tool}:\n${sess.stderr()}`);
      }
      assertAllowed(await call(sess, 'mutate', {}), 'state {"mutated":true,"grown":false}');
      await sess.client.listTools();
      assert.ok(sess.stderr().includes('tools: the definition of `rug/add` changed since it was pinned'),
        `the rug pull is not in the log:\n${sess.stderr()}`);
    });
});

describe('poisoned descriptions (governance.tools.scan)', () => {
  async function assertFindingRecords(s, action) {
    for (const tool of POISONED_NAMES) {
      const def = byName(definitions({}, true), tool);
      assert.deepEqual((await toolFindings(s, tool)).map((r) => pick(r, ['kind', 'server', 'tool', 'sha256', 'action', 'findings', 'more'])), [{
        kind: 'tool-finding', server: SERVER, tool, sha256: sha(def), action,
        findings: asFindings(FINDINGS[tool]), more: 0,
      }], tool);
    }
    for (const tool of ['add', 'mutate', 'echo_text']) assert.deepEqual((await toolFindings(s, tool)), [], tool);
  }

  test('scan: hide: poisoned tools leave tools/list and their calls are denied (GT-TOOL-POISONED)', T, async (t) => {
    const s = setup({ pins: 'off', scan: 'hide', poisoned: true });
    const sess = await open(s, t);
    assert.deepEqual(await names(sess), ['add', 'mutate', 'echo_text']);
    for (const tool of POISONED_NAMES) {
      assertDeniedWith(await call(sess, tool, {}), tool, 'GT-TOOL-POISONED', poisonedReason(tool));
    }
    assertAllowed(await call(sess, 'echo_text', { text: 'hi' }), 'hi');
    await assertFindingRecords(s, 'hidden');
    assert.equal(fs.existsSync(s.pinsDir), false, 'pins: off writes no pins');
    assert.deepEqual((await settled(s)).filter((r) => r.kind === 'tool-change'), []);
    assert.match(sess.stderr(), /tools: `rug\/get_time` has 1 suspicious finding\(s\) in its definition: invisible at \/description \(Unicode tag characters \(11 characters from U\+E0041\) spelling "ALWAYS OBEY"\); hidden/);
  });

  test('scan: deny: poisoned tools stay listed, their calls are denied', T, async (t) => {
    const s = setup({ pins: 'warn', scan: 'deny', poisoned: true });
    const sess = await open(s, t);
    assert.deepEqual(await names(sess), ALL_POISONED_FIXTURE);
    for (const tool of POISONED_NAMES) {
      assertDeniedWith(await call(sess, tool, {}), tool, 'GT-TOOL-POISONED', poisonedReason(tool));
    }
    assertAllowed(await call(sess, 'echo_text', { text: 'hi' }), 'hi');
    assertAllowed(await call(sess, 'add', { a: 1, b: 2 }), '3');
    await assertFindingRecords(s, 'denied');
    // Poisoned or not, every tool was pinned at first sight.
    assert.deepEqual(Object.keys(readJson(s.pinsFile).tools).sort(), [...ALL_POISONED_FIXTURE].sort());
  });

  test('scan: log (the default): recorded only; every tool listed and callable', T, async (t) => {
    const s = setup({ poisoned: true });
    const sess = await open(s, t);
    assert.deepEqual(await names(sess), ALL_POISONED_FIXTURE);
    for (const tool of POISONED_NAMES) assertAllowed(await call(sess, tool, {}), `${tool} called`);
    await assertFindingRecords(s, 'logged');
    assert.deepEqual((await decisions(s, 'get_weather')).map((r) => [r.decision, r.code]), [['allow', '']]);
    // Default pins (warn): pinned where the config says.
    assert.deepEqual(Object.keys(readJson(s.pinsFile).tools).sort(), [...ALL_POISONED_FIXTURE].sort());
  });
});

describe('the scan reads prompts and resources too', () => {
  test('scan: hide: a poisoned prompt and resource leave their lists and are denied with a receipt', T, async (t) => {
    const s = setup({ pins: 'off', scan: 'hide', entries: true });
    const sess = await open(s, t);
    const c = sess.client;
    assert.deepEqual((await c.listPrompts()).prompts.map((p) => p.name), ['greet']);
    assert.deepEqual((await c.listResources()).resources.map((r) => r.uri), ['rug://notes/plain']);
    assert.equal((await c.getPrompt({ name: 'greet' })).messages[0].content.text, 'prompt greet');
    assert.equal((await c.readResource({ uri: 'rug://notes/plain' })).contents[0].text,
      'contents of rug://notes/plain');
    for (const [what, ask, name] of [
      ['prompt', () => c.getPrompt({ name: 'review' }), 'review'],
      ['resource', () => c.readResource({ uri: 'rug://notes/hidden' }), 'rug://notes/hidden'],
    ]) {
      const err = await ask().then((r) => assert.fail(`${name} was answered: ${JSON.stringify(r)}`), (e) => e);
      assert.equal(err.code, -32003, err.message);
      const d = err.data?.['dev.glasstape/decision'];
      assert.equal(d?.code, 'GT-TOOL-POISONED', JSON.stringify(err.data));
      assert.match(d.reason, new RegExp(`^the ${what} \`${name}\` of server \`rug\` looks poisoned: `));
      assert.ok(d.receipt_id, JSON.stringify(d));
    }
    const findings = (await settled(s)).filter((r) => r.kind === 'tool-finding');
    assert.deepEqual(findings.map((r) => [r.entry, r.tool, r.action]).sort(),
      [['prompt', 'review', 'hidden'], ['resource', 'rug://notes/hidden', 'hidden']]);
    const denied = (await settled(s)).filter((r) => r.kind === 'decision' && r.decision === 'deny');
    assert.deepEqual(denied.map((r) => [r.method, r.tool, r.code]).sort(),
      [['prompts/get', 'review', 'GT-TOOL-POISONED'], ['resources/read', 'rug://notes/hidden', 'GT-TOOL-POISONED']]);
  });

  test('scan: log (the default): recorded only; prompts and resources listed, unjudged', T, async (t) => {
    const s = setup({ entries: true });
    const sess = await open(s, t);
    const c = sess.client;
    assert.deepEqual((await c.listPrompts()).prompts.map((p) => p.name), ['greet', 'review']);
    assert.equal((await c.getPrompt({ name: 'review' })).messages[0].content.text, 'prompt review');
    assert.equal((await c.listResources()).resources.length, 2);
    const recs = await settled(s);
    assert.deepEqual(recs.filter((r) => r.kind === 'tool-finding').map((r) => [r.entry, r.tool, r.action]).sort(),
      [['prompt', 'review', 'logged'], ['resource', 'rug://notes/hidden', 'logged']]);
    assert.deepEqual(recs.filter((r) => r.kind === 'decision' && r.method), [], 'nothing judged');
  });
});

describe('the audit log with tool records', () => {
  test('glasstape verify: intact with tool-change and tool-finding records; an edited one is caught', T, async (t) => {
    const s = setup({ pins: 'enforce', scan: 'hide', poisoned: true });
    const sess = await open(s, t);
    assert.deepEqual(await names(sess), ['add', 'mutate', 'echo_text']);
    assertAllowed(await call(sess, 'mutate', {}), 'state {"mutated":true,"grown":false}');
    assert.deepEqual(await names(sess), ['mutate', 'echo_text']);
    assertDeniedWith(await call(sess, 'add', { a: 1, b: 2, sidenote: 'x' }), 'add', 'GT-TOOL-CHANGED');
    assertDeniedWith(await call(sess, 'get_weather', {}), 'get_weather', 'GT-TOOL-POISONED');
    await sess.close();

    const all = await settled(s);
    const kinds = new Set(all.map((r) => r.kind));
    assert.ok(kinds.has('tool-change') && kinds.has('tool-finding') && kinds.has('decision'), [...kinds].join());
    assert.deepEqual(all.filter((r) => r.kind === 'tool-change' && r.change === 'changed').map((r) => [r.tool, r.action]),
      [['add', 'hidden']]);
    // The mutated `add` is both changed and poisoned: both records.
    assert.deepEqual((await toolFindings(s, 'add')).map((r) => r.action), ['hidden']);

    const v = glasstape(['verify', '--config', s.config, '--json']);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    const rep = JSON.parse(v.stdout);
    assert.equal(rep.ok, true, v.stdout);
    assert.equal(rep.records, all.length, v.stdout);
    const keyring = path.join(s.keysDir, 'default', 'keyring.json');
    const byDir = glasstape(['verify', s.auditDir, '--keyring', keyring]);
    assert.equal(byDir.status, 0, byDir.stdout + byDir.stderr);
    assert.match(byDir.stdout, new RegExp(`^ok: ${all.length} records intact in 1 file\\(s\\)`));

    // A tool-change record edited after the fact (hidden → pinned) no longer verifies.
    const file = fs.readdirSync(s.auditDir).find((n) => /^audit(-\d{12})?\.jsonl$/.test(n));
    const lines = fs.readFileSync(path.join(s.auditDir, file), 'utf8').split('\n');
    const at = lines.findIndex((l) => {
      if (!l.trim()) return false;
      const p = recordPayload(l);
      return p.kind === 'tool-change' && p.action === 'hidden';
    });
    assert.ok(at >= 0);
    const env = JSON.parse(lines[at]);
    const payload = recordPayload(lines[at]);
    payload.action = 'pinned';
    if (isEnvelopeLine(env)) {
      // v1: the envelope's payload edited, the signature kept.
      env.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
      lines[at] = JSON.stringify(env);
    } else {
      // v2: the line is the record (JCS), edited in place.
      lines[at] = canonicalize(payload);
    }
    fs.writeFileSync(path.join(s.auditDir, file), lines.join('\n'));
    const damaged = glasstape(['verify', s.auditDir, '--keyring', keyring]);
    assert.equal(damaged.status, 1, damaged.stdout + damaged.stderr);
    assert.match(damaged.stdout, new RegExp(`DAMAGED: .* \\(seq ${payload.seq}\\)`));
  });
});

describe('pins over glasstape serve', () => {
  test('enforce over Streamable HTTP: the rug pull is hidden and denied; approval restores it', T, async (t) => {
    const s = setup({ pins: 'enforce', http: true });
    const srv = await startServe(s);
    t.after(() => srv.stop());
    const c = await httpClient(srv.url);
    t.after(() => c.close());
    const list = async () => (await c.client.listTools()).tools.map((x) => x.name);
    assert.deepEqual(await list(), ['add', 'mutate']);
    assert.equal(readJson(s.pinsFile).tools.add.sha256, sha(ADD0));
    assertAllowed(await c.client.callTool({ name: 'add', arguments: { a: 4, b: 5 } }), '9');
    assertAllowed(await c.client.callTool({ name: 'mutate', arguments: {} }), 'state {"mutated":true,"grown":false}');
    assert.deepEqual(await list(), ['mutate']);
    const r = await c.client.callTool({ name: 'add', arguments: { a: 4, b: 5, sidenote: 'x' } });
    assertDeniedWith(r, 'add', 'GT-TOOL-CHANGED', changedReason('add', sha(ADD0), sha(ADD1)));
    assert.equal(r._meta[DECISION_META_KEY].decision, 'deny');
    assert.deepEqual((await toolChanges(s, 'add')).map((x) => [x.change, x.action]), [['new', 'pinned'], ['changed', 'hidden']]);

    const ok = glasstape(['tools', 'approve', '--config', s.config, '--server', SERVER, '--all']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, `approved rug/add (sha256 ${sha(ADD1)})\n`);
    assert.deepEqual(await list(), ['add', 'mutate']);
    assertAllowed(await c.client.callTool({ name: 'add', arguments: { a: 4, b: 5, sidenote: 'x' } }), '9');
  });

  test('serve: one session\'s listing does not clear another session\'s changed tool',
    T,
    async (t) => {
      const s = setup({ pins: 'enforce', http: true });
      const srv = await startServe(s);
      t.after(() => srv.stop());
      const a = await httpClient(srv.url);
      t.after(() => a.close());
      const b = await httpClient(srv.url);
      t.after(() => b.close());
      const list = async (c) => (await c.client.listTools()).tools.map((x) => x.name);
      assert.deepEqual(await list(a), ['add', 'mutate']);
      assert.deepEqual(await list(b), ['add', 'mutate']);
      // Session a's server (a process of its own) pulls the rug; b's does not.
      assertAllowed(await a.client.callTool({ name: 'mutate', arguments: {} }), 'state {"mutated":true,"grown":false}');
      assert.deepEqual(await list(a), ['mutate']);
      assert.deepEqual(await list(b), ['add', 'mutate']);
      // a's server still presents the changed definition: its call must stay denied.
      const r = await a.client.callTool({ name: 'add', arguments: { a: 1, b: 2, sidenote: 'x' } });
      assertDeniedWith(r, 'add', 'GT-TOOL-CHANGED');
    });
});
