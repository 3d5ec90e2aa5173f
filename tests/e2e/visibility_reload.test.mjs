// What a principal may see follows a policy reload (issue 18): after the policy directory
// changes, a client that was shown a filtered list gets notifications/<kind>/list_changed, and
// its next list is filtered by the new policies. Behind one endpoint for many servers the
// merged list is fetched again too. Hiding stays a view: a call to a hidden tool is still judged
// and denied with a receipt.
//
// The official SDK Client over `glasstape run --config F` (stdio), with server-everything.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { PromptListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import {
  EVERYTHING,
  NODE,
  TESTS_DIR,
  assertDenied,
  connect,
  modes,
  requireBinary,
  tmpDir,
  withTimeout,
} from './lib/harness.mjs';

const T = { timeout: 60_000 };
const MEMORY_ENTRY = path.join(
  TESTS_DIR, 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');
const skip = modes().includes('proxy') ? false : 'GT_E2E_MODE=direct: nothing to run without glasstape';

// Every tool and prompt allowed; `echo` hidden by a deny rule that holds whatever the arguments
// once the file says so.
const policy = ({ denyEcho = false, denyPrompt = false } = {}) => `policy_id: everything.all
tools: ["*"]
prompts: ["*"]
rules:
  deny:
${denyEcho ? `    - id: no-echo
      condition: "tool.name == 'echo'"
      reason: echo is switched off
` : ''}${denyPrompt ? `    - id: no-simple
      condition: "prompt.name == 'simple-prompt'"
      reason: the simple prompt is switched off
` : ''}    - id: never
      condition: "false"
  allow:
    - id: all
      condition: ""
`;

function setup(servers) {
  const root = tmpDir('gt-e2e-vis-');
  const dir = path.join(root, 'policies');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'all.yaml'), policy());
  const file = path.join(root, 'glasstape.yaml');
  fs.writeFileSync(file, JSON.stringify({
    servers,
    shutdown_grace_ms: 500,
    identity: { agent_id: 'e2e-vis' },
    governance: {
      tools: { pins: 'off', pins_dir: path.join(root, 'pins') },
      policies: {
        dir, state_dir: path.join(root, 'state'), reload: true, reload_interval_ms: 50,
        govern: ['tools', 'prompts'],
      },
      audit: { dir: path.join(root, 'audit'), keys_dir: path.join(root, 'keys'), fsync: 'off' },
    },
  }, null, 2));
  return {
    file,
    // Rewrites the policy (a new size, so the watcher sees the change at once).
    write: (o) => fs.writeFileSync(path.join(dir, 'all.yaml'), policy(o)),
  };
}

function promptsChanged(client) {
  const waiters = [];
  client.setNotificationHandler(PromptListChangedNotificationSchema, () => {
    for (const w of waiters.splice(0)) w();
  });
  return (ms = 10_000) =>
    withTimeout(new Promise((r) => waiters.push(r)), ms, 'notifications/prompts/list_changed');
}

const toolNames = async (c) => (await c.listTools()).tools.map((t) => t.name);
const promptNames = async (c) => (await c.listPrompts()).prompts.map((p) => p.name);

describe('visibility follows a policy reload (stdio)', { skip, timeout: 120_000 }, () => {
  test('one server: list_changed, then the list without the tool; calling it is denied', T, async (t) => {
    requireBinary();
    const s = setup({ ev: { command: [...EVERYTHING] } });
    const sess = await connect('proxy', [], { config: s.file, capabilities: {} });
    t.after(() => sess.close());
    const c = sess.client;
    const nextPrompts = promptsChanged(c);
    assert.ok((await toolNames(c)).includes('echo'));
    assert.ok((await promptNames(c)).includes('simple-prompt'));

    let tools = sess.nextToolListChanged();
    let prompts = nextPrompts();
    s.write({ denyEcho: true, denyPrompt: true });
    await tools;
    await prompts;
    const after = await toolNames(c);
    assert.ok(!after.includes('echo'), `echo hidden after the reload: ${after}`);
    assert.ok(after.includes('get-sum'), `the other tools stay: ${after}`);
    assert.ok(!(await promptNames(c)).includes('simple-prompt'));
    // Hidden is not the control: the call is judged and denied with a receipt.
    assertDenied(assert, await c.callTool({ name: 'echo', arguments: { message: 'x' } }), 'echo');

    tools = sess.nextToolListChanged();
    prompts = nextPrompts();
    s.write({});
    await tools;
    await prompts;
    assert.ok((await toolNames(c)).includes('echo'), 'echo is back once the rule is gone');
    assert.ok((await promptNames(c)).includes('simple-prompt'));
    const r = await c.callTool({ name: 'echo', arguments: { message: 'back' } });
    assert.equal(r.isError ?? false, false, JSON.stringify(r));
  });

  test('a reload that fails changes nothing and sends nothing', T, async (t) => {
    requireBinary();
    const s = setup({ ev: { command: [...EVERYTHING] } });
    const sess = await connect('proxy', [], { config: s.file, capabilities: {} });
    t.after(() => sess.close());
    assert.ok((await toolNames(sess.client)).includes('echo'));
    const before = sess.toolListChanged.count;
    fs.writeFileSync(path.join(path.dirname(s.file), 'policies', 'broken.yaml'), 'policy_id: [');
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline && !sess.stderr().includes('keeping the last good version')) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(sess.stderr(), /keeping the last good version/);
    assert.equal(sess.toolListChanged.count, before, 'no list_changed for a failed reload');
    assert.ok((await toolNames(sess.client)).includes('echo'));
  });

  test('behind the aggregate: the merged list is fetched again and the client told', T, async (t) => {
    requireBinary();
    const s = setup({
      ev: { command: [...EVERYTHING], prefix_mode: 'always' },
      mem: {
        command: [NODE, MEMORY_ENTRY],
        env: { MEMORY_FILE_PATH: path.join(tmpDir('gt-e2e-vis-mem-'), 'memory.jsonl') },
      },
    });
    const sess = await connect('proxy', [], { config: s.file, capabilities: {} });
    t.after(() => sess.close());
    const c = sess.client;
    await sess.waitForTools(['ev__echo']);
    const tools = sess.nextToolListChanged();
    s.write({ denyEcho: true });
    await tools;
    // The aggregate may announce each member's list as it comes: list until it settles.
    const deadline = Date.now() + 10_000;
    let names = await toolNames(c);
    while (names.includes('ev__echo') && Date.now() < deadline) {
      await sess.nextToolListChanged(Math.max(1, deadline - Date.now())).catch(() => {});
      names = await toolNames(c);
    }
    assert.ok(!names.includes('ev__echo'), `ev__echo hidden after the reload: ${names}`);
    assert.ok(names.includes('ev__get-sum'), `the other tools stay: ${names}`);
    // Still routed to its server, judged and denied there (under its own name).
    assertDenied(assert, await c.callTool({ name: 'ev__echo', arguments: { message: 'x' } }), 'echo');
  });
});
