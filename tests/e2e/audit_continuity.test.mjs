// An attacker's view of the audit log's continuity, through the real binary: records cut from
// the end of a log (or the whole log deleted) must not be laundered by a restart. `glasstape
// run` refuses the directory and names what is missing; only `glasstape recover` continues it,
// with a signed record of the loss that every later `glasstape verify` reports. A checkpoint
// kept elsewhere still reports the cut.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { EVERYTHING, connect, glasstapeBin, modes, requireBinary, textOf, tmpDir, writeConfig, recordPayload } from './lib/harness.mjs';

const T = { timeout: 90_000 };

function setup(extraAudit = {}) {
  const root = tmpDir('gt-e2e-cont-');
  const auditDir = path.join(root, 'audit');
  const keysDir = path.join(root, 'keys');
  const audit = { dir: auditDir, checkpoint_every: 4, ...(typeof extraAudit === 'function' ? extraAudit(root) : extraAudit) };
  const config = writeConfig({
    identity: { agent_id: 'e2e-agent' },
    governance: { deny_tools: ['get-sum'], audit },
  });
  const env = { ...process.env, GT_KEYS_DIR: keysDir };
  delete env.GT_ED25519_PRIVATE_KEY;
  return { root, auditDir, keysDir, config, env };
}

function glasstape(s, args) {
  return spawnSync(glasstapeBin(), args, { env: s.env, encoding: 'utf8', input: '', timeout: 30_000 });
}

function payloads(dir) {
  return fs.readFileSync(path.join(dir, 'audit.jsonl'), 'utf8').split('\n').filter(Boolean)
    .map((l) => recordPayload(l));
}

async function someCalls(s, n) {
  const c = await connect('proxy', EVERYTHING, { config: s.config, capabilities: {}, env: s.env });
  try {
    await c.waitForTools(['echo']);
    for (let i = 0; i < n; ++i) {
      const r = await c.client.callTool({ name: 'echo', arguments: { message: `m${i}` } });
      assert.equal(r.isError ?? false, false, textOf(r));
    }
  } finally {
    await c.close();
  }
}

// A start of `glasstape run` that gets as far as opening the audit log (stdin closed at once).
function start(s) {
  return glasstape(s, ['run', '--config', s.config, '--', ...EVERYTHING]);
}

