// Signed receipts checked by an independent implementation: Node's crypto.verify (Ed25519)
// over the DSSE PAE bytes (v1 records) and over C2SP signed notes (v1 checkpoints, v2 seals),
// the npm `canonicalize` package (RFC 8785) for the record bytes, node:crypto SHA-256 for the
// hash chain and an RFC 6962 Merkle root written here, against a log that `glasstape run`
// wrote for real calls. Then `glasstape verify` on the real log and on tampered copies, a
// GT_ED25519_PRIVATE_KEY made by Node, and kill -9 under load.
//
// Two line formats (a v1 log may continue in v2 after an `upgrade` record):
//   v1 `glasstape.receipt/1`: a DSSE envelope, its base64 payload the record (JCS), signed
//      one by one; a `checkpoint` record's note is signed by its own key.
//   v2 `glasstape.receipt/2`: a JSON object without `payloadType`: the line is the record
//      (JCS), not signed one by one. After each batch a `seal` record (itself v2) carries the
//      RFC 6962 root over every line before it in a C2SP note; every v2 record since the
//      previous seal is covered by it, and its note must carry a valid signature by that
//      record's key (and by the key the seal names). v2 records after the last seal are unsealed:
//      the log does not verify. A log never goes back from v2 to v1.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import canonicalize from 'canonicalize';

import {
  EVERYTHING,
  assertDenied,
  connect,
  glasstapeBin,
  isCheckpointKind,
  modes,
  recordPayload,
  requireBinary,
  textOf,
  tmpDir,
  waitUntil,
  writeConfig,
} from './lib/harness.mjs';

const T = { timeout: 60_000 };
const PAYLOAD_TYPE = 'application/vnd.glasstape.receipt+json';
const FORMAT_V1 = 'glasstape.receipt/1';
const FORMAT_V2 = 'glasstape.receipt/2';

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest();
const sha256hex = (bytes) => sha256(bytes).toString('hex');

// DSSE v1 pre-authentication encoding, from the spec (lengths in bytes, ASCII decimal).
function pae(type, body) {
  const t = Buffer.from(type, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${body.length} `), body,
  ]);
}

function ed25519Key(raw32) {
  return crypto.createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw32).toString('base64url') },
    format: 'jwk',
  });
}

// RFC 6962 §2.1, straight from the definition.
function merkleRoot(leaves) {
  if (leaves.length === 0) return sha256(Buffer.alloc(0));
  if (leaves.length === 1) return sha256(Buffer.concat([Buffer.from([0]), leaves[0]]));
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha256(Buffer.concat([
    Buffer.from([1]), merkleRoot(leaves.slice(0, k)), merkleRoot(leaves.slice(k)),
  ]));
}

// A C2SP signed note with a checkpoint body: `<origin>\n<size>\n<base64 root>\n`, then
// extension lines (a seal's `chain-head <hex>`), a blank line,
// then "— <origin> base64(keyhash4 || sig)" lines. Returns the body's parts and the ids of the
// keys of `keys` (key id → raw public key) whose signature over the body verifies; the key
// hash is SHA-256(origin || 0x0A || 0x01 || public key)[:4].
function noteSigners(note, keys, what) {
  assert.equal(typeof note, 'string', `${what}: a note`);
  assert.ok(note.endsWith('\n'), `${what}: the note ends with a newline`);
  const sep = note.indexOf('\n\n');
  assert.ok(sep > 0, `${what}: the note has a blank line after its body`);
  const text = note.slice(0, sep + 1);
  const body = text.split('\n');
  assert.ok(body.length >= 4, `${what}: the note's body is at least three lines`);
  const [origin, size, root] = body;
  // C2SP extension lines after the root: a seal's `chain-head <hex>` (the SHA-256 of the last
  // line the tree covers); others are ignored, as C2SP allows.
  const extensions = body.slice(3, -1);
  assert.ok(extensions.every((l) => l !== ''), `${what}: no empty extension line`);
  const heads = extensions.filter((l) => l.startsWith('chain-head ')).map((l) => l.slice('chain-head '.length));
  assert.ok(heads.length <= 1, `${what}: at most one chain-head line`);
  const chainHead = heads[0];
  if (chainHead !== undefined) assert.match(chainHead, /^[0-9a-f]{64}$/, `${what}: chain-head is 64 lowercase hex digits`);
  const signers = new Set();
  for (const line of note.slice(sep + 2).split('\n').slice(0, -1)) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    assert.ok(m, `${what}: a signature line: ${JSON.stringify(line)}`);
    if (m[1] !== origin) continue;
    const blob = Buffer.from(m[2], 'base64');
    if (blob.length !== 68) continue;
    for (const [id, raw] of Object.entries(keys)) {
      const keyHash = sha256(Buffer.concat([
        Buffer.from(`${origin}\n`), Buffer.from([1]), Buffer.from(raw),
      ])).subarray(0, 4);
      if (!blob.subarray(0, 4).equals(keyHash)) continue;
      if (crypto.verify(null, Buffer.from(text), ed25519Key(raw), blob.subarray(4))) signers.add(id);
    }
  }
  return { text, origin, size, root, chainHead, signers };
}

