// One endpoint for many servers (issue 18), driven by the official SDK Client on both fronts:
//   stdio  the client spawns `glasstape run --config F` (no `--`: every configured server)
//   http   `glasstape serve --config F`; the client speaks Streamable HTTP to http.path (the
//          aggregate) or to http.path/<name> (that server alone)
// Servers: server-filesystem, server-memory, server-everything, and fixtures/agg_server.mjs (a
// tiny SDK server whose `die` tool ends its process). What each server lists alone is read once,
// straight from the server, so every merged list is checked item by item.
//
//   GLASSTAPE_BIN  the glasstape binary (default <repo>/build/proxy/glasstape)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

import {
  E2E_DIR,
  EVERYTHING,
  FILESYSTEM_ENTRY,
  NODE,
  TESTS_DIR,
  assertDenied,
  modes,
  recordPayload,
  requireBinary,
  startGlasstapeServe,
  textOf,
  tmpDir,
  waitUntil,
  withTimeout,
} from './lib/harness.mjs';

const MEMORY_ENTRY = path.join(
  TESTS_DIR, 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');
const AGG_SERVER = path.join(E2E_DIR, 'fixtures', 'agg_server.mjs');

const T = { timeout: 40_000 };
// Sampling (server-everything lists trigger-sampling-request only to a client that samples);
// no roots: server-filesystem would replace its allowed directories with the client's roots.
const CAPS = { sampling: {} };
const FRONTS = ['stdio', 'http'];
// Every test here is about glasstape itself: GT_E2E_MODE=direct (servers only) skips them.
const skip = modes().includes('proxy') ? false : 'GT_E2E_MODE=direct: nothing to run without glasstape';

// ------------------------------------------------------------------------ servers and configs

const fsServer = (dir, extra = {}) => ({ command: [NODE, FILESYSTEM_ENTRY, dir], ...extra });
const memServer = (file, extra = {}) => ({
  command: [NODE, MEMORY_ENTRY], env: { MEMORY_FILE_PATH: file }, ...extra,
});
const evServer = (extra = {}) => ({ command: [...EVERYTHING], ...extra });
const aggServer = (name, extra = {}) => ({ command: [NODE, AGG_SERVER, name], ...extra });

// A config in a fresh directory; audit log, keys and tool pins stay in it.
function makeConfig({ servers, governance = {}, aggregate }) {
  const dir = tmpDir('gt-e2e-agg-');
  const config = {
    servers,
    ...(aggregate ? { aggregate } : {}),
    // serve waits 2 x this + 200 ms after SIGTERM whatever is left (default 2 s: 4.2 s a test).
    shutdown_grace_ms: 500,
    http: { listen: '127.0.0.1:0', path: '/mcp', keepalive_s: 1 },
    governance: {
      audit: { dir: path.join(dir, 'audit'), keys_dir: path.join(dir, 'keys'), fsync: 'group' },
      tools: { pins: 'off', pins_dir: path.join(dir, 'pins') },
      ...governance,
    },
  };
  const file = path.join(dir, 'glasstape.yaml');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, dir, audit: path.join(dir, 'audit') };
}

// The payloads of the audit log's records (v1: DSSE envelopes; v2: the lines themselves).
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

// The decision records for `server`/`tool`, once there are `n` (the log commits in groups).
async function decisions(dir, server, tool, n = 1) {
  let found = [];
  await waitUntil(() => {
    found = records(dir).filter((r) => r.kind === 'decision' && r.server === server && r.tool === tool);
    return found.length >= n;
  }, 10_000, `${n} decision record(s) for ${server}/${tool} in ${dir}`, 50);
  return found;
}

// ------------------------------------------------------------------------ SDK clients

// Records every message the transport hands the SDK (the initialize answer included).
function tap(transport, messages) {
  let handler;
  Object.defineProperty(transport, 'onmessage', {
    configurable: true,
    get: () => (handler ? (m, extra) => { messages.push(m); handler(m, extra); } : undefined),
    set: (h) => { handler = h; },
  });
}

function makeClient(opts) {
  const client = new Client({ name: 'glasstape-agg-e2e', version: '1.0.0' },
    { capabilities: opts.capabilities ?? CAPS });
  const s = { client, messages: [], errors: [], listChanged: 0, waiters: [] };
  client.onerror = (e) => s.errors.push(e);
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    s.listChanged += 1;
    for (const w of s.waiters.splice(0)) w();
  });
  if ((opts.capabilities ?? CAPS).sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
      if (!opts.sampling) throw new Error('no sampling handler in this test');
      return opts.sampling(req);
    });
  }
  return s;
}

function sessionApi(s) {
  // Lists tools until `pred(names)` holds.
  s.toolNames = async () => (await s.client.listTools()).tools.map((x) => x.name);
  s.waitForToolNames = async (pred, what, ms = 15_000) => {
    let names = [];
    await waitUntil(async () => pred((names = await s.toolNames())), ms, what, 50);
    return names;
  };
  // Resolves once the tools/list_changed count exceeds `n`.
  s.listChangedAfter = (n, ms = 10_000) =>
    waitUntil(() => s.listChanged > n, ms, 'notifications/tools/list_changed', 10);
  s.initResult = () => s.messages.find((m) => m.id !== undefined && m.result?.serverInfo)?.result;
  return s;
}