if (modes().includes('proxy')) {
  describe('audit log continuity (proxy)', () => {
    test('a log cut from the end is refused at start; recover records the loss; verify reports it', T, async () => {
      requireBinary();
      const s = setup();
      await someCalls(s, 6);
      const before = payloads(s.auditDir);
      const logId = before[0].log_id;
      assert.match(logId, /^[0-9a-f]{32}$/);
      assert.ok(before.every((p) => p.log_id === logId), 'every record carries the log id');
      const witness = path.join(s.root, 'kept-elsewhere');
      fs.copyFileSync(path.join(s.auditDir, 'checkpoint'), witness);
      assert.match(fs.readFileSync(witness, 'utf8'), new RegExp(`^glasstape/audit/default/${logId}\n`));

      // The attacker cuts the last three records (a decision among them).
      const file = path.join(s.auditDir, 'audit.jsonl');
      const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
      fs.writeFileSync(file, lines.slice(0, -3).map((l) => `${l}\n`).join(''));

      const refused = start(s);
      assert.notEqual(refused.status, 0, 'the proxy must not start on a cut log');
      assert.match(refused.stderr, /has lost records: its checkpoint covers \d+ record\(s\)/);
      assert.match(refused.stderr, new RegExp(`holds only ${lines.length - 3}`));
      assert.match(refused.stderr, /glasstape recover/);
      assert.equal(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length, lines.length - 3,
        'a refused start appends nothing');

      const rec = glasstape(s, ['recover', '--config', s.config]);
      assert.equal(rec.status, 0, rec.stderr);
      assert.match(rec.stdout, /recorded the loss/);
      const after = payloads(s.auditDir);
      const recovery = after.find((p) => p.kind === 'recovery' && p.event === 'truncated');
      assert.ok(recovery, 'a signed recovery record says what was lost');
      assert.equal(recovery.lost, 2); // the checkpoint covered every record but itself
      assert.ok(fs.existsSync(path.join(s.auditDir, recovery.evidence)), 'the old checkpoint is kept');

      // The proxy starts again, and the log verifies with the recovery counted...
      await someCalls(s, 2);
      const ok = glasstape(s, ['verify', '--config', s.config, '--json']);
      assert.equal(ok.status, 0, ok.stdout + ok.stderr);
      const report = JSON.parse(ok.stdout);
      assert.ok(report.recoveries >= 1);
      assert.equal(report.log_id, logId);
      assert.equal(report.checkpoint.external, false, 'the directory checkpoint is not external');
      // ...while the checkpoint kept elsewhere still names the cut.
      const cut = glasstape(s, ['verify', '--config', s.config, '--checkpoint', witness]);
      assert.equal(cut.status, 1, cut.stdout);
      assert.match(cut.stdout, /DAMAGED: (truncated|edited)/);
    });

    test('a deleted log is refused; recover starts a new log that names the old one', T, async () => {
      requireBinary();
      const s = setup();
      await someCalls(s, 2);
      const oldId = payloads(s.auditDir)[0].log_id;
      fs.rmSync(path.join(s.auditDir, 'audit.jsonl'));
      const refused = start(s);
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, /no log file is left/);
      assert.ok(!fs.existsSync(path.join(s.auditDir, 'audit.jsonl')), 'nothing created');
      const rec = glasstape(s, ['recover', '--config', s.config]);
      assert.equal(rec.status, 0, rec.stderr);
      const fresh = payloads(s.auditDir);
      assert.notEqual(fresh[0].log_id, oldId);
      assert.equal(fresh[1].kind, 'recovery');
      assert.equal(fresh[1].event, 'vanished');
      assert.equal(fresh[1].checkpoint_origin, `glasstape/audit/default/${oldId}`);
      // Another log's checkpoint cannot vouch for the new one.
      const old = path.join(s.auditDir, fresh[1].evidence);
      const other = glasstape(s, ['verify', '--config', s.config, '--checkpoint', old]);
      assert.equal(other.status, 1, other.stdout);
      assert.match(other.stdout, /DAMAGED: other log/);
    });

    test('witnessing: checkpoints pushed to a directory and a command; verify checks the log against them', T, async () => {
      requireBinary();
      const s = setup((root) => ({
        witness: {
          dir: path.join(root, 'witness'),
          command: ['/bin/sh', '-c', 'cat >> "$0"; echo >> "$0"', path.join(root, 'ticket.txt')],
          interval_ms: 200,
        },
      }));
      await someCalls(s, 6);
      // The final checkpoint is pushed when the proxy stops.
      const logId = payloads(s.auditDir)[0].log_id;
      const copy = path.join(s.root, 'witness', 'default', logId, 'checkpoint');
      assert.equal(fs.readFileSync(copy, 'utf8'), fs.readFileSync(path.join(s.auditDir, 'checkpoint'), 'utf8'));
      assert.ok(fs.readFileSync(path.join(s.root, 'ticket.txt'), 'utf8')
        .includes(fs.readFileSync(path.join(s.auditDir, 'checkpoint'), 'utf8')), 'the command got the final checkpoint');
      const ok = glasstape(s, ['verify', '--config', s.config]);
      assert.equal(ok.status, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /kept outside the log's directory\): consistent/);

      // An attacker who can write the log directory cuts the tail AND forges the directory's
      // checkpoint state (here: removes it, so the proxy's start check has nothing to compare).
      const file = path.join(s.auditDir, 'audit.jsonl');
      const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
      let keep = lines.length - 3;
      if (recordPayload(lines.at(-1)).format === 'glasstape.receipt/2') {
        // v2: a cut that leaves records after the last seal is damage in itself (unsealed)...
        fs.writeFileSync(file, lines.slice(0, keep).map((l) => `${l}\n`).join(''));
        const tail = glasstape(s, ['verify', '--config', s.config]);
        assert.equal(tail.status, 1, tail.stdout + tail.stderr);
        assert.match(tail.stdout, /DAMAGED: (unsealed|truncated)/);
        // ...so the attacker cuts back to a seal: what is left is sealed and self-consistent,
        // and only the checkpoint kept outside shows the cut.
        while (keep > 0 && recordPayload(lines[keep - 1]).kind !== 'seal') keep -= 1;
      }
      fs.writeFileSync(file, lines.slice(0, keep).map((l) => `${l}\n`).join(''));
      fs.rmSync(path.join(s.auditDir, 'checkpoint'));
      const cut = glasstape(s, ['verify', '--config', s.config]);
      assert.equal(cut.status, 1, cut.stdout + cut.stderr);
      assert.match(cut.stdout, /DAMAGED: truncated/);
    });

    test('a witness directory inside the log directory is refused', T, () => {
      requireBinary();
      const s = setup((root) => ({ witness: { dir: path.join(root, 'audit', 'copies') } }));
      const r = start(s);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /witness\.dir: must be outside the log's directory/);
    });
  });
}
