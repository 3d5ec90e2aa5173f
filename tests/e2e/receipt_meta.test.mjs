// `_meta["dev.glasstape/receipt"]` (issue 19) through both fronts, with the real SDK client:
// `glasstape run` (stdio) and `glasstape serve` (Streamable HTTP). Every allowed and denied
// tools/call answer carries {receipt_id, seq, leaf_hash, log_id?}; the test then reads the
// audit log file the way someone holding only the answer would: the line whose payload has
// that `seq` must be the record of exactly this call (payload `id` == receipt_id, the right
// tool and decision) and SHA-256(0x00 || the line's bytes) must be `leaf_hash`. A server
// result that already has `_meta` keeps its members; `receipt_meta: false` removes the
// receipt (the denial keeps `dev.glasstape/decision.receipt_id`).
//
//   GLASSTAPE_BIN      the binary (default <repo>/build/proxy/glasstape)
//   GT_EXAMPLE_SERVER  the example server (default <repo>/build/tests/glasstape-example-server)
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import {
  DECISION_META_KEY,
  E2E_DIR,
  NODE,
  REPO_ROOT,
  assertDenied,
  connect,
  modes,
  recordPayload,
  startGlasstapeServe,
  textOf,
  tmpDir,
  withTimeout,
} from './lib/harness.mjs';

const RECEIPT_KEY = 'dev.glasstape/receipt';
const EXAMPLE =
  process.env.GT_EXAMPLE_SERVER || path.join(REPO_ROOT, 'build', 'tests', 'glasstape-example-server');
const SPY = path.join(E2E_DIR, 'fixtures', 'spy_server.mjs');
const T = { timeout: 60_000 };

// The audit log's lines, as bytes, in chain order (rotated files first).
function readLines(dir) {
  const files = fs.readdirSync(dir).filter((f) => /^audit(-\d{12})?\.jsonl$/.test(f)).sort();
  const lines = [];
  for (const f of files) {
    const text = fs.readFileSync(path.join(dir, f));
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      if (text[i] === 0x0a) {
        lines.push(text.subarray(start, i));
        start = i + 1;
      }
    }
  }
  return lines;
}

const payloadOf = (line) => recordPayload(line);

// The receipt points at exactly the record of this call: found by seq alone, then checked.
function assertReceipt(receipt, auditDir, want) {
  assert.ok(receipt && typeof receipt === 'object', `no _meta["${RECEIPT_KEY}"]`);
  assert.deepEqual(
    Object.keys(receipt).sort(),
    ['leaf_hash', 'receipt_id', 'seq', ...(receipt.log_id !== undefined ? ['log_id'] : [])].sort(),
    JSON.stringify(receipt));
  assert.equal(typeof receipt.receipt_id, 'string');
  assert.ok(Number.isInteger(receipt.seq) && receipt.seq >= 0, JSON.stringify(receipt));
  if (receipt.log_id !== undefined) assert.ok(typeof receipt.log_id === 'string' && receipt.log_id.length > 0);
  const matches = readLines(auditDir).filter((l) => payloadOf(l).seq === receipt.seq);
  assert.equal(matches.length, 1, `exactly one line has seq ${receipt.seq}`);
  const line = matches[0];
  const p = payloadOf(line);
  assert.equal(p.id, receipt.receipt_id, 'the record at seq has the receipt id');
  assert.equal(p.kind, 'decision');
  assert.equal(p.tool, want.tool);
  assert.equal(p.decision, want.decision);
  const leaf = crypto.createHash('sha256').update(Buffer.concat([Buffer.from([0]), line])).digest('base64');
  assert.equal(receipt.leaf_hash, leaf, 'leaf_hash is SHA-256(0x00 || the record line)');
  return p;
}

function config(dir, server, { receiptMeta, http } = {}) {
  const audit = { dir: path.join(dir, 'audit'), keys_dir: path.join(dir, 'keys'), fsync: 'group' };
  if (receiptMeta !== undefined) audit.receipt_meta = receiptMeta;
  const c = {
    identity: { agent_id: 'receipt-e2e' },
    governance: { deny_tools: ['delete_*'], audit },
  };
  if (http) {
    c.servers = { example: { command: server, restart: { max: 0 } } };
    c.http = { listen: '127.0.0.1:0', path: '/mcp' };
  }
  const file = path.join(dir, 'glasstape.yaml');
  fs.writeFileSync(file, JSON.stringify(c, null, 2));
  return { file, auditDir: audit.dir };
}

