// Checks the audit log of a glasstape target of run.sh (glasstape, glasstape-http,
// glasstape-bridge).
//   node audit_check.mjs VERIFY_JSON MIN_DECISIONS DENIED_JSONL POLICY_YAML
// VERIFY_JSON is `glasstape verify --json`'s report; DENIED_JSONL is
// `glasstape tail --json -n 0 --denied` (one denied decision per line); POLICY_YAML is the
// allow policy whose `tools:` list names the fixture's tools.
// Governance was on and allowed every fixture tool, so: the log verifies; it holds at least
// MIN_DECISIONS decisions (one per scenario that calls a fixture tool); every allowed call has
// its result record (JSON-RPC errors included); and no fixture tool was denied (a denial
// would slip past the suite itself: a denied call is an isError result, which e.g.
// tools-call-error accepts). Denials of tools the fixture does not have are expected: the
// tasks-* scenarios call slow_compute, greet, ..., denied GT-SCHEMA-UNKNOWN-TOOL (through the
// bridge, the 2025-11-25 fixture also lacks the 2026-only tools the other scenarios call).
// Prints one line; exits 1 when a check fails.
import fs from 'node:fs';

const [report, want, deniedFile, policyFile] = process.argv.slice(2);
const r = JSON.parse(report);
const fixtureTools = new Set();
let inTools = false;
for (const line of fs.readFileSync(policyFile, 'utf8').split('\n')) {
  if (/^tools:/.test(line)) {
    inTools = true;
    continue;
  }
  const m = /^\s+-\s+(\S+)\s*$/.exec(line);
  if (inTools && m) fixtureTools.add(m[1]);
  else if (inTools && /^\S/.test(line)) inTools = false;
}
const denials = fs.readFileSync(deniedFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const bad = denials.filter((d) => fixtureTools.has(d.tool));
const allowed = r.decisions - r.denials;
const ok = r.ok && r.decisions >= Number(want) && r.results === allowed && bad.length === 0 &&
  denials.length === r.denials;
const badList = bad.map((d) => `${d.tool} ${d.code}`).join(', ');
console.log(`${r.decisions} decisions (at least ${want} expected), ${r.denials} denials` +
  ` (${bad.length} of fixture tools${bad.length ? `: ${badList}` : ''}),` +
  ` ${r.results} results for ${allowed} allowed calls, ${r.records} records`);
process.exit(ok ? 0 : 1);
