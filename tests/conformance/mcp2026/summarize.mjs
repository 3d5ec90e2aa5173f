// Reads one run of `conformance server --requirements 2026-07-28 -o DIR` and prints one line
// per scenario.
//   node summarize.mjs LABEL DIR LOG REQUIREMENTS_YAML EXPECTED_FAILURES_YAML
//     [DIRECT_VERDICTS_JSON | --stale-check]
//
// DIR holds server-<scenario>-<timestamp>/checks.json per scenario; LOG is the CLI's stdout,
// whose "=== Running scenario: X ===" lines say which scenarios were meant to run (a scenario
// that crashed before writing its checks counts as failed). REQUIREMENTS_YAML is the
// package's requirements/2026-07-28.yaml: its `server:` list is scored, its `not_scored`
// entries with `leg: server` are run and reported but never decide the CLI's exit code.
// Both kinds are judged here alike: the brief is that every scenario that passes directly
// against the fixture passes through GlassTape, scored or not.
//
// Verdicts: a scenario passes when it has at least one SUCCESS check and no FAILURE or
// WARNING check (the suite's own baseline logic counts warnings as failures); `skip` when it
// checked nothing (only SKIPPED/INFO checks); otherwise it fails. A failure is `xfail` when
// the expected-failures file (conformance's --expected-failures format: `server:` entries,
// `scenario` or `scenario:check-id`) excuses every failing check; such entries are only for
// scenarios that also fail on the baseline's own run (directly against the fixture, or for
// the bridge's baseline through the bridge). With --stale-check (a run judged on its own
// baseline: direct, glasstape-bridge), an entry whose scenario now passes is stale and fails
// the run (remove it).
//
// With DIRECT_VERDICTS_JSON (written by the direct run of the same invocation, {scenario:
// verdict}) a line says when a scenario that passed directly failed here.
// Writes this run's verdicts to DIR/verdicts.json. The last line is machine-read by run.sh:
// `counts <passed> <failed> <xfail> <skipped>`.
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const staleCheck = args.includes('--stale-check');
const [label, dir, log, requirementsFile, expectedFile, directFile] = args.filter((a) => a !== '--stale-check');
const expectedName = path.basename(expectedFile ?? 'expected-failures.yaml');