// One client session through `front` ('stdio' or 'http') to `server` (argv).
async function open(front, server, opts = {}) {
  const dir = tmpDir('gt-e2e-receipt-');
  const cfg = config(dir, server, { ...opts, http: front === 'http' });
  if (front === 'stdio') {
    const s = await connect('proxy', server, { config: cfg.file, capabilities: {} });
    return { client: s.client, auditDir: cfg.auditDir, close: () => s.close() };
  }
  const gt = await startGlasstapeServe(['--config', cfg.file]);
  const transport = new StreamableHTTPClientTransport(new URL(gt.url));
  const client = new Client({ name: 'glasstape-receipt-e2e', version: '1.0.0' }, { capabilities: {} });
  try {
    await withTimeout(client.connect(transport), 20_000, 'initialize over HTTP');
  } catch (e) {
    await gt.stop().catch(() => {});
    throw e;
  }
  return {
    client,
    auditDir: cfg.auditDir,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
      await gt.stop();
    },
  };
}

const skip = modes().includes('proxy') ? false : 'GT_E2E_MODE=direct: nothing to run without glasstape';

for (const front of ['stdio', 'http']) {
  describe(`dev.glasstape/receipt (${front === 'stdio' ? 'glasstape run' : 'glasstape serve'})`, { skip }, () => {
    test('allowed and denied calls carry a receipt that points at exactly their record', T, async (t) => {
      fs.accessSync(EXAMPLE, fs.constants.X_OK);
      const s = await open(front, [EXAMPLE]);
      t.after(() => s.close());
      await s.client.listTools();
      const ok = await s.client.callTool({ name: 'echo', arguments: { message: 'first' } });
      assert.equal(ok.isError ?? false, false, textOf(ok));
      assert.equal(textOf(ok), 'first');
      const r1 = ok._meta?.[RECEIPT_KEY];
      const p1 = assertReceipt(r1, s.auditDir, { tool: 'echo', decision: 'allow' });
      assert.equal(p1.args_sha256, crypto.createHash('sha256').update('{"message":"first"}').digest('hex'));
      assert.deepEqual(Object.keys(ok._meta), [RECEIPT_KEY], 'the example server sends no _meta of its own');
      // A second call: another record, another receipt (never the first one again).
      const ok2 = await s.client.callTool({ name: 'echo', arguments: { message: 'second' } });
      const r2 = ok2._meta?.[RECEIPT_KEY];
      assertReceipt(r2, s.auditDir, { tool: 'echo', decision: 'allow' });
      assert.notEqual(r2.receipt_id, r1.receipt_id);
      assert.ok(r2.seq > r1.seq, `seq grows: ${r1.seq} then ${r2.seq}`);
      // A denial: the receipt next to the decision, the same id as its receipt_id.
      const denied = await s.client.callTool({ name: 'delete_file', arguments: { path: '/x' } });
      const d = assertDenied(assert, denied, 'delete_file');
      const rd = denied._meta?.[RECEIPT_KEY];
      assertReceipt(rd, s.auditDir, { tool: 'delete_file', decision: 'deny' });
      assert.equal(rd.receipt_id, d.receipt_id, 'dev.glasstape/decision.receipt_id is kept, and the same');
      // Every receipt names the same log.
      assert.equal(r1.log_id, rd.log_id);
    });

    test('a result that has _meta keeps its members next to the receipt', T, async (t) => {
      const record = tmpDir('gt-e2e-receipt-spy-');
      const s = await open(front, [NODE, SPY, '--record-dir', record]);
      t.after(() => s.close());
      await s.client.listTools();
      const r = await s.client.callTool({ name: 'echo', arguments: { nonce: 'keep-meta' } });
      assert.equal(textOf(r), '{"nonce":"keep-meta"}');
      assert.equal(typeof r._meta?.['spy/id'], 'string', `the server's _meta member: ${JSON.stringify(r._meta)}`);
      assertReceipt(r._meta?.[RECEIPT_KEY], s.auditDir, { tool: 'echo', decision: 'allow' });
      assert.deepEqual(Object.keys(r._meta).sort(), [RECEIPT_KEY, 'spy/id'].sort());
    });

    test('receipt_meta: false leaves answers without a receipt', T, async (t) => {
      const s = await open(front, [EXAMPLE], { receiptMeta: false });
      t.after(() => s.close());
      await s.client.listTools();
      const ok = await s.client.callTool({ name: 'echo', arguments: { message: 'plain' } });
      assert.equal(textOf(ok), 'plain');
      assert.equal(ok._meta?.[RECEIPT_KEY], undefined, JSON.stringify(ok));
      const denied = await s.client.callTool({ name: 'delete_file', arguments: {} });
      const d = assertDenied(assert, denied, 'delete_file');
      assert.equal(denied._meta?.[RECEIPT_KEY], undefined, JSON.stringify(denied._meta));
      assert.ok(d.receipt_id, 'the decision still names its receipt');
      // The call was recorded all the same.
      const recorded = readLines(s.auditDir).map(payloadOf).filter((p) => p.kind === 'decision');
      assert.ok(recorded.some((p) => p.id === d.receipt_id && p.decision === 'deny'));
      assert.ok(recorded.some((p) => p.tool === 'echo' && p.decision === 'allow'));
    });
  });
}

// DECISION_META_KEY is what assertDenied reads; named here so a rename breaks this file too.
assert.equal(DECISION_META_KEY, 'dev.glasstape/decision');