async function openStdio(cfg, opts = {}) {
  const transport = new StdioClientTransport({
    command: requireBinary(),
    args: ['run', '--config', cfg.file, ...(opts.extra || [])],
    env: { ...process.env },
    stderr: 'pipe',
  });
  let log = '';
  transport.stderr.on('data', (d) => {
    log += d.toString();
    if (log.length > 400_000) log = log.slice(-200_000);
  });
  const s = makeClient(opts);
  tap(transport, s.messages);
  try {
    await withTimeout(s.client.connect(transport), 20_000, 'initialize over stdio');
  } catch (e) {
    await transport.close().catch(() => {});
    e.message += `\n--- glasstape log ---\n${log.slice(-4000)}`;
    throw e;
  }
  s.front = 'stdio';
  s.transport = transport;
  s.log = () => log;
  s.close = async () => {
    await s.client.close().catch(() => {});
  };
  return sessionApi(s);
}

// `glasstape serve --config F`, once it serves the aggregate: {port, base, proc, log(), stop()}.
function startServe(cfg) {
  return startGlasstapeServe(['--config', cfg.file], {
    ready: /serving MCP at http:\/\/127\.0\.0\.1:(\d+)\/mcp for servers /,
  });
}

async function openHttp(serve, p = '/mcp', opts = {}) {
  const transport = new StreamableHTTPClientTransport(new URL(serve.base + p));
  const s = makeClient(opts);
  tap(transport, s.messages);
  try {
    await withTimeout(s.client.connect(transport), 20_000, `initialize over HTTP at ${p}`);
  } catch (e) {
    e.message += `\n--- glasstape log ---\n${serve.log().slice(-4000)}`;
    throw e;
  }
  s.front = 'http';
  s.transport = transport;
  s.log = serve.log;
  s.close = async () => {
    await transport.terminateSession().catch(() => {});
    await s.client.close().catch(() => {});
  };
  return sessionApi(s);
}

// A client on `front` in front of cfg's servers; close() also stops a serve it started.
async function open(front, cfg, opts = {}) {
  if (front === 'stdio') return openStdio(cfg, opts);
  const serve = await startServe(cfg);
  let s;
  try {
    s = await openHttp(serve, '/mcp', opts);
  } catch (e) {
    await serve.stop().catch(() => {});
    throw e;
  }
  const close = s.close;
  s.serve = serve;
  s.close = async () => {
    await close();
    await serve.stop();
  };
  return s;
}

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

// One raw HTTP POST: {status, text}.
function post(port, p, body, headers = {}) {
  const payload = JSON.stringify(body);
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: p, agent: false,
      headers: {
        Host: `127.0.0.1:${port}`,
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        'Content-Length': Buffer.byteLength(payload),
        ...headers,
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  }), 15_000, `POST ${p}`);
}

const INIT = {
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

// ------------------------------------------------------------------------ each server alone

// What each server offers when the SDK Client talks to it directly (same capabilities).
const ALONE = {};
async function alone(name, command, env = {}) {
  const transport = new StdioClientTransport({
    command: command[0], args: command.slice(1), env: { ...process.env, ...env }, stderr: 'pipe',
  });
  const messages = [];
  tap(transport, messages);
  const client = new Client({ name: 'glasstape-agg-e2e', version: '1.0.0' }, { capabilities: CAPS });
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({
    model: 'none', role: 'assistant', content: { type: 'text', text: '' },
  }));
  await withTimeout(client.connect(transport), 20_000, `initialize ${name} alone`);
  const caps = client.getServerCapabilities();
  const r = {
    serverInfo: client.getServerVersion(),
    protocolVersion: messages.find((m) => m.result?.serverInfo)?.result.protocolVersion,
    instructions: client.getInstructions(),
    tools: (await client.listTools()).tools,
    prompts: caps.prompts ? (await client.listPrompts()).prompts : [],
    resources: caps.resources ? (await client.listResources()).resources : [],
    templates: caps.resources ? (await client.listResourceTemplates()).resourceTemplates : [],
  };
  if (name === 'ev') {
    r.architecture = await client.readResource({ uri: 'demo://resource/static/document/architecture.md' });
  }
  await client.close();
  ALONE[name] = r;
}

before(async () => {
  if (skip) return;
  const dir = fs.realpathSync(tmpDir('gt-e2e-agg-alone-'));
  await Promise.all([
    alone('fs', [NODE, FILESYSTEM_ENTRY, dir]),
    alone('mem', [NODE, MEMORY_ENTRY], { MEMORY_FILE_PATH: path.join(dir, 'memory.jsonl') }),
    alone('ev', EVERYTHING),
    alone('agg', [NODE, AGG_SERVER, 'agg']),
  ]);
});

const names = (list) => list.map((x) => x.name);

// ------------------------------------------------------------------------ the tests