function readLog(dir) {
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
    assert.equal(start, text.length, `${f} ends with a complete line`);
  }
  return lines;
}

// Checks every line the way a third party would, with only public keys (key id → raw 32-byte
// key). Returns the payloads, and for each line how it is vouched for: `signed` (a v1 record
// signature verified with its key), `sealedBy` (v2: the seq of the seal that covers it),
// `sealSigners` (for a seal: the key ids whose signature its note carries) and `chainHead`
// (for a seal: its note names the line before it by hash).
function independentlyVerifyLog(lines, publicKeys) {
  const payloads = [];
  const evidence = [];
  let prev = '0'.repeat(64);
  const leaves = [];
  let unsealed = []; // the v2 records (but seals) since the last seal
  let sawV2 = false; // the log switched to v2 (it never switches back)
  lines.forEach((line, i) => {
    const where = `line ${i + 1}`;
    const text = line.toString('utf8');
    const obj = JSON.parse(text);
    let p;
    const ev = { format: 0, signed: false, sealedBy: null, sealSigners: null, chainHead: false };
    if (obj !== null && typeof obj === 'object' && 'payloadType' in obj) {
      // v1: a DSSE envelope over the record.
      const env = obj;
      assert.equal(env.payloadType, PAYLOAD_TYPE);
      const body = Buffer.from(env.payload, 'base64');
      p = JSON.parse(body.toString('utf8'));
      // The signed bytes are exactly RFC 8785 of the payload, as another implementation makes them.
      assert.equal(body.toString('utf8'), canonicalize(p), `${where}: payload is JCS`);
      assert.equal(p.format, FORMAT_V1, `${where}: an envelope holds a v1 record`);
      assert.ok(!sawV2, `${where}: a v1 record after the log continued in v2`);
      const raw = publicKeys[p.key_id];
      assert.ok(raw, `${where}: key ${p.key_id} is known`);
      assert.equal(env.signatures.length, 1);
      assert.equal(env.signatures[0].keyid, p.key_id);
      const sig = Buffer.from(env.signatures[0].sig, 'base64');
      assert.ok(crypto.verify(null, pae(PAYLOAD_TYPE, body), ed25519Key(raw), sig),
        `${where}: Ed25519 signature over the PAE verifies`);
      ev.format = 1;
      ev.signed = true;
    } else {
      // v2: the line is the record, in RFC 8785 form as another implementation makes it.
      assert.ok(obj !== null && typeof obj === 'object' && !Array.isArray(obj), `${where}: a JSON object`);
      p = obj;
      assert.equal(canonicalize(p), text, `${where}: the line is JCS`);
      assert.equal(p.format, FORMAT_V2, `${where}: a line without payloadType is a v2 record`);
      assert.ok(publicKeys[p.key_id], `${where}: key ${p.key_id} is known`);
      assert.match(p.log_id ?? '', /^[0-9a-f]{32}$/, `${where}: a v2 record names its log`);
      ev.format = 2;
      sawV2 = true;
    }
    assert.equal(p.seq, i, `${where}: seq`);
    assert.equal(p.prev, prev, `${where}: prev is the SHA-256 of the previous line`);
    if (p.kind === 'checkpoint') {
      // v1: the checkpoint's note is signed by the checkpoint record's own key.
      assert.equal(p.tree_size, i);
      assert.equal(p.root, merkleRoot(leaves).toString('base64'), `checkpoint at ${i}: RFC 6962 root`);
      const note = noteSigners(p.note, { [p.key_id]: publicKeys[p.key_id] }, `checkpoint at ${i}`);
      assert.equal(note.origin, p.origin, `checkpoint at ${i}: the note's origin`);
      assert.ok(note.signers.has(p.key_id), `checkpoint at ${i}: signed note verifies`);
      assert.equal(note.text, `${p.origin}\n${p.tree_size}\n${p.root}\n`);
    }
    if (p.kind === 'seal') {
      assert.equal(ev.format, 2, `seal at ${i}: a seal is a v2 record`);
      assert.equal(p.tree_size, i, `seal at ${i}: tree_size is its seq`);
      assert.equal(p.root, merkleRoot(leaves).toString('base64'), `seal at ${i}: RFC 6962 root over the lines before it`);
      const note = noteSigners(p.note, publicKeys, `seal at ${i}`);
      const head = note.chainHead === undefined ? '' : `chain-head ${note.chainHead}\n`;
      assert.equal(note.text, `${note.origin}\n${p.tree_size}\n${p.root}\n${head}`, `seal at ${i}: the note's body`);
      // Seals from before chain heads have none; when there is one, it names the line before.
      if (note.chainHead !== undefined) {
        assert.equal(note.chainHead, prev, `seal at ${i}: the signed chain head is the SHA-256 of the line before it`);
      }
      ev.chainHead = note.chainHead !== undefined;
      if ('origin' in p) assert.equal(note.origin, p.origin, `seal at ${i}: the note's origin`);
      const tenant = 'tenant' in p ? p.tenant.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : '[^/]+';
      assert.match(note.origin, new RegExp(`^glasstape/audit/${tenant}/${p.log_id}$`), `seal at ${i}: the origin names this log`);
      assert.ok(note.signers.size >= 1, `seal at ${i}: the note verifies with a keyring key`);
      for (const k of unsealed) {
        assert.ok(note.signers.has(payloads[k].key_id),
          `seal at ${i}: its note carries a valid signature by key ${payloads[k].key_id} of the record at seq ${k}`);
        evidence[k].sealedBy = i;
      }
      assert.ok(note.signers.has(p.key_id), `seal at ${i}: signed by the key it names (${p.key_id})`);
      unsealed = [];
      ev.sealSigners = [...note.signers];
    } else if (ev.format === 2) {
      unsealed.push(i);
    }
    prev = sha256hex(line);
    leaves.push(line);
    payloads.push(p);
    evidence.push(ev);
  });
  assert.equal(unsealed.length, 0, `v2 records after the last seal are unsealed: seq ${unsealed.join(', ')}`);
  return { payloads, evidence };
}