// A tiny reader for the two YAML shapes involved (top-level keys holding `- item` lists,
// or lists of `- key: value` maps); enough for the frozen requirements file and our
// expected-failures file, with no YAML package to depend on.
function readYamlLists(file) {
  const out = {};
  if (!file || !fs.existsSync(file)) return out;
  let key = null;
  let current = null;
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').replace(/^#.*$/, '');
    if (!line.trim()) continue;
    const top = /^([A-Za-z_][\w-]*):\s*(\[\])?\s*$/.exec(line);
    if (top) {
      key = top[1];
      out[key] = [];
      current = null;
      continue;
    }
    const item = /^\s*-\s+(.*)$/.exec(line);
    if (item && key) {
      const kv = /^([A-Za-z_][\w-]*):\s+(.*)$/.exec(item[1]);
      if (kv) {
        current = { [kv[1]]: kv[2].trim() };
        out[key].push(current);
      } else {
        current = null;
        out[key].push(item[1].trim().replace(/^['"]|['"]$/g, ''));
      }
      continue;
    }
    const cont = /^\s+([A-Za-z_][\w-]*):\s+(.*)$/.exec(line);
    if (cont && current) current[cont[1]] = cont[2].trim();
  }
  return out;
}

const requirements = readYamlLists(requirementsFile);
const scored = new Set((requirements.server ?? []).filter((s) => typeof s === 'string'));
const notScored = new Map(
  (requirements.not_scored ?? [])
    .filter((e) => typeof e === 'object' && e.leg === 'server')
    .map((e) => [e.scenario, e.reason ?? '']),
);

// Expected failures: whole scenarios, or single checks (`scenario:check-id`).
const expected = readYamlLists(expectedFile).server ?? [];
// The one-line reason each entry carries as its trailing comment.
const reasons = new Map();
if (expectedFile && fs.existsSync(expectedFile)) {
  for (const line of fs.readFileSync(expectedFile, 'utf8').split('\n')) {
    const m = /^\s*-\s+(\S+)\s+#\s*(.*)$/.exec(line);
    if (m) reasons.set(m[1], m[2].trim());
  }
}
const xfailWhole = new Set();
const xfailChecks = new Map();
for (const e of expected) {
  if (typeof e !== 'string') continue;
  const i = e.indexOf(':');
  if (i < 0) xfailWhole.add(e);
  else {
    const s = e.slice(0, i);
    if (!xfailChecks.has(s)) xfailChecks.set(s, new Set());
    xfailChecks.get(s).add(e.slice(i + 1));
  }
}

const logText = fs.readFileSync(log, 'utf8');
const ran = [];
for (const line of logText.split('\n')) {
  const m = /^=== Running scenario: (\S+) ===$/.exec(line.trim());
  if (m) ran.push(m[1]);
}

const results = new Map();
for (const entry of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
  const file = path.join(dir, entry, 'checks.json');
  if (!fs.existsSync(file)) continue;
  // The longest scenario name that prefixes the directory: `tasks-mrtr-input` must not
  // claim `tasks-mrtr-input-...`'s results, and a timestamp follows the name.
  const name = ran
    .filter((s) => entry.startsWith(`server-${s}-`) && /^\d{4}-/.test(entry.slice(`server-${s}-`.length)))
    .sort((a, b) => b.length - a.length)[0];
  if (!name) continue;
  results.set(name, JSON.parse(fs.readFileSync(file, 'utf8')));
}

const direct = directFile && fs.existsSync(directFile) ? JSON.parse(fs.readFileSync(directFile, 'utf8')) : null;

const counts = { pass: 0, fail: 0, xfail: 0, skip: 0 };
const verdicts = {};
const problems = [];
if (ran.length === 0) problems.push('no scenario ran');
for (const s of scored) {
  if (!ran.includes(s)) problems.push(`the required scenario ${s} did not run`);
}

for (const name of ran) {
  const checks = results.get(name);
  const kind = scored.has(name) ? 'required' : notScored.has(name) ? `not scored: ${notScored.get(name)}` : 'not in the requirements';
  let verdict;
  let detail;
  if (!checks) {
    verdict = 'FAIL';
    detail = 'no checks.json (the scenario crashed)';
  } else {
    const n = (st) => checks.filter((c) => c.status === st).length;
    const bad = checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
    detail = `${n('SUCCESS')} ok, ${n('FAILURE')} failed, ${n('WARNING')} warnings`;
    if (bad.length === 0) {
      verdict = n('SUCCESS') > 0 ? 'pass' : 'skip';
      if (verdict === 'skip') detail += ' (nothing was checked)';
    } else {
      const excused = xfailWhole.has(name) ||
        (xfailChecks.has(name) && bad.every((c) => xfailChecks.get(name).has(c.id)));
      verdict = excused ? 'xfail' : 'FAIL';
      if (excused && reasons.has(name)) {
        detail += ` (expected: ${reasons.get(name)})`;
        bad.length = 0;
      } else if (excused && bad.every((c) => reasons.has(`${name}:${c.id}`))) {
        // Single checks listed: each excused check with its own reason, once per reason.
        const why = new Map();
        for (const c of bad) {
          const r = reasons.get(`${name}:${c.id}`);
          if (!why.has(r)) why.set(r, []);
          if (!why.get(r).includes(c.id)) why.get(r).push(c.id);
        }
        detail += ` (expected: ${[...why].map(([r, ids]) => `${ids.join(', ')}: ${r}`).join('; ')})`;
        bad.length = 0;
      }
      const shown = bad.slice(0, 4).map((c) => `${c.id}: ${(c.errorMessage ?? c.description ?? '').replace(/\s+/g, ' ').slice(0, 200)}`);
      if (bad.length > 4) shown.push(`... ${bad.length - 4} more`);
      if (shown.length) detail += ': ' + shown.join('; ');
    }
  }
  if (staleCheck && verdict === 'pass' && (xfailWhole.has(name) || xfailChecks.has(name))) {
    verdict = 'FAIL';
    detail = `passes, but ${expectedName} lists it: remove the stale entry (${detail})`;
  } else if (staleCheck && checks && xfailChecks.has(name)) {
    // A listed single check that succeeded (its worst status, as the CLI judges it) is stale
    // even when others of the scenario still fail.
    const rank = (st) => (st === 'FAILURE' ? 3 : st === 'WARNING' ? 2 : st === 'SUCCESS' ? 1 : 0);
    const worst = new Map();
    for (const c of checks) {
      if (c.status === 'INFO') continue;
      if (!worst.has(c.id) || rank(c.status) >= rank(worst.get(c.id))) worst.set(c.id, c.status);
    }
    const stale = [...xfailChecks.get(name)].filter((id) => worst.get(id) === 'SUCCESS');
    if (stale.length) {
      verdict = 'FAIL';
      detail = `${stale.join(', ')} now succeed${stale.length === 1 ? 's' : ''}, but ${expectedName}` +
        ` lists ${stale.length === 1 ? 'it' : 'them'}: remove the stale entr${stale.length === 1 ? 'y' : 'ies'} (${detail})`;
    }
  }
  if (direct && direct[name] === 'pass' && verdict !== 'pass' && verdict !== 'skip') {
    verdict = 'FAIL';
    detail = `passes directly against the fixture but not here: ${detail}`;
  }
  verdicts[name] = verdict;
  if (verdict === 'pass') counts.pass += 1;
  else if (verdict === 'xfail') counts.xfail += 1;
  else if (verdict === 'skip') counts.skip += 1;
  else counts.fail += 1;
  const tag = verdict === 'pass' ? 'PASS' : verdict;
  console.log(`  ${tag.padEnd(6)} ${label.padEnd(16)} ${name.padEnd(46)} [${kind}] ${detail}`);
}
for (const p of problems) {
  console.log(`  FAIL   ${label.padEnd(16)} ${p}`);
  counts.fail += 1;
}
if (fs.existsSync(dir)) fs.writeFileSync(path.join(dir, 'verdicts.json'), JSON.stringify(verdicts, null, 2));
console.log(`counts ${counts.pass} ${counts.fail} ${counts.xfail} ${counts.skip}`);