for (const front of FRONTS) {
  describe(`aggregate over ${front}`, { skip, timeout: 90_000 }, () => {
    test('three servers behind one endpoint: merged initialize and lists, calls to each', T, async (t) => {
      const files = fs.realpathSync(tmpDir('gt-e2e-agg-files-'));
      fs.writeFileSync(path.join(files, 'hello.txt'), 'glass\ntape\n');
      const memFile = path.join(tmpDir('gt-e2e-agg-mem-'), 'memory.jsonl');
      const cfg = makeConfig({ servers: { fs: fsServer(files), mem: memServer(memFile), ev: evServer() } });
      const s = await open(front, cfg, {
        sampling: async (req) => ({
          model: 'e2e-model', role: 'assistant',
          content: { type: 'text', text: `pong to ${req.params.messages[0].content.text}` },
        }),
      });
      t.after(() => s.close());

      // initialize: answered once, merged.
      const init = s.initResult();
      assert.equal(s.messages.filter((m) => m.result?.serverInfo).length, 1, 'one initialize answer');
      assert.equal(init.serverInfo.name, 'glasstape');
      assert.equal(init.serverInfo.title, 'GlassTape: fs, mem, ev');
      const oldest = [ALONE.fs, ALONE.mem, ALONE.ev].map((a) => a.protocolVersion).sort()[0];
      assert.equal(init.protocolVersion, oldest, 'the oldest version a server negotiated');
      assert.deepEqual(init.capabilities, {
        completions: {},
        logging: {},
        prompts: { listChanged: true },
        resources: { listChanged: true, subscribe: true },
        tools: { listChanged: true },
      }, 'tools, prompts, resources, logging and completions only (no tasks)');
      assert.equal(init.instructions, `## Server \`ev\`\n${ALONE.ev.instructions}`);

      // The lists: each server's items, in config order, nothing renamed (no collision).
      const { tools } = await s.client.listTools();
      assert.deepEqual(tools, [...ALONE.fs.tools, ...ALONE.mem.tools, ...ALONE.ev.tools]);
      for (const n of ['read_text_file', 'write_file', 'create_entities', 'read_graph', 'echo',
        'trigger-long-running-operation', 'trigger-sampling-request']) {
        assert.ok(names(tools).includes(n), `${n} listed: ${names(tools).join(', ')}`);
      }
      assert.deepEqual((await s.client.listPrompts()).prompts, ALONE.ev.prompts);
      assert.deepEqual((await s.client.listResources()).resources,
        [...ALONE.mem.resources, ...ALONE.ev.resources]);
      assert.deepEqual((await s.client.listResourceTemplates()).resourceTemplates, ALONE.ev.templates);

      // Calls, each to its own server.
      const read = await s.client.callTool({
        name: 'read_text_file', arguments: { path: path.join(files, 'hello.txt') },
      });
      assert.equal(read.isError ?? false, false, JSON.stringify(read));
      assert.equal(textOf(read), 'glass\ntape\n');
      const entity = { name: 'glasstape', entityType: 'proxy', observations: [`aggregated over ${front}`] };
      const created = await s.client.callTool({ name: 'create_entities', arguments: { entities: [entity] } });
      assert.equal(created.isError ?? false, false, JSON.stringify(created));
      const graph = await s.client.callTool({ name: 'read_graph', arguments: {} });
      assert.deepEqual(JSON.parse(textOf(graph)), { entities: [entity], relations: [] });
      const echo = await s.client.callTool({ name: 'echo', arguments: { message: `hi over ${front}` } });
      assert.deepEqual(echo.content, [{ type: 'text', text: `Echo: hi over ${front}` }]);

      // Prompts, resources (by URI and by template) and completions are routed too.
      const prompt = await s.client.getPrompt({ name: 'args-prompt', arguments: { city: 'Oslo', state: 'NO' } });
      assert.deepEqual(prompt.messages,
        [{ role: 'user', content: { type: 'text', text: "What's weather in Oslo, NO?" } }]);
      const doc = await s.client.readResource({ uri: 'demo://resource/static/document/architecture.md' });
      assert.deepEqual(doc, ALONE.ev.architecture);
      const dyn = await s.client.readResource({ uri: 'demo://resource/dynamic/text/7' });
      assert.equal(dyn.contents.length, 1, JSON.stringify(dyn));
      assert.equal(dyn.contents[0].uri, 'demo://resource/dynamic/text/7');
      assert.match(dyn.contents[0].text, /^Resource 7: This is a plaintext resource created at /);
      const kg = await s.client.readResource({ uri: 'memory://knowledge-graph' });
      assert.equal(kg.contents[0].uri, 'memory://knowledge-graph');
      assert.deepEqual(JSON.parse(kg.contents[0].text).entities, [entity]);
      const done = await s.client.complete({
        ref: { type: 'ref/prompt', name: 'completable-prompt' }, argument: { name: 'department', value: 'E' },
      });
      assert.deepEqual(done.completion, { values: ['Engineering'], total: 1, hasMore: false });

      // Unknown names are refused by the endpoint with -32602.
      const unknown = await rpcError(s.client.callTool({ name: 'no_such_tool', arguments: {} }));
      assert.equal(unknown.code, -32602, unknown.message);
      assert.match(unknown.message, /Unknown tool `no_such_tool`/);
      const noPrompt = await rpcError(s.client.getPrompt({ name: 'no-such-prompt' }));
      assert.equal(noPrompt.code, -32602, noPrompt.message);
      assert.match(noPrompt.message, /Unknown prompt `no-such-prompt`/);

      // Every call has its decision record, naming the server that got it.
      for (const [server, tool] of [['fs', 'read_text_file'], ['mem', 'create_entities'],
        ['mem', 'read_graph'], ['ev', 'echo']]) {
        const [d] = await decisions(cfg.audit, server, tool);
        assert.equal(d.decision, 'allow', JSON.stringify(d));
      }
      const recorded = records(cfg.audit).filter((r) => r.kind === 'decision')
        .map((r) => `${r.server}/${r.tool}`).sort();
      assert.deepEqual(recorded, ['ev/echo', 'fs/read_text_file', 'mem/create_entities', 'mem/read_graph']);
    });

    test('the oldest protocol version any server negotiated is the endpoint\'s', T, async (t) => {
      const memFile = path.join(tmpDir('gt-e2e-agg-mem-'), 'memory.jsonl');
      const cfg = makeConfig({
        servers: {
          mem: memServer(memFile),
          old: aggServer('old', { env: { AGG_PROTOCOL_VERSION: '2025-03-26' } }),
        },
      });
      const s = await open(front, cfg);
      t.after(() => s.close());
      assert.equal(s.initResult().protocolVersion, '2025-03-26');
      assert.equal(s.initResult().serverInfo.title, 'GlassTape: mem, old');
      const hello = await s.client.callTool({ name: 'hello', arguments: {} });
      assert.match(textOf(hello), /^hello from old pid \d+$/);
    });

    test('two filesystem servers: colliding names get the server prefix, each reads its own directory', T, async (t) => {
      const dirA = fs.realpathSync(tmpDir('gt-e2e-agg-a-'));
      const dirB = fs.realpathSync(tmpDir('gt-e2e-agg-b-'));
      fs.writeFileSync(path.join(dirA, 'same.txt'), 'from a\n');
      fs.writeFileSync(path.join(dirB, 'same.txt'), 'from b\n');
      const cfg = makeConfig({ servers: { a: fsServer(dirA), b: fsServer(dirB) } });
      const s = await open(front, cfg, { capabilities: {} });
      t.after(() => s.close());

      const { tools } = await s.client.listTools();
      const fsNames = names(ALONE.fs.tools);
      assert.deepEqual(names(tools), [...fsNames.map((n) => `a__${n}`), ...fsNames.map((n) => `b__${n}`)]);
      // Renamed, otherwise as the server listed it.
      assert.deepEqual(tools.find((x) => x.name === 'b__read_text_file'),
        { ...ALONE.fs.tools.find((x) => x.name === 'read_text_file'), name: 'b__read_text_file' });

      const ra = await s.client.callTool({ name: 'a__read_text_file', arguments: { path: path.join(dirA, 'same.txt') } });
      assert.equal(textOf(ra), 'from a\n');
      const rb = await s.client.callTool({ name: 'b__read_text_file', arguments: { path: path.join(dirB, 'same.txt') } });
      assert.equal(textOf(rb), 'from b\n');
      // Server a is asked for b's directory: its own refusal proves where the call went.
      const cross = await s.client.callTool({ name: 'a__read_text_file', arguments: { path: path.join(dirB, 'same.txt') } });
      assert.equal(cross.isError, true, JSON.stringify(cross));
      assert.match(textOf(cross), /Access denied - path outside allowed directories/);
      const allowed = await s.client.callTool({ name: 'b__list_allowed_directories', arguments: {} });
      assert.equal(textOf(allowed), `Allowed directories:\n${dirB}`);

      // The plain name is no longer routed.
      const plain = await rpcError(s.client.callTool({ name: 'read_text_file', arguments: { path: path.join(dirA, 'same.txt') } }));
      assert.equal(plain.code, -32602, plain.message);
      assert.match(plain.message, /Unknown tool `read_text_file`/);

      // The records name the server and its own name for the tool.
      assert.equal((await decisions(cfg.audit, 'a', 'read_text_file', 2)).length, 2);
      assert.equal((await decisions(cfg.audit, 'b', 'read_text_file', 1)).length, 1);
      assert.equal((await decisions(cfg.audit, 'b', 'list_allowed_directories', 1)).length, 1);
      assert.deepEqual(records(cfg.audit).filter((r) => r.kind === 'decision' && /__/.test(r.tool)), []);
    });

    test('per-server prefix and prefix_mode', T, async (t) => {
      const dirA = fs.realpathSync(tmpDir('gt-e2e-agg-a-'));
      const dirB = fs.realpathSync(tmpDir('gt-e2e-agg-b-'));
      fs.writeFileSync(path.join(dirA, 'same.txt'), 'from a\n');
      fs.writeFileSync(path.join(dirB, 'same.txt'), 'from b\n');
      const cfg = makeConfig({
        servers: { a: fsServer(dirA, { prefix_mode: 'never' }), b: fsServer(dirB, { prefix: 'right' }) },
        aggregate: { separator: '.' },
      });
      const s = await open(front, cfg, { capabilities: {} });
      t.after(() => s.close());
      const fsNames = names(ALONE.fs.tools);
      assert.deepEqual(await s.toolNames(), [...fsNames, ...fsNames.map((n) => `right.${n}`)]);
      const ra = await s.client.callTool({ name: 'read_text_file', arguments: { path: path.join(dirA, 'same.txt') } });
      assert.equal(textOf(ra), 'from a\n');
      const rb = await s.client.callTool({ name: 'right.read_text_file', arguments: { path: path.join(dirB, 'same.txt') } });
      assert.equal(textOf(rb), 'from b\n');
    });

    test('prefix_mode never with a collision: the error is logged and neither server is routed', T, async (t) => {
      const dirA = fs.realpathSync(tmpDir('gt-e2e-agg-a-'));
      const dirB = fs.realpathSync(tmpDir('gt-e2e-agg-b-'));
      fs.writeFileSync(path.join(dirA, 'same.txt'), 'from a\n');
      const cfg = makeConfig({
        servers: { a: fsServer(dirA), b: fsServer(dirB) },
        aggregate: { prefix_mode: 'never' },
      });
      const s = await open(front, cfg, { capabilities: {} });
      t.after(() => s.close());
      // Every one of the 14 names collides: nothing is listed.
      assert.deepEqual(await s.toolNames(), []);
      await waitUntil(() => s.log().includes(
        'tools: `read_text_file` is exposed by both server `a` (`read_text_file`) and server `b` ' +
        '(`read_text_file`); give one of them a prefix (prefix_mode: always)'),
      5000, 'the collision in the log');
      const r = await rpcError(s.client.callTool({ name: 'read_text_file', arguments: { path: path.join(dirA, 'same.txt') } }));
      assert.equal(r.code, -32602, r.message);
      assert.match(r.message, /Unknown tool `read_text_file`/);
      await s.close();  // the audit log is complete once glasstape has stopped
      assert.deepEqual(records(cfg.audit).filter((x) => x.kind === 'decision'), [],
        'no server was asked, so nothing was decided');
    });

    test('names that were never listed are not routed (prefix_mode never; a non-colliding tool)', T, async (t) => {
      const dirA = fs.realpathSync(tmpDir('gt-e2e-agg-a-'));
      const dirB = fs.realpathSync(tmpDir('gt-e2e-agg-b-'));
      fs.writeFileSync(path.join(dirA, 'same.txt'), 'from a\n');
      const memFile = path.join(tmpDir('gt-e2e-agg-mem-'), 'memory.jsonl');
      const cfg = makeConfig({
        servers: {
          a: fsServer(dirA, { prefix_mode: 'never' }),
          b: fsServer(dirB, { prefix_mode: 'never' }),
          mem: memServer(memFile),
        },
      });
      const s = await open(front, cfg, { capabilities: {} });
      t.after(() => s.close());
      // a and b collide on every name: only mem's tools are listed, unprefixed.
      assert.deepEqual(await s.toolNames(), names(ALONE.mem.tools));
      // Neither name was ever listed: both should be unknown tools.
      const outcome = {};
      for (const name of ['a__read_text_file', 'mem__read_graph']) {
        outcome[name] = await s.client.callTool({ name, arguments: { path: path.join(dirA, 'same.txt') } })
          .then((r) => `result: ${textOf(r).slice(0, 60)}`, (e) => e.message);
      }
      assert.deepEqual(outcome, {
        a__read_text_file: 'MCP error -32602: Unknown tool `a__read_text_file`: no server behind this endpoint lists it',
        mem__read_graph: 'MCP error -32602: Unknown tool `mem__read_graph`: no server behind this endpoint lists it',
      });
    });

    test('a call to a hidden tool goes to the server that lists it under that name', T, async (t) => {
      // Server b has a tool whose own name is `a__hello`; server a has `hello`, listed as such.
      const cfg = makeConfig({
        servers: { a: aggServer('a'), b: aggServer('b', { env: { AGG_HELLO_NAME: 'a__hello' } }) },
        governance: { deny_tools: ['b/a__hello'] },
      });
      const s = await open(front, cfg, { capabilities: {} });
      t.after(() => s.close());
      assert.deepEqual(await s.toolNames(), ['hello', 'a__die', 'b__die']);
      const r = await s.client.callTool({ name: 'a__hello', arguments: {} });
      assertDenied(assert, r, 'a__hello');
      assert.ok(textOf(r).startsWith('GlassTape denied this call to `b/a__hello`'), textOf(r));
      assert.equal((await decisions(cfg.audit, 'b', 'a__hello'))[0].decision, 'deny');
    });

    test('two servers listing one resource URI: neither is routed', T, async (t) => {
      const one = path.join(tmpDir('gt-e2e-agg-mem-'), 'memory.jsonl');
      const two = path.join(tmpDir('gt-e2e-agg-mem-'), 'memory.jsonl');
      const cfg = makeConfig({ servers: { m1: memServer(one), m2: memServer(two) } });
      const s = await open(front, cfg, { capabilities: {} });
      t.after(() => s.close());
      const memNames = names(ALONE.mem.tools);
      assert.deepEqual(await s.toolNames(), [...memNames.map((n) => `m1__${n}`), ...memNames.map((n) => `m2__${n}`)]);
      assert.deepEqual((await s.client.listResources()).resources, []);
      await waitUntil(() => s.log().includes(
        'resources: `memory://knowledge-graph` is listed by both server `m1` and server `m2`; neither is routed'),
      5000, 'the URI collision in the log');
      const r = await rpcError(s.client.readResource({ uri: 'memory://knowledge-graph' }));
      assert.equal(r.code, -32602, r.message);
      assert.ok(r.message.includes(
        '`memory://knowledge-graph` is listed by both server `m1` and server `m2`, so it is routed to neither'), r.message);
      // The tools still reach their own server.
      const entity = { name: 'only-in-m2', entityType: 't', observations: [] };
      await s.client.callTool({ name: 'm2__create_entities', arguments: { entities: [entity] } });
      const g1 = await s.client.callTool({ name: 'm1__read_graph', arguments: {} });
      const g2 = await s.client.callTool({ name: 'm2__read_graph', arguments: {} });
      assert.deepEqual(JSON.parse(textOf(g1)), { entities: [], relations: [] });
      assert.deepEqual(JSON.parse(textOf(g2)), { entities: [entity], relations: [] });
    });

    test('deny_tools fs/write_* denies write_file behind the aggregate; the record names server fs', T, async (t) => {
      const files = fs.realpathSync(tmpDir('gt-e2e-agg-files-'));
      const memFile = path.join(tmpDir('gt-e2e-agg-mem-'), 'memory.jsonl');
      const cfg = makeConfig({
        servers: { fs: fsServer(files), mem: memServer(memFile) },
        governance: { deny_tools: ['fs/write_*'] },
      });
      const s = await open(front, cfg, { capabilities: {} });
      t.after(() => s.close());
      const listed = await s.toolNames();
      assert.deepEqual(listed, [...names(ALONE.fs.tools).filter((n) => n !== 'write_file'), ...names(ALONE.mem.tools)],
        'a tool deny_tools denies is not listed');

      const target = path.join(files, 'must-not-exist.txt');
      const r = await s.client.callTool({ name: 'write_file', arguments: { path: target, content: 'leaked' } });
      const d = assertDenied(assert, r, 'write_file');
      assert.ok(textOf(r).startsWith('GlassTape denied this call to `fs/write_file`'), textOf(r));
      assert.equal(d.code, 'GT-DENY-TOOL', JSON.stringify(d));
      assert.equal(d.rule_id, 'deny_tools:fs/write_*', JSON.stringify(d));
      // Another tool of that server, and the other server, still work.
      const list = await s.client.callTool({ name: 'list_directory', arguments: { path: files } });
      assert.equal(list.isError ?? false, false, textOf(list));
      const created = await s.client.callTool({
        name: 'create_entities', arguments: { entities: [{ name: 'w', entityType: 't', observations: [] }] },
      });
      assert.equal(created.isError ?? false, false, textOf(created));
      assert.equal(fs.existsSync(target), false, 'the denied write reached the server');
      assert.deepEqual(fs.readdirSync(files), []);

      const [rec] = await decisions(cfg.audit, 'fs', 'write_file');
      assert.equal(rec.decision, 'deny', JSON.stringify(rec));
      assert.equal(rec.code, 'GT-DENY-TOOL', JSON.stringify(rec));
      assert.equal(rec.rule_id, 'deny_tools:fs/write_*', JSON.stringify(rec));
      assert.equal(rec.id, d.receipt_id, 'the receipt named in _meta is this record');
      assert.equal((await decisions(cfg.audit, 'mem', 'create_entities'))[0].decision, 'allow');
    });

    test('deny_tools matches the server and its own tool name, not the prefixed name', T, async (t) => {
      const dirA = fs.realpathSync(tmpDir('gt-e2e-agg-a-'));
      const dirB = fs.realpathSync(tmpDir('gt-e2e-agg-b-'));
      const cfg = makeConfig({
        servers: { fs: fsServer(dirA), other: fsServer(dirB) },
        governance: { deny_tools: ['fs/write_*'] },
      });
      const s = await open(front, cfg, { capabilities: {} });
      t.after(() => s.close());
      // fs's write_file is hidden from this client (deny_tools), so other's no longer collides
      // with anything the client is shown: it is listed unprefixed.
      const fsNames = names(ALONE.fs.tools);
      assert.deepEqual(await s.toolNames(), [
        ...fsNames.filter((n) => n !== 'write_file').map((n) => `fs__${n}`),
        ...fsNames.map((n) => (n === 'write_file' ? n : `other__${n}`)),
      ]);
      const denied = await s.client.callTool({
        name: 'fs__write_file', arguments: { path: path.join(dirA, 'x.txt'), content: 'no' },
      });
      assertDenied(assert, denied, 'write_file');
      assert.ok(textOf(denied).startsWith('GlassTape denied this call to `fs/write_file`'), textOf(denied));
      const ok = await s.client.callTool({
        name: 'write_file', arguments: { path: path.join(dirB, 'x.txt'), content: 'yes' },
      });
      assert.equal(ok.isError ?? false, false, textOf(ok));
      assert.deepEqual(fs.readdirSync(dirA), []);
      assert.equal(fs.readFileSync(path.join(dirB, 'x.txt'), 'utf8'), 'yes');
      assert.equal((await decisions(cfg.audit, 'fs', 'write_file'))[0].decision, 'deny');
      assert.equal((await decisions(cfg.audit, 'other', 'write_file'))[0].decision, 'allow');
    });

    test('a server that exits: its tools leave, calls get -32001, it restarts and they return', { timeout: 60_000 }, async (t) => {
      const memFile = path.join(tmpDir('gt-e2e-agg-mem-'), 'memory.jsonl');
      const cfg = makeConfig({
        servers: {
          agg: aggServer('agg', { restart: { max: 3, backoff_ms: 100 } }),
          mem: memServer(memFile),
        },
      });
      const s = await open(front, cfg, { capabilities: {} });
      t.after(() => s.close());
      const all = [...names(ALONE.agg.tools), ...names(ALONE.mem.tools)];
      assert.deepEqual(await s.toolNames(), all);
      const pidOf = (r) => Number(/^hello from agg pid (\d+)$/.exec(textOf(r))?.[1]);
      const pids = [pidOf(await s.client.callTool({ name: 'hello', arguments: {} }))];
      assert.ok(pids[0] > 0, 'hello answered with its pid');

      // Three deaths: each time the tools leave and come back from a new process.
      for (let round = 1; round <= 3; round++) {
        const seen = s.listChanged;
        const died = await s.client.callTool({ name: 'die', arguments: {} });
        assert.equal(textOf(died), `agg pid ${pids.at(-1)} exits`);
        await s.listChangedAfter(seen);  // gone
        await s.waitForToolNames((n) => n.includes('hello'), `hello listed again (round ${round})`);
        // One when it left, one when it came back (over HTTP on the GET stream, which may
        // trail the POST that listed it).
        await waitUntil(() => s.listChanged >= seen + 2, 5000, `a second list_changed (round ${round})`);
        assert.deepEqual(await s.toolNames(), all);
        const pid = pidOf(await s.client.callTool({ name: 'hello', arguments: {} }));
        assert.ok(pid > 0 && !pids.includes(pid), `a new process answers: ${pid} after ${pids}`);
        pids.push(pid);
      }

      // The fourth death is the last (restart.max 3): `die` itself goes unanswered.
      const seen = s.listChanged;
      const died = await rpcError(s.client.callTool({ name: 'die', arguments: { before: true } }));
      assert.equal(died.code, -32001, died.message);
      assert.match(died.message, /server `agg` exited with status 3 before answering `tools\/call`/);
      await s.listChangedAfter(seen);
      assert.deepEqual(await s.toolNames(), names(ALONE.mem.tools), 'hello and die are gone');
      const hello = await rpcError(s.client.callTool({ name: 'hello', arguments: {} }));
      assert.equal(hello.code, -32001, hello.message);
      assert.match(hello.message, /server `agg` is down/);
      // The other server is not affected.
      const graph = await s.client.callTool({ name: 'read_graph', arguments: {} });
      assert.deepEqual(JSON.parse(textOf(graph)), { entities: [], relations: [] });
      assert.match(s.log(), /server `agg` is down \(.*\); its tools, prompts and resources are hidden/);
    });

    test('a server whose command is missing: the others are served', T, async (t) => {
      const memFile = path.join(tmpDir('gt-e2e-agg-mem-'), 'memory.jsonl');
      const missing = path.join(tmpDir('gt-e2e-agg-none-'), 'no-such-server');
      const cfg = makeConfig({ servers: { ghost: { command: [missing, '--stdio'] }, mem: memServer(memFile) } });
      const s = await open(front, cfg, { capabilities: {} });
      t.after(() => s.close());
      assert.equal(s.initResult().serverInfo.name, 'glasstape');
      assert.equal(s.initResult().serverInfo.title, 'GlassTape: mem');
      const why = `cannot start \`${missing}\`: No such file or directory`;
      assert.ok(s.log().includes(front === 'stdio'
        ? `server \`ghost\` cannot be started: ${why}; serving the others without it`
        : `: cannot start server \`ghost\`: ${why}; serving the others`), s.log());
      assert.deepEqual((await s.client.listTools()).tools, ALONE.mem.tools);
      const entity = { name: 'still', entityType: 'served', observations: [] };
      const created = await s.client.callTool({ name: 'create_entities', arguments: { entities: [entity] } });
      assert.equal(created.isError ?? false, false, textOf(created));
      const graph = await s.client.callTool({ name: 'read_graph', arguments: {} });
      assert.deepEqual(JSON.parse(textOf(graph)), { entities: [entity], relations: [] });
    });

    test('progress notifications and a server-to-client request cross the aggregate', T, async (t) => {
      const memFile = path.join(tmpDir('gt-e2e-agg-mem-'), 'memory.jsonl');
      const samples = [];
      const cfg = makeConfig({ servers: { mem: memServer(memFile), ev: evServer() } });
      const s = await open(front, cfg, {
        sampling: async (req) => {
          samples.push(req);
          return { model: 'e2e-model', role: 'assistant', content: { type: 'text', text: 'pong from the client' } };
        },
      });
      t.after(() => s.close());
      // onprogress makes the SDK send a progressToken. What arrived is read from the wire: the
      // SDK (1.32) runs notification handlers a microtask late but settles a response at once,
      // so a last progress read in the same chunk as the answer never reaches onprogress.
      const r = await s.client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } },
        undefined,
        { onprogress: () => {} },
      );
      assert.deepEqual(r.content,
        [{ type: 'text', text: 'Long running operation completed. Duration: 0.6 seconds, Steps: 3.' }]);
      const answer = s.messages.findIndex((m) => m.id !== undefined && textOf(m.result || {}).startsWith('Long running'));
      assert.ok(answer >= 0, 'the answer was seen on the wire');
      const token = s.messages[answer].id;
      const progress = s.messages.map((m, i) => ({ m, i })).filter(({ m }) => m.method === 'notifications/progress');
      assert.deepEqual(progress.map(({ m }) => m.params), [1, 2, 3].map((n) => ({ progress: n, total: 3, progressToken: token })));
      assert.ok(progress.every(({ i }) => i < answer), 'every progress notification comes before the answer');

      const sampled = await s.client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'ping?', maxTokens: 7 } });
      assert.equal(samples.length, 1);
      assert.deepEqual(samples[0].params, {
        messages: [{ role: 'user', content: { type: 'text', text: 'Resource trigger-sampling-request context: ping?' } }],
        systemPrompt: 'You are a helpful test server.',
        temperature: 0.7,
        maxTokens: 7,
      });
      assert.equal(textOf(sampled), `LLM sampling result: \n${JSON.stringify({
        model: 'e2e-model', role: 'assistant', content: { type: 'text', text: 'pong from the client' },
      }, null, 2)}`);
      const req = s.messages.find((m) => m.method === 'sampling/createMessage');
      assert.equal(typeof req.id, 'string', `the request id is made unique across servers: ${JSON.stringify(req.id)}`);
    });
  });
}