const independentlyVerify = (lines, publicKeys) => independentlyVerifyLog(lines, publicKeys).payloads;

function runGlasstape(args, env) {
  return spawnSync(glasstapeBin(), args, { env: cleanEnv(env), encoding: 'utf8' });
}

// The log of setup() `s0` passes `glasstape verify` and the independent verifier; its payloads.
function verifiedBothWays(s0) {
  const v = runGlasstape(['verify', s0.auditDir], { GT_KEYS_DIR: s0.keysDir });
  assert.equal(v.status, 0, v.stdout + v.stderr);
  return independentlyVerify(readLog(s0.auditDir), keyringKeys(s0.keysDir));
}

function setup(extraAudit = {}) {
  const root = tmpDir('gt-e2e-audit-');
  const auditDir = path.join(root, 'audit');
  const keysDir = path.join(root, 'keys');
  const config = writeConfig({
    identity: { agent_id: 'e2e-agent' },
    governance: {
      deny_tools: ['get-sum'],
      audit: { dir: auditDir, record_args: 'full', checkpoint_every: 3, ...extraAudit },
    },
  });
  return { root, auditDir, keysDir, config, env: { GT_KEYS_DIR: keysDir } };
}

// The test's environment without a signing key of its own, plus `extra`.
function cleanEnv(extra) {
  const env = { ...process.env, ...extra };
  delete env.GT_ED25519_PRIVATE_KEY;
  return env;
}

function keyringKeys(keysDir) {
  const ring = JSON.parse(fs.readFileSync(path.join(keysDir, 'default', 'keyring.json'), 'utf8'));
  return Object.fromEntries(ring.keys.map((k) => [k.key_id, Buffer.from(k.public_key, 'base64')]));
}

