// MCP 2026-07-28 through `glasstape run` (issue 16, item 5, first part): an SDK v2 client pinned
// to 2026-07-28 in front of an SDK v2 server that refuses the legacy handshake. Every call is
// judged (schema, deny_tools, policies) exactly as for a 2025-11-25 client: the proxy's own
// tools/list carries the client's per-request envelope, GlassTape's denials carry the
// resultType 2026-07-28 requires, the receipts record the version, and a request naming an
// unsupported version gets -32022 with its id.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

import { E2E_DIR, NODE, glasstapeBin, modes, requireBinary, tmpDir, writeConfig, withTimeout, textOf,
  DECISION_META_KEY, recordPayload } from './lib/harness.mjs';
import { RawPeer } from './lib/raw.mjs';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as StdioV1 } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema as ElicitRequestSchemaV1 } from '@modelcontextprotocol/sdk/types.js';

const T = { timeout: 60_000 };
const FIXTURE = path.join(E2E_DIR, 'fixtures', 'modern_server.mjs');
const LEGACY_FIXTURE = path.join(E2E_DIR, 'fixtures', 'conformance_server.mjs');  // SDK v1, 2025-11-25 only

// The stock transport probes server/discover on a second copy of the process; this subclass
// probes in place, so one glasstape runs.
class InPlaceStdio extends StdioClientTransport {}

const SUM_POLICY = `policy_id: modern.sum
version: "1"
tools: [get_sum, echo, confirm, test_elicitation, test_sampling, test_simple_text]
rules:
  deny:
    - id: small-sums-only
      condition: "has(args.a) && args.a > 100"
      reason: sums stay small
  allow:
    - id: rest
      condition: ""
`;

function setup(command = [NODE, FIXTURE, '--modern-only']) {
  const root = tmpDir('gt-e2e-modern-');
  const s = { root, auditDir: path.join(root, 'audit'), keysDir: path.join(root, 'keys') };
  const policies = path.join(root, 'policies');
  fs.mkdirSync(policies);
  fs.writeFileSync(path.join(policies, 'sum.yaml'), SUM_POLICY);
  s.config = writeConfig({
    identity: { agent_id: 'modern-agent' },
    servers: { m: { command } },
    governance: {
      audit: { dir: s.auditDir, keys_dir: s.keysDir, fsync: 'always' },
      policies: { dir: policies, state_dir: path.join(root, 'state') },
      deny_tools: ['delete_file'],
    },
  });
  return s;
}

function records(dir) {
  const out = [];
  for (const f of fs.readdirSync(dir).filter((n) => /^audit(-\d{12})?\.jsonl$/.test(n))) {
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (line.trim()) out.push(recordPayload(line));
    }
  }
  return out;
}

