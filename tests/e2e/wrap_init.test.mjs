// From "installed" to "governed" in one command (issue 20): `glasstape init` on a client's
// config writes a starter config and policy set (read-only tools allowed, the rest denied)
// that `policy check` and `policy test` accept; `glasstape wrap --write` rewrites the client's
// file, and the rewritten entries, started exactly as a client starts them, are governed;
// `wrap --undo --write` gives the file back byte for byte.
//   GT_EXAMPLE_SERVER  the example server (default <repo>/build/tests/glasstape-example-server)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

import {
  DECISION_META_KEY,
  EVERYTHING_ENTRY,
  NODE,
  REPO_ROOT,
  TESTS_DIR,
  assertDenied,
  glasstapeBin,
  requireBinary,
  textOf,
  tmpDir,
} from './lib/harness.mjs';

const T = { timeout: 90_000 };
const EXAMPLE_SERVER =
  process.env.GT_EXAMPLE_SERVER || path.join(REPO_ROOT, 'build', 'tests', 'glasstape-example-server');
const MEMORY_ENTRY = path.join(
  TESTS_DIR, 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');
const SECRET = 'sk-e2e-never-printed';

function glasstape(args) {
  const env = { ...process.env };
  delete env.GT_ED25519_PRIVATE_KEY;
  return spawnSync(glasstapeBin(), args, { env, encoding: 'utf8', input: '', timeout: 60_000 });
}

// A Claude Desktop file naming the example server, server-everything and server-memory.
function clientFile(dir) {
  const file = path.join(dir, 'claude_desktop_config.json');
  const doc = {
    mcpServers: {
      example: { command: EXAMPLE_SERVER },
      everything: { command: NODE, args: ['--no-warnings', EVERYTHING_ENTRY, 'stdio'] },
      memory: {
        command: NODE,
        env: { MEMORY_FILE_PATH: path.join(dir, 'memory.jsonl'), MEMORY_API_TOKEN: SECRET },
        args: [MEMORY_ENTRY],
      },
    },
    globalShortcut: '',
  };
  // Written as a user would have it: arrays on one line, so the rewrite changes the layout too.
  fs.writeFileSync(file, `${JSON.stringify(doc, null, 2).replace(/\[\n\s+([^\]]*?)\n\s+\]/g,
    (_, inner) => `[${inner.replace(/\n\s+/g, ' ')}]`)}\n`);
  return file;
}

// Starts an entry of the client's file as the client does: its command, args and env.
async function connectEntry(entry) {
  const transport = new StdioClientTransport({
    command: entry.command,
    args: entry.args || [],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...(entry.env || {}) },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr.on('data', (d) => { stderr += d.toString(); });
  const client = new Client({ name: 'wrap-init-e2e', version: '1.0.0' }, { capabilities: {} });
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

// The sample files of tests/fixtures/clients, one per client shape.
describe('glasstape wrap on each client\'s sample file', () => {
  const FIXTURES = path.join(TESTS_DIR, 'fixtures', 'clients');
  const dir = tmpDir('gt-e2e-wrap-fixtures-');
  const config = path.join(dir, 'glasstape.yaml');
  fs.writeFileSync(config, 'governance: {audit: {dir: audit}}\n');
  const samples = {
    'claude_desktop_config.json': { stdio: ['filesystem', 'github'], left: [] },
    'cursor_mcp.json': { stdio: ['memory'], left: ['remote-docs'] },
    'vscode_mcp.json': { stdio: ['fetch'], left: ['everything'] },
    'vscode_settings.json': { stdio: ['filesystem'], left: [], comments: true },
    'url_only_mcp.json': { stdio: [], left: ['linear'] },
  };
  for (const [name, want] of Object.entries(samples)) {
    test(name, T, () => {
      requireBinary();
      const file = path.join(dir, name);
      fs.copyFileSync(path.join(FIXTURES, name), file);
      const original = fs.readFileSync(file);
      const servers = (doc) => doc.mcpServers || doc.servers || doc.mcp.servers;
      let r = glasstape(['wrap', file, '--config', config, '--write']);
      for (const left of want.left) assert.match(r.stdout, new RegExp(`  ${left}: left as is: a url entry`));
      assert.ok(!/ghp_secret|sk-live-secret|memory\.jsonl/.test(r.stdout + r.stderr), r.stdout);
      if (want.stdio.length === 0) {
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /nothing to change/);
        assert.deepEqual(fs.readFileSync(file), original);
        return;
      }
      if (want.comments) {
        assert.equal(r.status, 2, r.stdout + r.stderr);
        assert.match(r.stderr, /has comments, which writing drops; --force writes it anyway/);
        assert.match(r.stdout, /note: the file has comments \(JSONC\); they are not kept/);
        assert.deepEqual(fs.readFileSync(file), original);
        r = glasstape(['wrap', file, '--config', config, '--write', '--force']);
      }
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const text = original.toString('utf8');
      const before = JSON.parse(want.comments ? text.replace(/^\s*\/\/.*$|\/\*.*?\*\//gm, '') : text);
      const after = JSON.parse(fs.readFileSync(file, 'utf8'));
      for (const s of want.stdio) {
        const e = servers(after)[s];
        assert.deepEqual(e.args.slice(0, 7), ['run', '--config', config, '--server', s, '--', servers(before)[s].command]);
        assert.deepEqual(e.env, servers(before)[s].env);
      }
      for (const s of want.left) assert.deepEqual(servers(after)[s], servers(before)[s]);
      // Undo without the backup: from the arguments after `--`, the same JSON.
      const backup = fs.readdirSync(dir).find((n) => n.startsWith(`${name}.glasstape-backup-`));
      fs.renameSync(path.join(dir, backup), path.join(dir, `saved-${name}`));
      r = glasstape(['wrap', file, '--undo', '--write', '--force']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /no backup found: unwrapping each entry from its arguments after `--`/);
      assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), before);
    });
  }
});

describe('glasstape init and wrap on a Claude Desktop file', () => {
  requireBinary();
  const dir = tmpDir('gt-e2e-wrap-');
  const file = clientFile(dir);
  const original = fs.readFileSync(file);
  const out = path.join(dir, 'gt');
  const config = path.join(out, 'glasstape.yaml');

  test('init writes a config and policies that policy check and policy test accept', T, () => {
    const r = glasstape(['init', file, '--out', out, '--timeout-ms', '30000']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /example: \d+ tools, \d+ read-only allowed \(.*echo.*\)/);
    assert.match(r.stdout, /memory: 9 tools, 3 read-only allowed \(read_graph, search_nodes, open_nodes\), 6 denied/);
    assert.ok(!r.stdout.includes(SECRET) && !r.stderr.includes(SECRET), 'env values are never printed');
    assert.ok(fs.existsSync(config));
    assert.ok(!fs.readFileSync(config, 'utf8').includes(SECRET), 'env values stay in the client file');
    for (const f of ['example.read_only.yaml', 'example.read_only_test.yaml', 'memory.read_only.yaml',
      'memory.read_only_test.yaml']) {
      assert.ok(fs.existsSync(path.join(out, 'policies', f)), f);
    }
    const check = glasstape(['policy', 'check', path.join(out, 'policies')]);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    const t = glasstape(['policy', 'test', path.join(out, 'policies')]);
    assert.equal(t.status, 0, t.stdout + t.stderr);
    assert.match(t.stdout, /PASS: \d+ passed, 0 failed/);

    // Nothing is overwritten without --force.
    const again = glasstape(['init', file, '--out', out]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /^glasstape: init: `.*glasstape\.yaml` exists; --force overwrites it\n$/);
  });

  test('wrap is a dry run, then writes, is idempotent, runs governed, and undoes', T, async () => {
    const dry = glasstape(['wrap', file, '--config', config]);
    assert.equal(dry.status, 0, dry.stderr);
    assert.deepEqual(fs.readFileSync(file), original, 'a dry run changes nothing');
    assert.match(dry.stdout, /^\+\s+"--server",$/m);
    assert.match(dry.stdout, /dry run: nothing written/);
    assert.ok(!dry.stdout.includes(SECRET), 'env values are masked in the diff');
    assert.match(dry.stdout, /"MEMORY_API_TOKEN": "\*\*\*"/);

    const w = glasstape(['wrap', file, '--config', config, '--write']);
    assert.equal(w.status, 0, w.stderr);
    const backups = fs.readdirSync(dir).filter((n) => n.startsWith('claude_desktop_config.json.glasstape-backup-'));
    assert.equal(backups.length, 1);
    assert.deepEqual(fs.readFileSync(path.join(dir, backups[0])), original);
    const wrapped = fs.readFileSync(file);
    const again = glasstape(['wrap', file, '--config', config, '--write']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /nothing to change/);
    assert.deepEqual(fs.readFileSync(file), wrapped, 'wrapping twice changes nothing');

    const doc = JSON.parse(wrapped.toString('utf8'));
    assert.equal(doc.globalShortcut, '');
    const example = doc.mcpServers.example;
    assert.equal(example.command, fs.realpathSync(glasstapeBin()));
    assert.deepEqual(example.args, ['run', '--config', config, '--server', 'example', '--', EXAMPLE_SERVER]);

    // The example server, started as Claude Desktop would start the entry.
    {
      const { client, stderr } = await connectEntry(example);
      try {
        const names = (await client.listTools()).tools.map((t) => t.name);
        assert.ok(names.includes('echo'), `tools: ${names} ${stderr()}`);
        const ok = await client.callTool({ name: 'echo', arguments: { message: 'governed' } });
        assert.ok(!ok.isError, JSON.stringify(ok));
        assert.match(textOf(ok), /governed/);
        const denied = await client.callTool({ name: 'delete_file', arguments: { path: '/notes.txt' } });
        const d = assertDenied(assert, denied, 'delete_file');
        assert.equal(d.code, 'GT-POLICY-NONE');
        assert.match(textOf(denied), /^GlassTape denied this call to `example\/delete_file`/);
      } finally {
        await client.close();
      }
    }
    // server-memory: its env (MEMORY_FILE_PATH) reaches it through glasstape.
    {
      const { client } = await connectEntry(doc.mcpServers.memory);
      try {
        const graph = await client.callTool({ name: 'read_graph', arguments: {} });
        assert.ok(!graph.isError, JSON.stringify(graph));
        const denied = await client.callTool({
          name: 'create_entities',
          arguments: { entities: [{ name: 'a', entityType: 't', observations: [] }] },
        });
        assert.equal(denied._meta?.[DECISION_META_KEY]?.code, 'GT-POLICY-NONE');
        assert.ok(!fs.existsSync(path.join(dir, 'memory.jsonl')), 'the denied write never reached the server');
      } finally {
        await client.close();
      }
    }

    const undoDry = glasstape(['wrap', file, '--undo']);
    assert.equal(undoDry.status, 0, undoDry.stderr);
    assert.match(undoDry.stdout, /restoring the backup `.*glasstape-backup-/);
    assert.deepEqual(fs.readFileSync(file), wrapped, 'undo is a dry run too');
    const undo = glasstape(['wrap', file, '--undo', '--write']);
    assert.equal(undo.status, 0, undo.stderr);
    assert.deepEqual(fs.readFileSync(file), original, 'undo restores the file byte for byte');
  });

  test('wrap --aggregate puts every server behind one entry', T, async () => {
    const copy = path.join(dir, 'aggregate.json');
    fs.copyFileSync(file, copy);
    // One entry per server first, then one for all: undo steps back through both.
    assert.equal(glasstape(['wrap', copy, '--config', config, '--write']).status, 0);
    const perServer = fs.readFileSync(copy);
    const r = glasstape(['wrap', copy, '--config', config, '--aggregate', 'governed', '--write']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const doc = JSON.parse(fs.readFileSync(copy, 'utf8'));
    assert.deepEqual(Object.keys(doc.mcpServers), ['governed']);
    const entry = doc.mcpServers.governed;
    assert.deepEqual(entry.args, ['run', '--config', config]);
    assert.equal(entry.env.MEMORY_API_TOKEN, SECRET);
    const { client, stderr } = await connectEntry(entry);
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('read_graph') && names.includes('get_sum'), `${names} ${stderr()}`);
      const ok = await client.callTool({ name: 'get_sum', arguments: { a: 2, b: 3 } });
      assert.ok(!ok.isError, JSON.stringify(ok));
      const denied = await client.callTool({ name: 'delete_file', arguments: { path: '/notes.txt' } });
      assert.equal(denied._meta?.[DECISION_META_KEY]?.code, 'GT-POLICY-NONE');
    } finally {
      await client.close();
    }
    const undo = glasstape(['wrap', copy, '--undo', '--write']);
    assert.equal(undo.status, 0, undo.stderr);
    assert.deepEqual(fs.readFileSync(copy), perServer);
    const undo2 = glasstape(['wrap', copy, '--undo', '--write']);
    assert.equal(undo2.status, 0, undo2.stderr);
    assert.deepEqual(fs.readFileSync(copy), original);
    const backups = fs.readdirSync(dir).filter((n) => n.startsWith('aggregate.json.glasstape-backup-'));
    assert.equal(backups.length, 2, 'no backup overwrites another');
  });

  test('unusable files: one line on stderr, exit code 2', T, () => {
    const cases = {
      'bad.json': ['{"mcpServers": {', /invalid JSON: line \d+, column \d+: /],
      'shape.json': ['{"editor.fontSize": 14}', /unknown shape: no `mcpServers`, `servers` or `mcp.servers`/],
      'empty.json': ['{"mcpServers": {}}', /no servers in `mcpServers`/],
    };
    for (const [name, [text, re]] of Object.entries(cases)) {
      const f = path.join(dir, name);
      fs.writeFileSync(f, text);
      for (const args of [['wrap', f, '--config', config], ['init', f, '--out', path.join(dir, 'x')]]) {
        const r = glasstape(args);
        assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, re);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      }
    }
    const missing = glasstape(['wrap', path.join(dir, 'nope.json'), '--config', config]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /cannot read `.*nope\.json`/);
  });
});
