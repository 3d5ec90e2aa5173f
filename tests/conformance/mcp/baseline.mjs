// Judges one summarized run (summarize.mjs's output, on stdin) against an expected-failures
// file, the way conformance's own --expected-failures baseline does, and prints the result.
//   node summarize.mjs ... | node baseline.mjs EXPECTED_FAILURES_YAML
// EXPECTED_FAILURES_YAML is conformance's format: a `server:` list of scenario names, each
// entry with its one-line reason as a trailing comment (`- name   # reason`).
// A listed scenario that fails is reported `xfail` (with its reason); a listed scenario that
// passes, or that did not run at all, fails as a stale entry (remove it); an entry without its
// reason fails too. Any other line is passed through. The last line,
// `counts <passed> <failed> <xfail>`, is machine-read by run.sh.
import fs from 'node:fs';
import path from 'node:path';

const [expectedFile] = process.argv.slice(2);
const name = path.basename(expectedFile);
const reasons = new Map();
const unexplained = []; // entries without their reason: each fails the run
let inServer = false;
for (const raw of fs.readFileSync(expectedFile, 'utf8').split('\n')) {
  if (/^server:\s*(\[\])?\s*(#.*)?$/.test(raw)) {
    inServer = true;
    continue;
  }
  if (/^\S/.test(raw) && !raw.startsWith('#')) inServer = false;
  const m = /^\s+-\s+([^\s#]+)\s*(?:#\s*(.*))?$/.exec(raw);
  if (inServer && m) {
    if (!m[2]) unexplained.push(m[1]);
    reasons.set(m[1], (m[2] ?? '').trim());
  }
}

const input = fs.readFileSync(0, 'utf8').split('\n').filter((l) => l.length > 0);
let passed = 0;
let failed = 0;
let xfail = 0;
const seen = new Set();
const out = [];
for (const line of input) {
  const counts = /^counts (\d+) (\d+)$/.exec(line);
  if (counts) {
    passed += Number(counts[1]);
    failed += Number(counts[2]);
    continue;
  }
  // summarize.mjs: `  <verdict> <label> <scenario> <detail>`, padded.
  const m = /^ {2}(pass|FAIL)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
  if (!m || !reasons.has(m[3])) {
    out.push(line);
    continue;
  }
  const [, verdict, label, scenario, detail] = m;
  seen.add(scenario);
  if (verdict === 'FAIL') {
    failed -= 1;
    xfail += 1;
    out.push(`  ${'xfail'.padEnd(9)} ${label.padEnd(22)} ${scenario.padEnd(32)} ${detail}` +
      ` [expected: ${reasons.get(scenario)}]`);
  } else {
    passed -= 1;
    failed += 1;
    out.push(`  ${'FAIL'.padEnd(9)} ${label.padEnd(22)} ${scenario.padEnd(32)} passes, but is` +
      ` listed in ${name}: stale entry, remove it (${detail})`);
  }
}
const label = /^ {2}\S+\s+(\S+)/.exec(input.find((l) => /^ {2}\S/.test(l)) ?? '')?.[1] ?? '';
for (const scenario of reasons.keys()) {
  if (seen.has(scenario)) continue;
  failed += 1;
  out.push(`  ${'FAIL'.padEnd(9)} ${label.padEnd(22)} ${scenario.padEnd(32)} did not run, but is` +
    ` listed in ${name}: stale entry, remove it`);
}
for (const scenario of unexplained) {
  failed += 1;
  out.push(`  ${'FAIL'.padEnd(9)} ${label.padEnd(22)} ${scenario.padEnd(32)} is listed in ${name}` +
    ` without its reason (\`- ${scenario}   # why\`)`);
}
for (const l of out) console.log(l);
console.log(`counts ${passed} ${failed} ${xfail}`);
