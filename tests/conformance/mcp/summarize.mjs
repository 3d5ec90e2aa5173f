// Reads one run of `conformance server --suite S -o DIR` and prints one line per scenario.
//   node summarize.mjs LABEL DIR LOG [--informational]
// DIR holds server-<scenario>-<timestamp>/checks.json per scenario; LOG is the CLI's stdout,
// whose "=== Running scenario: X ===" lines say which scenarios were meant to run (a
// scenario that crashed before writing its checks counts as failed).
// A scenario passes when it has at least one SUCCESS check and no FAILURE or WARNING check
// (the suite's own baseline logic treats warnings as failures too). With --informational
// the lines are printed but the counts line reports them as `info`.
// The last line is machine-read by run.sh: `counts <passed> <failed>`.
import fs from 'node:fs';
import path from 'node:path';

const [label, dir, log, flag] = process.argv.slice(2);
const informational = flag === '--informational';

const expected = [];
for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
  const m = /^=== Running scenario: (\S+) ===$/.exec(line.trim());
  if (m) expected.push(m[1]);
}
const declared = /Running \S+ suite \((\d+) scenarios\)/.exec(fs.readFileSync(log, 'utf8'));

const results = new Map();
for (const entry of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
  const file = path.join(dir, entry, 'checks.json');
  if (!fs.existsSync(file)) continue;
  const name = expected.find((s) => entry.startsWith(`server-${s}-`) &&
    /^\d{4}-/.test(entry.slice(`server-${s}-`.length)));
  if (!name) continue;
  results.set(name, JSON.parse(fs.readFileSync(file, 'utf8')));
}

let passed = 0;
let failed = 0;
const problems = [];
if (declared && Number(declared[1]) !== expected.length) {
  problems.push(`the suite declared ${declared[1]} scenarios but ${expected.length} ran`);
  failed += 1;
}
if (!informational && expected.length === 0) {
  problems.push('no scenario ran');
  failed += 1;
}
for (const name of expected) {
  const checks = results.get(name);
  let verdict;
  let detail = '';
  if (!checks) {
    verdict = 'FAIL';
    detail = 'no checks.json (the scenario crashed)';
  } else {
    const n = (s) => checks.filter((c) => c.status === s).length;
    const bad = checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
    verdict = bad.length === 0 && n('SUCCESS') > 0 ? 'pass' : 'FAIL';
    detail = `${n('SUCCESS')} ok, ${n('FAILURE')} failed, ${n('WARNING')} warnings`;
    if (bad.length) {
      detail += ': ' + bad.map((c) => `${c.id}: ${c.errorMessage ?? c.description}`).join('; ');
    } else if (n('SUCCESS') === 0) {
      detail += ' (nothing was checked)';
    }
  }
  if (verdict === 'pass') passed += 1;
  else failed += 1;
  const tag = informational ? (verdict === 'pass' ? 'info-pass' : 'info-FAIL') : verdict;
  console.log(`  ${tag.padEnd(9)} ${label.padEnd(22)} ${name.padEnd(32)} ${detail}`);
}
for (const p of problems) console.log(`  FAIL      ${label.padEnd(22)} ${p}`);
console.log(`counts ${informational ? 0 : passed} ${informational ? 0 : failed}`);
