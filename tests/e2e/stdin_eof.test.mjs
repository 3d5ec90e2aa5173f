// `printf … | glasstape run …`: a piped client closes stdin right after its last request.
// Everything it sent is still seen through: allowed calls are forwarded and answered, denied
// ones answered, and the proxy exits on its own once the server has answered.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

import { requireBinary, withTimeout, writeConfig } from './lib/harness.mjs';

const EXAMPLE = process.env.GT_EXAMPLE_SERVER;

function runPiped(args, input) {
  return new Promise((resolve) => {
    const child = spawn(requireBinary(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code, sig) => resolve({ code, sig, out, err }));
    child.stdin.end(input);
  });
}

const msg = (o) => JSON.stringify({ jsonrpc: '2.0', ...o }) + '\n';

test('a piped client gets every answer, and glasstape exits when the server is done', { timeout: 60_000, skip: !EXAMPLE && 'GT_EXAMPLE_SERVER not set' }, async () => {
  const config = writeConfig({ servers: { example: { command: [EXAMPLE] } } });
  const calls = 20;
  let input = msg({ id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'printf', version: '1' } } });
  input += msg({ method: 'notifications/initialized' });
  // No tools/list first: the proxy lists the tools itself before judging the first call,
  // so every call below is still being decided when stdin closes.
  for (let i = 0; i < calls; i++) {
    input += msg({ id: i, method: 'tools/call', params: { name: i % 2 ? 'write_file' : 'echo', arguments: i % 2 ? { path: '/x', content: 'y' } : { message: `m${i}` } } });
  }
  const r = await withTimeout(
    runPiped(['run', '--config', config, '--deny-tool', 'write_file', '--', EXAMPLE], input),
    30_000, 'glasstape to exit after stdin closed');
  assert.equal(r.code, 0, r.err);
  const answers = new Map(r.out.trim().split('\n').map((l) => JSON.parse(l)).map((m) => [m.id, m]));
  assert.ok(answers.get('init')?.result, 'initialize answered');
  for (let i = 0; i < calls; i++) {
    const a = answers.get(i);
    assert.ok(a, `call ${i} was not answered; stderr:\n${r.err}`);
    if (i % 2) {
      assert.equal(a.result.isError, true, `call ${i} should be denied`);
      assert.match(a.result.content[0].text, /denied/);
    } else {
      assert.equal(a.result.content[0].text, `m${i}`, JSON.stringify(a));
    }
  }
});

test('calls the server never answers get -32001 once it is gone', { timeout: 60_000, skip: !EXAMPLE && 'GT_EXAMPLE_SERVER not set' }, async () => {
  // A server that reads its input and exits without answering anything after initialize.
  const script = `
    const rl = require('readline').createInterface({ input: process.stdin });
    rl.on('line', (l) => {
      const m = JSON.parse(l);
      if (m.method === 'initialize') process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'mute', version: '1' } } }) + '\\n');
      if (m.method === 'tools/list') process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { tools: [{ name: 'slow', inputSchema: { type: 'object' } }] } }) + '\\n');
    });
    rl.on('close', () => process.exit(0));`;
  const server = [process.execPath, '-e', script];
  const config = writeConfig({ servers: { mute: { command: server } } });
  let input = msg({ id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'printf', version: '1' } } });
  input += msg({ method: 'notifications/initialized' });
  input += msg({ id: 'l', method: 'tools/list' });
  input += msg({ id: 1, method: 'tools/call', params: { name: 'slow', arguments: {} } });
  const r = await withTimeout(runPiped(['run', '--config', config], input), 30_000, 'glasstape to exit');
  assert.equal(r.code, 0, r.err);
  const answers = new Map(r.out.trim().split('\n').map((l) => JSON.parse(l)).map((m) => [m.id, m]));
  assert.equal(answers.get(1)?.error?.code, -32001, `stdout:\n${r.out}\nstderr:\n${r.err}`);
});
