// @modelcontextprotocol/server-filesystem on a temporary directory, directly and through
// `glasstape run`: list, read, write, and a write denied by the config's deny_tools.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import {
  FILESYSTEM_ENTRY,
  NODE,
  assertDenied,
  connect,
  modes,
  textOf,
  tmpDir,
  writeConfig,
} from './lib/harness.mjs';

const T = { timeout: 40_000 };
// No roots capability: server-filesystem would replace its allowed directories with roots.
const CAPS = {};

for (const mode of modes()) {
  describe(`server-filesystem (${mode})`, () => {
    test('list, read and write in a temporary directory', T, async (t) => {
      const dir = fs.realpathSync(tmpDir('gt-e2e-fs-'));
      fs.writeFileSync(path.join(dir, 'hello.txt'), 'glass\ntape\n');
      fs.mkdirSync(path.join(dir, 'sub'));
      const s = await connect(mode, [NODE, FILESYSTEM_ENTRY, dir], { capabilities: CAPS });
      t.after(() => s.close());

      const { tools } = await s.client.listTools();
      const names = tools.map((x) => x.name);
      for (const n of ['list_directory', 'read_text_file', 'write_file']) {
        assert.ok(names.includes(n), `tools/list has ${n}: ${names.join(', ')}`);
      }

      const allowed = await s.client.callTool({ name: 'list_allowed_directories', arguments: {} });
      assert.ok(textOf(allowed).includes(dir), textOf(allowed));

      const list = await s.client.callTool({ name: 'list_directory', arguments: { path: dir } });
      assert.equal(list.isError ?? false, false, textOf(list));
      assert.match(textOf(list), /\[FILE\] hello\.txt/);
      assert.match(textOf(list), /\[DIR\] sub/);

      const read = await s.client.callTool({
        name: 'read_text_file', arguments: { path: path.join(dir, 'hello.txt') },
      });
      assert.equal(textOf(read), 'glass\ntape\n');

      const target = path.join(dir, 'sub', 'written.txt');
      const content = 'written through MCP: ünïcødé ✓\n';
      const write = await s.client.callTool({ name: 'write_file', arguments: { path: target, content } });
      assert.equal(write.isError ?? false, false, textOf(write));
      assert.equal(fs.readFileSync(target, 'utf8'), content);

      // Outside the allowed directory: the server's own error, passed through.
      const outside = await s.client.callTool({
        name: 'read_text_file', arguments: { path: '/etc/hostname' },
      });
      assert.equal(outside.isError, true, textOf(outside));
      assert.match(textOf(outside), /denied|outside|not allowed/i);
    });

    test('a write denied by the config never reaches the server', T, async (t) => {
      const dir = fs.realpathSync(tmpDir('gt-e2e-fs-'));
      const config = writeConfig({ governance: { deny_tools: ['write_file'] } });
      const s = await connect(mode, [NODE, FILESYSTEM_ENTRY, dir], { capabilities: CAPS, config });
      t.after(() => s.close());

      const target = path.join(dir, 'must-not-exist.txt');
      const r = await s.client.callTool({
        name: 'write_file', arguments: { path: target, content: 'leaked' },
      });
      if (mode === 'direct') {
        // Without the proxy the write happens: this is what the check below detects.
        assert.equal(r.isError ?? false, false, textOf(r));
        assert.equal(fs.readFileSync(target, 'utf8'), 'leaked');
        return;
      }
      assertDenied(assert, r, 'write_file');
      // Other tools still work, and a round trip later the file still does not exist.
      const list = await s.client.callTool({ name: 'list_directory', arguments: { path: dir } });
      assert.equal(list.isError ?? false, false, textOf(list));
      assert.equal(fs.existsSync(target), false, 'the denied write reached the server');
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}