async function modernClient(config) {
  const client = new Client({ name: 'gt-modern-e2e', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  const transport = new InPlaceStdio({ command: glasstapeBin(), args: ['run', '--config', config], stderr: 'pipe' });
  await withTimeout(client.connect(transport), 20_000, 'connect (server/discover)');
  return client;
}

if (modes().includes('proxy')) {
  describe('MCP 2026-07-28 clients through glasstape run', () => {
    test('a pinned SDK v2 client calls a modern-only server; every call is judged', T, async (t) => {
      requireBinary();
      const s = setup();
      const client = await modernClient(s.config);
      t.after(() => client.close());
      assert.equal(client.getProtocolEra(), 'modern');
      // A call before any tools/list: the proxy lists the tools itself, with the client's
      // envelope (a modern-only server refuses a list without it, and then nothing could be
      // schema-checked).
      const bad = await client.callTool({ name: 'get_sum', arguments: { a: 1, b: 'two' } });
      assert.equal(bad.isError, true, JSON.stringify(bad));
      assert.equal(bad._meta?.[DECISION_META_KEY]?.code, 'GT-SCHEMA-INVALID', JSON.stringify(bad));

      const ok = await client.callTool({ name: 'get_sum', arguments: { a: 2, b: 3 } });
      assert.equal(textOf(ok), '5', JSON.stringify(ok));
      const big = await client.callTool({ name: 'get_sum', arguments: { a: 200, b: 3 } });
      assert.equal(big.isError, true);
      assert.equal(big._meta?.[DECISION_META_KEY]?.rule_id, 'small-sums-only', JSON.stringify(big));
      const del = await client.callTool({ name: 'delete_file', arguments: { path: '/etc/hosts' } });
      assert.equal(del.isError, true);
      assert.equal(del._meta?.[DECISION_META_KEY]?.code, 'GT-DENY-TOOL', JSON.stringify(del));
      const { tools } = await client.listTools();
      // deny_tools hides delete_file (the call above was still judged and denied), and no
      // policy governs route (there is no default policy), so it is hidden too.
      assert.deepEqual(tools.map((x) => x.name).sort(), ['confirm', 'echo', 'get_sum']);
      await client.close();

      const decs = records(s.auditDir).filter((p) => p.kind === 'decision');
      assert.deepEqual(decs.map((d) => [d.tool, d.decision]),
        [['get_sum', 'deny'], ['get_sum', 'allow'], ['get_sum', 'deny'], ['delete_file', 'deny']]);
      for (const d of decs) assert.equal(d.protocol_version, '2026-07-28', JSON.stringify(d));
    });

    test('bridge: a 2025-11-25 client (SDK v1) in front of a server that speaks only 2026-07-28', T, async (t) => {
      requireBinary();
      const s = setup();
      // It declares elicitation: GlassTape carries its capabilities in every request's envelope.
      const client = new ClientV1({ name: 'gt-legacy-e2e', version: '1.0.0' }, { capabilities: { elicitation: {} } });
      await withTimeout(client.connect(new StdioV1({ command: glasstapeBin(), args: ['run', '--config', s.config], stderr: 'pipe' })),
        20_000, 'connect (initialize, answered from server/discover)');
      t.after(() => client.close());
      assert.equal(client.getServerVersion()?.name, 'glasstape-modern-fixture');
      await client.ping();
      await client.setLoggingLevel('info').catch(() => {});  // answered by GlassTape (no logging capability upstream)
      const { tools } = await client.listTools();
      assert.ok(tools.some((x) => x.name === 'get_sum'));
      const ok = await client.callTool({ name: 'get_sum', arguments: { a: 2, b: 3 } });
      assert.equal(textOf(ok), '5', JSON.stringify(ok));
      const big = await client.callTool({ name: 'get_sum', arguments: { a: 200, b: 3 } });
      assert.equal(big._meta?.[DECISION_META_KEY]?.rule_id, 'small-sums-only', JSON.stringify(big));
      // The server asks for input (input_required): GlassTape asks the client with an
      // elicitation/create request on its session, then retries the call with the answer.
      const asked = [];
      let answer = { action: 'accept', content: { ok: true } };
      client.setRequestHandler(ElicitRequestSchemaV1, async (req) => {
        asked.push(req.params.message);
        if (answer === 'fail') throw new Error('the user closed the dialog');
        return answer;
      });
      const confirmed = await client.callTool({ name: 'confirm', arguments: { action: 'deploy' } });
      assert.equal(textOf(confirmed), 'confirmed deploy', JSON.stringify(confirmed));
      assert.deepEqual(asked, ['Really deploy?']);
      // A client that says no is asked again (the server's choice) until the round limit: a
      // clear error, never an endless loop.
      answer = { action: 'decline' };
      await assert.rejects(client.callTool({ name: 'confirm', arguments: { action: 'nuke' } }),
        /after 8 rounds/);
      assert.equal(asked.length, 1 + 8);
      // A client whose handler fails: the call ends with an error naming the question.
      answer = 'fail';
      await assert.rejects(client.callTool({ name: 'confirm', arguments: { action: 'x' } }),
        /elicitation\/create.*closed the dialog/);
      // The session still works.
      const after = await client.callTool({ name: 'get_sum', arguments: { a: 1, b: 1 } });
      assert.equal(textOf(after), '2');
      await client.close();
      const decs = records(s.auditDir).filter((p) => p.kind === 'decision');
      // Every round is judged: deploy twice (the retry names the first), nuke nine times (the
      // first and eight retries), x once, then get_sum.
      assert.deepEqual(decs.map((d) => [d.tool, d.decision]), [
        ['get_sum', 'allow'], ['get_sum', 'deny'],
        ['confirm', 'allow'], ['confirm', 'allow'],
        ...Array(9).fill(['confirm', 'allow']),
        ['confirm', 'allow'], ['get_sum', 'allow']]);
      for (const d of decs) assert.equal(d.protocol_version, '2025-11-25', 'the version the client negotiated');
      assert.equal(decs[2].retry_of, undefined);
      assert.equal(decs[3].retry_of, decs[2].id, 'the retry names the first decision');
      for (let i = 5; i < 13; i++) assert.equal(decs[i].retry_of, decs[4].id, `round ${i - 3} of nuke`);
      const results = records(s.auditDir).filter((p) => p.kind === 'result');
      assert.equal(results.length, decs.filter((d) => d.decision === 'allow').length, 'a result for every allowed call');
    });

    test('raw bridge: a 2025-11-25 client that declared no elicitation is never asked: its capabilities reach the server, which refuses (-32021)', T, async (t) => {
      requireBinary();
      const s = setup();
      const peer = new RawPeer(glasstapeBin(), ['run', '--config', s.config]);
      t.after(() => peer.close());
      // capabilities: roots only (RawPeer.initialize), so elicitation/create must not be sent.
      const init = await peer.initialize();
      assert.equal(init.result?.serverInfo?.name, 'glasstape-modern-fixture', JSON.stringify(init));
      // The SDK server checks the envelope GlassTape made from the client's initialize itself.
      const c = await peer.request('c', 'tools/call', { name: 'confirm', arguments: { action: 'deploy' } }, 20_000);
      assert.equal(c.error?.code, -32021, JSON.stringify(c));
      assert.deepEqual(Object.keys(c.error.data?.requiredCapabilities ?? {}), ['elicitation'], JSON.stringify(c));
      // (A server that does not check is stopped by GlassTape: era_bridge_test.cpp, since the SDK
      // server checks even a result it did not make with inputRequired().)
      assert.ok(!peer.messages().some((m) => m?.method === 'elicitation/create'), 'the client was not asked');
      // The call was judged and recorded; the session goes on.
      const after = await peer.request('e', 'tools/call', { name: 'echo', arguments: { message: 'on' } }, 20_000);
      assert.equal(after.result?.content?.[0]?.text, 'on', JSON.stringify(after));
      const decs = records(s.auditDir).filter((p) => p.kind === 'decision');
      assert.deepEqual(decs.map((d) => [d.tool, d.decision]), [['confirm', 'allow'], ['echo', 'allow']]);
    });

    test('bridge: a pinned SDK v2 client in front of a 2025-11-25-only server (SDK v1); its questions become input_required', T, async (t) => {
      requireBinary();
      const s = setup([NODE, LEGACY_FIXTURE]);
      const client = new Client({ name: 'gt-modern-legacy-e2e', version: '1.0.0' }, {
        versionNegotiation: { mode: { pin: '2026-07-28' } },
        capabilities: { elicitation: { form: {} }, sampling: {} },
      });
      const asked = [];
      client.setRequestHandler('elicitation/create', async (req) => {
        asked.push(req.params.message);
        return { action: 'accept', content: { username: 'ada', email: 'ada@example.com' } };
      });
      client.setRequestHandler('sampling/createMessage', async () => ({
        role: 'assistant', content: { type: 'text', text: 'Paris' }, model: 'test-model',
      }));
      await withTimeout(client.connect(new InPlaceStdio({ command: glasstapeBin(), args: ['run', '--config', s.config], stderr: 'pipe' })),
        20_000, 'connect (server/discover, answered from the server\'s initialize)');
      t.after(() => client.close());
      assert.equal(client.getProtocolEra(), 'modern');
      const simple = await client.callTool({ name: 'test_simple_text', arguments: {} });
      assert.match(textOf(simple), /simple text/i, JSON.stringify(simple));
      const r = await client.callTool({ name: 'test_elicitation', arguments: { message: 'Who are you?' } });
      assert.match(textOf(r), /accept.*ada/, JSON.stringify(r));
      assert.deepEqual(asked, ['Who are you?']);
      const sm = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'Capital?' } });
      assert.equal(textOf(sm), 'LLM response: Paris', JSON.stringify(sm));
      const denied = await client.callTool({ name: 'test_error_handling', arguments: {} });
      assert.equal(denied.isError, true);
      assert.equal(denied._meta?.[DECISION_META_KEY]?.decision, 'deny', JSON.stringify(denied));
      await client.close();
      const decs = records(s.auditDir).filter((p) => p.kind === 'decision');
      assert.deepEqual(decs.map((d) => [d.tool, d.decision]), [
        ['test_simple_text', 'allow'], ['test_elicitation', 'allow'], ['test_elicitation', 'allow'],
        ['test_sampling', 'allow'], ['test_sampling', 'allow'], ['test_error_handling', 'deny']]);
      for (const d of decs) assert.equal(d.protocol_version, '2026-07-28', JSON.stringify(d));
      assert.equal(decs[2].retry_of, decs[1].id);
      assert.equal(decs[4].retry_of, decs[3].id);
    });

    test('raw: resultType on a denial, -32022 with the id for an unsupported version, -32602 for a bad envelope', T, async (t) => {
      requireBinary();
      const s = setup();
      const peer = new RawPeer(glasstapeBin(), ['run', '--config', s.config]);
      t.after(() => peer.close());
      const meta = (v) => ({ 'io.modelcontextprotocol/protocolVersion': v,
        'io.modelcontextprotocol/clientCapabilities': {} });
      const send = (m) => peer.proc.stdin.write(JSON.stringify(m) + '\n');
      const answer = async (id) => {
        const deadline = Date.now() + 15_000;
        for (;;) {
          const l = peer.lines.find((x) => x.msg && x.msg.id === id);
          if (l) return l.msg;
          if (Date.now() > deadline) throw new Error(`no answer for ${id}: ${peer.stderrText}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      send({ jsonrpc: '2.0', id: 'v', method: 'tools/list', params: { _meta: meta('v999.0.0') } });
      let r = await answer('v');
      assert.equal(r.error?.code, -32022, JSON.stringify(r));
      assert.deepEqual(r.error.data, { supported: ['2026-07-28'], requested: 'v999.0.0' });
      send({ jsonrpc: '2.0', id: 'e', method: 'tools/call',
        params: { name: 'echo', arguments: { message: 'x' }, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } });
      r = await answer('e');
      assert.equal(r.error?.code, -32602, JSON.stringify(r));
      send({ jsonrpc: '2.0', id: 'd', method: 'tools/call',
        params: { name: 'delete_file', arguments: { path: '/x' }, _meta: meta('2026-07-28') } });
      r = await answer('d');
      assert.equal(r.result?.resultType, 'complete', JSON.stringify(r));
      assert.equal(r.result?.isError, true);
      // Neither refused request reached the server: only the denial and the proxy's own list.
      const decs = records(s.auditDir).filter((p) => p.kind === 'decision');
      assert.deepEqual(decs.map((d) => d.tool), ['delete_file']);
      peer.proc.stdin.end();
      await withTimeout(peer.exited, 10_000, 'glasstape run to exit');
    });
  });
}