// ------------------------------------------------------------------------ one server alone

describe('each server alone', { skip, timeout: 60_000 }, () => {
  test('stdio: run --config --server X serves X alone, not aggregated', T, async (t) => {
    const memFile = path.join(tmpDir('gt-e2e-agg-mem-'), 'memory.jsonl');
    const cfg = makeConfig({ servers: { mem: memServer(memFile), ev: evServer() } });
    const s = await openStdio(cfg, { capabilities: {}, extra: ['--server', 'mem'] });
    t.after(() => s.close());
    assert.deepEqual(s.client.getServerVersion(), ALONE.mem.serverInfo);
    assert.deepEqual((await s.client.listTools()).tools, ALONE.mem.tools);
    // Alone, a tool the server never listed is the Session's to deny (the aggregate would
    // answer -32602).
    const r = await s.client.callTool({ name: 'echo', arguments: { message: 'x' } });
    assert.ok(textOf(r).startsWith('GlassTape denied this call to `mem/echo`'), textOf(r));
    assert.equal(assertDenied(assert, r, 'echo').code, 'GT-SCHEMA-UNKNOWN-TOOL');
  });

  test('http: /mcp/<name> serves one server while /mcp serves them all', T, async (t) => {
    const files = fs.realpathSync(tmpDir('gt-e2e-agg-files-'));
    fs.writeFileSync(path.join(files, 'hello.txt'), 'alone\n');
    const memFile = path.join(tmpDir('gt-e2e-agg-mem-'), 'memory.jsonl');
    const cfg = makeConfig({ servers: { fs: fsServer(files), mem: memServer(memFile), ev: evServer() } });
    const serve = await startServe(cfg);
    t.after(() => serve.stop());
    for (const p of ['/mcp', '/mcp/fs', '/mcp/mem', '/mcp/ev']) {
      assert.match(serve.log(), new RegExp(`serving MCP at http://127\\.0\\.0\\.1:${serve.port}${p} for `), p);
    }
    const agg = await openHttp(serve, '/mcp', { capabilities: {} });
    const mem = await openHttp(serve, '/mcp/mem', { capabilities: {} });
    const fsOnly = await openHttp(serve, '/mcp/fs', { capabilities: {} });
    t.after(async () => {
      await agg.close();
      await mem.close();
      await fsOnly.close();
    });
    assert.equal(agg.client.getServerVersion().title, 'GlassTape: fs, mem, ev');
    assert.deepEqual(mem.client.getServerVersion(), ALONE.mem.serverInfo);
    assert.deepEqual(fsOnly.client.getServerVersion(), ALONE.fs.serverInfo);
    assert.deepEqual((await mem.client.listTools()).tools, ALONE.mem.tools);
    assert.deepEqual((await fsOnly.client.listTools()).tools, ALONE.fs.tools);
    assert.deepEqual(await agg.toolNames(),
      names([...ALONE.fs.tools, ...ALONE.mem.tools, ...ALONE.ev.tools.filter((x) => x.name !== 'trigger-sampling-request')]));

    const read = await fsOnly.client.callTool({ name: 'read_text_file', arguments: { path: path.join(files, 'hello.txt') } });
    assert.equal(textOf(read), 'alone\n');
    const echo = await agg.client.callTool({ name: 'echo', arguments: { message: 'all' } });
    assert.equal(textOf(echo), 'Echo: all');
    const notHere = await mem.client.callTool({ name: 'echo', arguments: { message: 'x' } });
    assert.ok(textOf(notHere).startsWith('GlassTape denied this call to `mem/echo`'), textOf(notHere));
    assert.equal(assertDenied(assert, notHere, 'echo').code, 'GT-SCHEMA-UNKNOWN-TOOL');

    // A session id belongs to the path it was made on.
    const sid = mem.transport.sessionId;
    const cross = await post(serve.port, '/mcp', { jsonrpc: '2.0', id: 9, method: 'tools/list' },
      { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' });
    assert.equal(cross.status, 404, `${cross.status} ${cross.text}`);
    // An unknown server name is not an endpoint.
    const none = await post(serve.port, '/mcp/nope', INIT);
    assert.equal(none.status, 404, `${none.status} ${none.text}`);
  });

  test('http: a server whose command is missing fails alone at /mcp/<name>, the aggregate serves the rest', T, async (t) => {
    const memFile = path.join(tmpDir('gt-e2e-agg-mem-'), 'memory.jsonl');
    const missing = path.join(tmpDir('gt-e2e-agg-none-'), 'no-such-server');
    const cfg = makeConfig({ servers: { ghost: { command: [missing] }, mem: memServer(memFile) } });
    const serve = await startServe(cfg);
    t.after(() => serve.stop());
    const r = await post(serve.port, '/mcp/ghost', INIT);
    assert.equal(r.status, 502, `${r.status} ${r.text}`);
    const agg = await openHttp(serve, '/mcp', { capabilities: {} });
    t.after(() => agg.close());
    assert.deepEqual((await agg.client.listTools()).tools, ALONE.mem.tools);
  });
});
