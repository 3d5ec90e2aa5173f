// The startup summary (issue 15): once the proxy knows a server's tools, the log says how each
// is governed, once per server: by a policy, by deny_tools, or with no policy (denied), and
// says so in monitor mode.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { EVERYTHING_ENTRY, NODE, connect, requireBinary, tmpDir, writeConfig } from './lib/harness.mjs';

const T = { timeout: 60_000 };
const SERVER = [NODE, '--no-warnings', EVERYTHING_ENTRY, 'stdio'];
const ECHO = 'policy_id: echo\nversion: "1"\ntools: [echo]\nrules: {allow: [{id: any, condition: ""}]}\n';

function setup(mode) {
  const root = tmpDir('gt-e2e-summary-');
  const dir = path.join(root, 'policies');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'echo.yaml'), ECHO);
  const policies = { dir, state_dir: path.join(root, 'state'), ...(mode ? { mode } : {}) };
  return writeConfig({
    governance: { audit: { dir: path.join(root, 'audit'), keys_dir: path.join(root, 'keys') }, policies },
  });
}

async function summaryLines(sess) {
  for (let i = 0; i < 50; ++i) {
    const lines = sess.stderr().split('\n').filter((l) => /server server: \d+ tools?:/.test(l));
    if (lines.length > 0) return lines;
    await new Promise((r) => setTimeout(r, 100));
  }
  return [];
}

describe('startup summary', () => {
  test('after tools/list the log counts how each tool is governed, once', T, async (t) => {
    requireBinary();
    const sess = await connect('proxy', SERVER, { config: setup(), denyTools: ['get-sum', 'add*'] });
    t.after(() => sess.close());
    const listed = (await sess.client.listTools()).tools.map((x) => x.name);
    await sess.client.listTools();  // listing again logs nothing new
    // The client sees only what it could be allowed: echo (its policy allows it); deny_tools
    // entries and tools no policy governs are hidden. The summary counts the server's whole list,
    // which the same server shows a client that connects to it directly.
    assert.deepEqual(listed, ['echo']);
    const direct = await connect('direct', SERVER, {});
    t.after(() => direct.close());
    const all = (await direct.client.listTools()).tools.map((x) => x.name);
    assert.ok(all.includes('get-sum') && all.length > 3, all.join(', '));
    const lines = await summaryLines(sess);
    assert.equal(lines.length, 1, sess.stderr());
    const m = lines[0].match(
      /server server: (\d+) tools: 1 governed by a policy, (\d+) denied by deny_tools \[([^\]]*)\], (\d+) with no policy \(denied\)/);
    assert.ok(m, lines[0]);
    const denied = all.filter((n) => n === 'get-sum' || n.startsWith('add'));
    assert.equal(Number(m[1]), all.length);
    assert.equal(Number(m[2]), denied.length);
    assert.equal(m[3], [...denied].sort().join(', '));
    assert.equal(Number(m[4]), all.length - 1 - denied.length);
  });

  test('in monitor mode the summary says no-policy tools are forwarded', T, async (t) => {
    requireBinary();
    const sess = await connect('proxy', SERVER, { config: setup('monitor') });
    t.after(() => sess.close());
    await sess.client.listTools();
    const lines = await summaryLines(sess);
    assert.equal(lines.length, 1, sess.stderr());
    assert.match(lines[0], /1 governed by a policy, \d+ with no policy \(forwarded: monitor mode\).*; monitor mode: policy denials are recorded, the calls forwarded/);
  });
});