if (modes().includes('proxy')) {
  describe('receipts and the audit log (proxy)', () => {
    // fsync off: the proxy writes each record on its session thread when the writer is idle.
    for (const fsync of ['group', 'off']) {
      test(`every decision and result is signed, chained and checkpointed; verified independently (fsync ${fsync})`, T, async (t) => {
        requireBinary();
        const s0 = setup({ fsync });
        const s = await connect('proxy', EVERYTHING, { config: s0.config, capabilities: {}, env: cleanEnv(s0.env) });
        let closed = false;
        t.after(() => { if (!closed) s.close(); });
        const listed = await s.waitForTools(['echo']);
        // deny_tools hides get-sum; calling it anyway is judged, denied and recorded below.
        assert.ok(!listed.some((x) => x.name === 'get-sum'), 'get-sum is hidden from tools/list');
        const args = { message: 'receipts ✓ "quoted"' };
        const r1 = await s.client.callTool({ name: 'echo', arguments: args });
        assert.equal(r1.isError ?? false, false, textOf(r1));
        const denied = await s.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
        const d = assertDenied(assert, denied, 'get-sum');
        assert.ok(d.receipt_id, 'the denial carries its receipt id');
        const echoResponse = s.serverMessages.find((m) => m.result && textOf(m.result).includes('receipts ✓'));
        await s.close();
        closed = true;
        // The proxy wrote its final checkpoint on the way out.
        await waitUntil(() => {
          try {
            const lines = readLog(s0.auditDir);
            return isCheckpointKind(recordPayload(lines.at(-1)).kind);
          } catch {
            return false;
          }
        }, 10_000, 'the final checkpoint');

        const lines = readLog(s0.auditDir);
        const keys = keyringKeys(s0.keysDir);
        const { payloads, evidence } = independentlyVerifyLog(lines, keys);
        const seals = payloads.filter((p) => p.kind === 'seal');
        assert.ok(seals.length > 0 && seals.every((p) => evidence[p.seq].chainHead),
          "every seal's signed note carries the chain head");
        const decisions = payloads.filter((p) => p.kind === 'decision');
        const allow = decisions.find((p) => p.tool === 'echo');
        assert.ok(allow, 'a decision record for echo');
        assert.equal(allow.decision, 'allow');
        assert.equal(allow.agent, 'e2e-agent');
        assert.equal(allow.tenant, 'default');
        assert.equal(allow.args_mode, 'full');
        assert.deepEqual(allow.args, args);
        // The SHA-256 of the exact argument bytes the client sent.
        assert.equal(allow.args_sha256, sha256hex(Buffer.from(JSON.stringify(args))));
        for (const k of ['format', 'id', 'ts', 'session', 'server', 'reason', 'policy', 'rule_id',
          'schema_outcome', 'mode', 'seq', 'prev', 'key_id']) {
          assert.ok(k in allow, `decision record has \`${k}\``);
        }
        assert.match(allow.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
        const result = payloads.find((p) => p.kind === 'result' && p.decision_id === allow.id);
        assert.ok(result, 'a result record linked to the decision');
        assert.equal(result.is_error, false);
        assert.ok(echoResponse, 'the client saw the echo result');
        assert.equal(result.result_sha256, sha256hex(Buffer.from(canonicalize(echoResponse.result))));
        const deny = decisions.find((p) => p.id === d.receipt_id);
        assert.ok(deny, 'the denial is in the log under the receipt id the client got');
        assert.equal(deny.decision, 'deny');
        assert.equal(deny.code, d.code);
        assert.ok(!payloads.some((p) => p.kind === 'result' && p.decision_id === deny.id),
          'a denied call has no result');
        assert.ok(payloads.filter((p) => isCheckpointKind(p.kind)).length >= 2);
        for (const p of payloads) assert.ok([FORMAT_V1, FORMAT_V2].includes(p.format), `seq ${p.seq}: format ${p.format}`);
        if (payloads.some((p) => p.format === FORMAT_V2)) {
          // v2: decisions and results are not signed one by one; each is covered by a seal
          // whose note carries a valid signature by the record's own key.
          const calls = payloads.filter((p) => p.format === FORMAT_V2 && (p.kind === 'decision' || p.kind === 'result'));
          assert.ok(calls.some((p) => p.id === allow.id) && calls.some((p) => p.id === deny.id) && calls.some((p) => p.id === result.id),
            'the calls of this run are v2 records');
          for (const p of calls) {
            const line = JSON.parse(lines[p.seq].toString('utf8'));
            assert.ok(!('payloadType' in line) && !('signatures' in line) && !('sig' in line),
              `seq ${p.seq}: a v2 ${p.kind} carries no signature of its own`);
            assert.equal(evidence[p.seq].signed, false);
            const by = evidence[p.seq].sealedBy;
            assert.ok(Number.isInteger(by) && by > p.seq, `seq ${p.seq}: covered by a later seal`);
            assert.equal(payloads[by].kind, 'seal');
            assert.ok(payloads.slice(p.seq + 1, by).every((q) => q.kind !== 'seal'), `seq ${p.seq}: sealed by the first seal after it`);
            assert.ok(evidence[by].sealSigners.includes(p.key_id), `seq ${p.seq}: its seal is signed with its key ${p.key_id}`);
          }
          // Unsealed v2 records do not verify: the log without its final seal fails...
          assert.equal(payloads.at(-1).kind, 'seal');
          assert.throws(() => independentlyVerify(lines.slice(0, -1), keys), /unsealed/,
            'the records after the last seal are unsealed');
          // ...and so does a record whose key did not sign its seal (here: its key id names
          // another key, while the real key, under another id, still signs the seal).
          const other = crypto.generateKeyPairSync('ed25519').publicKey;
          const otherRaw = Buffer.from(other.export({ format: 'jwk' }).x, 'base64url');
          const swapped = { [deny.key_id]: otherRaw, 'the-real-key': keys[deny.key_id] };
          assert.throws(() => independentlyVerify(lines, swapped), /carries a valid signature by key/,
            'a seal not signed by the record\'s key');
        } else {
          assert.ok(evidence.every((e) => e.signed), 'v1: every record is signed');
        }

        // glasstape verify agrees (exit 0), and names the damage on a tampered copy (exit 1).
        const ok = runGlasstape(['verify', s0.auditDir], { GT_KEYS_DIR: s0.keysDir });
        assert.equal(ok.status, 0, ok.stdout + ok.stderr);
        assert.match(ok.stdout, /^ok: /m);
        const tampered = path.join(s0.root, 'tampered');
        fs.mkdirSync(tampered);
        const i = payloads.indexOf(deny);
        const env = JSON.parse(lines[i]);
        let editedLine;
        if (evidence[i].format === 1) {
          // v1: the envelope's payload edited, its signature kept.
          env.payload = Buffer.from(canonicalize({ ...deny, decision: 'allow' })).toString('base64');
          editedLine = Buffer.from(JSON.stringify(env));
        } else {
          // v2: the line (the record itself) edited, still JCS.
          editedLine = Buffer.from(canonicalize({ ...deny, decision: 'allow' }));
        }
        const edited = lines.map((l, k) => (k === i ? editedLine : l));
        assert.throws(() => independentlyVerify(edited, keys), undefined, 'the independent verifier finds the edit');
        fs.writeFileSync(path.join(tampered, 'audit.jsonl'), Buffer.concat(edited.flatMap((l) => [l, Buffer.from('\n')])));
        const bad = runGlasstape(['verify', tampered, '--keyring', path.join(s0.keysDir, 'default', 'keyring.json')], {});
        assert.equal(bad.status, 1, bad.stdout + bad.stderr);
        assert.match(bad.stdout, new RegExp(`DAMAGED: edited at .*:${i + 1} \\(seq ${i}\\)`));

        // glasstape tail shows the denial.
        const tail = runGlasstape(['tail', s0.auditDir, '--denied', '--json'], {});
        assert.equal(tail.status, 0, tail.stderr);
        const shown = tail.stdout.trim().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(shown.map((p) => p.id), [deny.id]);
      });
    }

    test('GT_ED25519_PRIVATE_KEY: a key made by Node signs the receipts', T, async (t) => {
      requireBinary();
      const s0 = setup();
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
      const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url');
      const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
      const keyId = sha256hex(raw).slice(0, 16);
      const s = await connect('proxy', EVERYTHING, {
        config: s0.config, capabilities: {},
        env: { ...cleanEnv(s0.env), GT_ED25519_PRIVATE_KEY: seed.toString('base64') },
      });
      t.after(() => s.close());
      await s.waitForTools(['echo']);
      await s.client.callTool({ name: 'echo', arguments: { message: 'env key' } });
      await s.close();
      await waitUntil(() => fs.existsSync(path.join(s0.auditDir, 'checkpoint')), 10_000, 'checkpoint');
      const payloads = independentlyVerify(readLog(s0.auditDir), { [keyId]: raw });
      assert.ok(payloads.every((p) => p.key_id === keyId));
      assert.ok(!fs.existsSync(path.join(s0.keysDir, 'default', 'e2e-agent', 'agent.key')),
        'no key file is written for an environment key');
      const malformed = spawnSync(glasstapeBin(), ['run', '--config', s0.config, '--', ...EVERYTHING], {
        env: { ...cleanEnv(s0.env), GT_ED25519_PRIVATE_KEY: 'not-a-key' }, encoding: 'utf8', input: '',
        timeout: 20_000,
      });
      assert.notEqual(malformed.status, 0);
      assert.match(malformed.stderr, /GT_ED25519_PRIVATE_KEY: not valid base64/);
      assert.ok(!malformed.stderr.includes('not-a-key'), 'the value itself is not echoed');
    });

    // A killed process loses no written record in either mode (off trusts the page cache to
    // the kernel, which survives the process).
    for (const fsync of ['group', 'off']) {
      test(`kill -9 under load: the restarted proxy recovers and the log verifies (fsync ${fsync})`, T, async (t) => {
        requireBinary();
        const s0 = setup({ fsync });
        const env = cleanEnv(s0.env);
        const s = await connect('proxy', EVERYTHING, { config: s0.config, capabilities: {}, env });
        t.after(() => s.close());
        await s.waitForTools(['echo']);
        let done = 0;
        const inflight = [];
        for (let i = 0; i < 400; i++) {
          inflight.push(s.client.callTool({ name: 'echo', arguments: { message: `m${i}` } })
            .then(() => { done += 1; }, () => {}));
        }
        await waitUntil(() => done >= 20, 20_000, 'some calls answered');
        process.kill(s.pid, 'SIGKILL');
        await Promise.allSettled(inflight);
        await s.close();
        // Start again: recovery happens at startup; one more call, then a clean exit.
        const again = await connect('proxy', EVERYTHING, { config: s0.config, capabilities: {}, env });
        await again.waitForTools(['echo']);
        const r = await again.client.callTool({ name: 'echo', arguments: { message: 'after the crash' } });
        assert.equal(r.isError ?? false, false, textOf(r));
        await again.close();
        await waitUntil(() => {
          const lines = readLog(s0.auditDir);
          return isCheckpointKind(recordPayload(lines.at(-1)).kind);
        }, 10_000, 'the final checkpoint');
        const payloads = verifiedBothWays(s0);
        const answered = payloads.filter((p) => p.kind === 'decision' && p.decision === 'allow').length;
        assert.ok(answered >= done, `every answered call has its decision record (${answered} >= ${done})`);
        assert.equal(payloads.filter((p) => p.kind === 'start').length, 2);
      });
    }

    // A proxy alone keeps the directory's lock between batches; a second proxy of the tenant
    // (Claude Desktop starts one per server) must still get in, and both then extend one chain.
    for (const fsync of ['group', 'off']) {
      test(`two proxies append to one audit directory at once; the log verifies (fsync ${fsync})`, T, async (t) => {
        requireBinary();
        const s0 = setup({ fsync });
        const env = cleanEnv(s0.env);
        const a = await connect('proxy', EVERYTHING, { config: s0.config, capabilities: {}, env });
        t.after(() => a.close());
        await a.waitForTools(['echo']);
        for (let i = 0; i < 5; i++) {
          const r = await a.client.callTool({ name: 'echo', arguments: { message: `alone ${i}` } });
          assert.equal(r.isError ?? false, false, textOf(r));
        }
        // The first proxy holds the lock now; the second starts (and writes its `start` record)
        // only if the first lets go.
        const b = await connect('proxy', EVERYTHING, { config: s0.config, capabilities: {}, env });
        t.after(() => b.close());
        await b.waitForTools(['echo']);
        const calls = [];
        for (let i = 0; i < 100; i++) {
          for (const [who, s] of [['a', a], ['b', b]]) {
            calls.push(s.client.callTool({ name: 'echo', arguments: { message: `${who} ${i}` } }));
          }
        }
        for (const r of await Promise.all(calls)) assert.equal(r.isError ?? false, false, textOf(r));
        await a.close();
        await b.close();
        await waitUntil(() => {
          try {
            const payloads = readLog(s0.auditDir).map((l) => recordPayload(l));
            return isCheckpointKind(payloads.at(-1).kind)
              && payloads.filter((p) => p.kind === 'result').length === 205;
          } catch {
            return false;
          }
        }, 10_000, 'both proxies\' records, sealed');
        const payloads = verifiedBothWays(s0);
        assert.equal(payloads.filter((p) => p.kind === 'start').length, 2);
        const decisions = payloads.filter((p) => p.kind === 'decision' && p.decision === 'allow');
        assert.equal(decisions.length, 205);
        for (const who of ['a', 'b']) {
          assert.equal(decisions.filter((p) => p.args?.message?.startsWith(`${who} `)).length, 100, who);
        }
      });
    }
  });
}
