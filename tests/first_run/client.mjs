// The MCP half of tests/first_run/run.sh: what a newcomer's client does against `make run`.
// With the official SDK client over Streamable HTTP: initialize, tools/list, one call the
// example policies allow (get_sum), one they deny (delete_file: filesystem.read_only). The
// policy denies delete_file whatever its arguments, so tools/list hides it from this client, and
// calling it anyway is still judged and denied with a receipt: hiding is never the only control.
// Prints one JSON line (the denial's receipt id and reason) and exits 0, or says what failed
// and exits 1.
//   node client.mjs URL
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = process.argv[2];
const fail = (what) => {
  console.error(`first_run: ${what}`);
  process.exit(1);
};
const text = (result) => (result.content ?? []).map((c) => c.text ?? '').join('');

const client = new Client({ name: 'glasstape-first-run', version: '1.0.0' });
try {
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
} catch (e) {
  fail(`initialize against ${url} failed: ${e.message}`);
}
const server = client.getServerVersion();
if (server?.name !== 'glasstape-example-server') fail(`initialize: unexpected server ${JSON.stringify(server)}`);

const { tools } = await client.listTools();
const names = tools.map((t) => t.name);
if (!names.includes('get_sum')) fail(`tools/list lacks get_sum: ${names.join(', ')}`);
if (names.includes('delete_file')) {
  fail(`tools/list shows delete_file, which filesystem.read_only always denies: ${names.join(', ')}`);
}

const allowed = await client.callTool({ name: 'get_sum', arguments: { a: 2, b: 3 } });
const allowedDecision = allowed._meta?.['dev.glasstape/decision'];
if (allowed.isError || Number(text(allowed)) !== 5) {
  fail(`get_sum(2, 3) was not answered 5: ${JSON.stringify(allowed)}`);
}

// Valid arguments, so that the policy (not the schema) decides; the tool is hidden, not gone.
const denied = await client.callTool({ name: 'delete_file', arguments: { path: '/data/notes.txt' } });
const d = denied._meta?.['dev.glasstape/decision'];
if (!denied.isError || d?.decision !== 'deny' || d.decided_by !== 'policy' || !d.receipt_id) {
  fail(`delete_file was not denied by a policy with a receipt: ${JSON.stringify(denied)}`);
}
if (!text(denied).includes('GlassTape denied this call')) fail(`denial text: ${text(denied)}`);

await client.close();
console.log(
  JSON.stringify({
    tools: names.length,
    allowed: allowedDecision?.decision ?? 'allow',
    denied: { code: d.code, policy_id: d.policy_id, rule_id: d.rule_id, reason: d.reason, receipt_id: d.receipt_id },
  }),
);
