// Receipt bundles (README "Receipts you can verify on your own"): `glasstape receipt` exports
// one receipt from a log that `glasstape run` wrote for real calls, `glasstape verify-receipt`
// checks it, and so does a verifier written here from the README alone: Node's crypto
// (Ed25519, SHA-256), the npm `canonicalize` package (RFC 8785), RFC 9162 inclusion and
// consistency proofs, C2SP signed notes. Tampered bundles fail both.
//
// The bundle's `record` is a line of the log: v1 (`glasstape.receipt/1`) a DSSE envelope
// signed by the record's key; v2 (`glasstape.receipt/2`, no `payloadType`) the record itself
// (JCS), with no signature of its own: the bundle's checkpoint (the record's seal, the first
// after it) must then carry a valid signature by the record's key.
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

const T = { timeout: 90_000 };
const PAYLOAD_TYPE = 'application/vnd.glasstape.receipt+json';
const FORMAT_V1 = 'glasstape.receipt/1';
const FORMAT_V2 = 'glasstape.receipt/2';

// --- the independent verifier -------------------------------------------------------------

const sha256 = (...parts) => {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const leafHash = (bytes) => sha256(Buffer.from([0]), bytes);
const nodeHash = (l, r) => sha256(Buffer.from([1]), l, r);
const b64 = (s) => {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) {
    throw new Error('not base64');
  }
  return Buffer.from(s, 'base64');
};

function ed25519Key(raw32) {
  return crypto.createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw32).toString('base64url') },
    format: 'jwk',
  });
}

function pae(type, body) {
  const t = Buffer.from(type, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${body.length} `), body]);
}

// RFC 9162 §2.1.3.2.
function verifyInclusion(index, size, leaf, proof, root) {
  if (!(index < size)) return false;
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && r.equals(root);
}

// RFC 9162 §2.1.4.2 (first == second: an empty proof and equal roots).
function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  if (first === 0 || first > second) return false;
  if (first === second) return proof.length === 0 && firstRoot.equals(secondRoot);
  if (proof.length === 0) return false;
  const path = (first & (first - 1)) === 0 ? [firstRoot, ...proof] : [...proof];
  let fn = BigInt(first) - 1n;
  let sn = BigInt(second) - 1n;
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && fr.equals(firstRoot) && sr.equals(secondRoot);
}

// A C2SP signed note with a checkpoint body (and any extension lines); returns {origin, size,
// root, signers} when a key of `keys` (key id → raw public key) signed it under the origin's
// name; `signers`: the ids of every key of `keys` whose signature on it verifies (a seal
// carries one per key).
function verifyCheckpointNote(note, keys) {
  if (typeof note !== 'string' || !note.endsWith('\n')) throw new Error('malformed note');
  const sep = note.lastIndexOf('\n\n');
  const text = note.slice(0, sep + 1);
  const [origin, size, root, ...rest] = text.split('\n');
  // After the root: C2SP extension lines (a seal's `chain-head <hex>`, not needed with an
  // inclusion proof), then the empty string after the final newline.
  if (rest.at(-1) !== '' || rest.slice(0, -1).some((l) => l === '') || !/^[1-9][0-9]*$/.test(size)) {
    throw new Error('malformed checkpoint');
  }
  const signers = new Set();
  for (const line of note.slice(sep + 2).split('\n').filter(Boolean)) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== origin) continue;
    const blob = b64(m[2]);
    for (const [id, raw] of Object.entries(keys)) {
      const keyHash = sha256(Buffer.from(`${origin}\n`), Buffer.from([1]), raw).subarray(0, 4);
      if (!blob.subarray(0, 4).equals(keyHash)) continue;
      if (crypto.verify(null, Buffer.from(text), ed25519Key(raw), blob.subarray(4))) signers.add(id);
    }
  }
  if (signers.size === 0) throw new Error('the checkpoint is not signed by a known key');
  return { origin, size: Number(size), root: b64(root), signers };
}

// Throws on the first problem; returns the record's payload.
function independentlyVerifyBundle(text, keys) {
  const b = JSON.parse(text);
  assert.equal(b.format, 'glasstape.receipt-bundle/1');
  const record = Buffer.from(b.record, 'utf8');
  const leaf = leafHash(record);
  assert.ok(leaf.equals(b64(b.leaf_hash)), 'leaf hash');
  const line = JSON.parse(b.record);
  assert.ok(line !== null && typeof line === 'object' && !Array.isArray(line), 'the record is a JSON object');
  const v1 = 'payloadType' in line;
  let p;
  let body;
  if (v1) {
    // v1: a DSSE envelope; its payload is the record.
    assert.equal(line.payloadType, PAYLOAD_TYPE);
    body = b64(line.payload);
    p = JSON.parse(body.toString('utf8'));
    assert.equal(body.toString('utf8'), canonicalize(p), 'the payload is JCS');
    assert.equal(p.format, FORMAT_V1, 'an envelope holds a v1 record');
  } else {
    // v2: the line is the record.
    p = line;
    assert.equal(canonicalize(p), b.record, 'the record line is JCS');
    assert.equal(p.format, FORMAT_V2, 'a record without payloadType is v2');
  }
  assert.equal(p.id, b.receipt_id, 'receipt id');
  assert.equal(p.seq, b.seq, 'seq');
  if ('log_id' in b) assert.equal(p.log_id, b.log_id, 'log id');
  const raw = keys[p.key_id];
  assert.ok(raw, `key ${p.key_id} is known`);
  if (v1) {
    assert.ok(crypto.verify(null, pae(PAYLOAD_TYPE, body), ed25519Key(raw), b64(line.signatures[0].sig)),
      'the record signature verifies');
  }
  const cp = verifyCheckpointNote(b.checkpoint, keys);
  if (!v1) assert.ok(cp.origin.endsWith(`/${p.log_id}`), "the checkpoint is the record's log's");
  assert.equal(b.inclusion.tree_size, cp.size, 'the proof is for the checkpoint size');
  assert.ok(verifyInclusion(b.seq, cp.size, leaf, b.inclusion.hashes.map(b64), cp.root),
    'the inclusion proof leads to the checkpoint root');
  let old = null;
  if (b.consistency) {
    old = verifyCheckpointNote(b.consistency.from_checkpoint, keys);
    assert.equal(old.origin, cp.origin, 'same log');
    assert.ok(verifyConsistency(old.size, cp.size, old.root, cp.root, b.consistency.hashes.map(b64)),
      'the consistency proof');
  }
  if (!v1) {
    // No record signature: the record's key vouches for it by signing its seal, which is the
    // bundle's checkpoint; or, in a bundle renewed with --since, the older checkpoint it grew
    // from (it covers the record, and is a proven prefix of the checkpoint the record is in).
    const vouches = (c) => c.signers.has(p.key_id) && c.size > p.seq;
    assert.ok(vouches(cp) || (old !== null && vouches(old)),
      `the checkpoint carries a valid signature by the record's key ${p.key_id}`);
  }
  return p;
}

// --- the test -------------------------------------------------------------------------------

function cleanEnv(extra) {
  const env = { ...process.env, ...extra };
  delete env.GT_ED25519_PRIVATE_KEY;
  return env;
}

function glasstape(args, env = {}) {
  return spawnSync(glasstapeBin(), args, { env: cleanEnv(env), encoding: 'utf8' });
}

function payloadsOf(dir) {
  const files = fs.readdirSync(dir).filter((f) => /^audit(-\d{12})?\.jsonl$/.test(f)).sort();
  return files.flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean))
    .map((l) => recordPayload(l));
}

const lastIsCheckpoint = (dir) => {
  try {
    return isCheckpointKind(payloadsOf(dir).at(-1).kind);
  } catch {
    return false;
  }
};

// v2: the seq of the seal that covers the record at `seq` (the first seal after it).
const sealAfter = (payloads, seq) => payloads.find((p) => p.seq > seq && p.kind === 'seal')?.seq;

if (modes().includes('proxy')) {
  describe('receipt bundles (proxy)', () => {
    test('exported, verified by glasstape and independently; tampering fails both', T, async (t) => {
      requireBinary();
      const root = tmpDir('gt-e2e-bundle-');
      const auditDir = path.join(root, 'audit');
      const keysDir = path.join(root, 'keys');
      // No checkpoint by count or time while the session runs: only the one at shutdown (v1;
      // a v2 log seals every batch, in the same write as its records).
      const config = writeConfig({
        identity: { agent_id: 'e2e-agent' },
        governance: {
          deny_tools: ['get-sum'],
          audit: { dir: auditDir, checkpoint_every: 1000, checkpoint_ms: 0 },
        },
      });
      const env = { GT_KEYS_DIR: keysDir };
      const session = async () => {
        const s = await connect('proxy', EVERYTHING, { config, capabilities: {}, env: cleanEnv(env) });
        await s.waitForTools(['echo']);
        return s;
      };

      let s = await session();
      let closed = false;
      t.after(() => { if (!closed) s.close(); });
      const r1 = await s.client.callTool({ name: 'echo', arguments: { message: 'bundle me' } });
      assert.equal(r1.isError ?? false, false, textOf(r1));
      const denied = assertDenied(assert, await s.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }), 'get-sum');
      const denyId = denied.receipt_id;
      await waitUntil(() => payloadsOf(auditDir).some((p) => p.id === denyId), 10_000, 'the denial record');
      const denyV2 = payloadsOf(auditDir).find((p) => p.id === denyId).format === FORMAT_V2;

      const early = glasstape(['receipt', denyId, auditDir]);
      if (!denyV2) {
        // Not yet under a checkpoint: a clear error, exit 1.
        assert.equal(early.status, 1, early.stdout + early.stderr);
        assert.match(early.stderr, /is not yet covered by a checkpoint; the next one is written within checkpoint_ms/);
      } else {
        // v2: the record's seal was written with it: the receipt is provable at once, under
        // that seal, signed by the record's key.
        const now = payloadsOf(auditDir);
        const seal = sealAfter(now, now.find((p) => p.id === denyId).seq);
        assert.ok(seal !== undefined, 'a v2 record is on disk with its seal');
        assert.equal(early.status, 0, early.stdout + early.stderr);
        const ring0 = JSON.parse(fs.readFileSync(path.join(keysDir, 'default', 'keyring.json'), 'utf8'));
        const keys0 = Object.fromEntries(ring0.keys.map((k) => [k.key_id, Buffer.from(k.public_key, 'base64')]));
        const ep = independentlyVerifyBundle(early.stdout, keys0);
        assert.equal(ep.decision, 'deny');
        assert.equal(JSON.parse(early.stdout).inclusion.tree_size, seal, "the bundle's checkpoint is the record's seal");
      }
      const unknown = glasstape(['receipt', 'no-such-receipt', auditDir]);
      assert.equal(unknown.status, 1);
      assert.match(unknown.stderr, /no record with receipt id `no-such-receipt`/);

      await s.close();
      closed = true;
      await waitUntil(() => lastIsCheckpoint(auditDir), 10_000, 'the final checkpoint');

      const ringFile = path.join(keysDir, 'default', 'keyring.json');
      const ring = JSON.parse(fs.readFileSync(ringFile, 'utf8'));
      const keys = Object.fromEntries(ring.keys.map((k) => [k.key_id, Buffer.from(k.public_key, 'base64')]));
      const pubFile = path.join(root, 'public.key');
      fs.writeFileSync(pubFile, `${ring.keys[0].public_key}\n`);

      const allowId = payloadsOf(auditDir).find((p) => p.kind === 'decision' && p.tool === 'echo').id;
      const bundles = {};
      for (const [name, id] of [['allow', allowId], ['deny', denyId]]) {
        const file = path.join(root, `${name}.json`);
        // One by the config's log directory, one by an explicit one.
        const args = name === 'allow' ? ['receipt', id, '-c', config, '-o', file] : ['receipt', id, auditDir, '-o', file];
        const out = glasstape(args);
        assert.equal(out.status, 0, out.stderr);
        bundles[name] = fs.readFileSync(file, 'utf8');

        const p = independentlyVerifyBundle(bundles[name], keys);
        assert.equal(p.decision, name);

        const v = glasstape(['verify-receipt', file, '--keyring', ringFile]);
        assert.equal(v.status, 0, v.stdout + v.stderr);
        assert.match(v.stdout, new RegExp(`^ok: receipt ${id} \\(seq ${p.seq}\\)`, 'm'));
        assert.match(v.stdout, /^record signature: verified with key /m);
        const j = glasstape(['verify-receipt', file, '--public-key', pubFile, '--json']);
        assert.equal(j.status, 0, j.stdout + j.stderr);
        const rep = JSON.parse(j.stdout);
        assert.equal(rep.ok, true);
        assert.equal(rep.decision, name);
        assert.equal(rep.tool, name === 'allow' ? 'echo' : 'get-sum');
        // (v2: the record's key was checked, by its signature on the record's seal.)
        assert.equal(rep.record_signature_checked, true);
        if (p.format === FORMAT_V1) {
          assert.equal(rep.checkpoint_size, payloadsOf(auditDir).length - 1);
        } else {
          // The record's own seal: the first after it.
          assert.equal(rep.checkpoint_size, sealAfter(payloadsOf(auditDir), p.seq));
          assert.equal(JSON.parse(bundles[name]).inclusion.tree_size, rep.checkpoint_size);

          // A C2SP checkpoint verifier key (`name+hash+key`, as `keys show` prints it) trusts
          // its key for the log it names, and for no other log the same key signs.
          const shown = glasstape(['keys', 'show', '--config', config, '--keys-dir', keysDir]);
          const vkey = /^checkpoint verifier key: (\S+)$/m.exec(shown.stdout)?.[1];
          assert.ok(vkey, shown.stdout + shown.stderr);
          const name0 = vkey.slice(0, vkey.indexOf('+'));
          const keyPart = vkey.slice(vkey.indexOf('+', name0.length + 1) + 1);
          assert.equal(name0, rep.origin, "the verifier key names the log's origin");
          const vkeyFile = path.join(root, 'verifier.key');
          fs.writeFileSync(vkeyFile, `${vkey}\n`);
          const byName = glasstape(['verify-receipt', file, '--public-key', vkeyFile]);
          assert.equal(byName.status, 0, byName.stdout + byName.stderr);
          const otherName = name0.replace(/[0-9a-f]{32}$/, 'f'.repeat(32));
          const otherHash = sha256(Buffer.from(`${otherName}\n`), b64(keyPart)).subarray(0, 4).toString('hex');
          fs.writeFileSync(vkeyFile, `${otherName}+${otherHash}+${keyPart}\n`);
          const otherLog = glasstape(['verify-receipt', file, '--public-key', vkeyFile]);
          assert.equal(otherLog.status, 1, otherLog.stdout + otherLog.stderr);
          assert.match(otherLog.stdout, /FAILED: the checkpoint does not verify: no signature by a known key named/);
          const badHash = otherHash === '00000000' ? '00000001' : '00000000';
          fs.writeFileSync(vkeyFile, `${name0}+${badHash}+${keyPart}\n`);
          const edited = glasstape(['verify-receipt', file, '--public-key', vkeyFile]);
          assert.equal(edited.status, 2, edited.stdout + edited.stderr);
          assert.match(edited.stderr, /the verifier key's hash does not match its name and key/);
        }
      }
      const noKeys = glasstape(['verify-receipt', path.join(root, 'deny.json')]);
      assert.equal(noKeys.status, 2);

      // Tampered bundles: both verifiers refuse each.
      const b = JSON.parse(bundles.deny);
      const env0 = JSON.parse(b.record);
      const p0 = recordPayload(b.record);
      const editedRecord = p0.format === FORMAT_V1
        ? canonicalize({ ...env0, payload: Buffer.from(canonicalize({ ...p0, decision: 'allow' })).toString('base64') })
        : canonicalize({ ...p0, decision: 'allow' });
      const otherRoot = crypto.randomBytes(32).toString('base64');
      const [origin, size] = b.checkpoint.split('\n');
      const tampered = {
        'edited record': { ...b, record: editedRecord },
        'edited record, leaf hash recomputed': { ...b, record: editedRecord, leaf_hash: leafHash(Buffer.from(editedRecord)).toString('base64') },
        // (Not the allow decision's leaf hash: that record may well be the denial's sibling.)
        'another proof hash': { ...b, inclusion: { ...b.inclusion, hashes: [crypto.randomBytes(32).toString('base64'), ...b.inclusion.hashes.slice(1)] } },
        'another tree size': { ...b, inclusion: { ...b.inclusion, tree_size: b.inclusion.tree_size + 1 } },
        'forged checkpoint': { ...b, checkpoint: b.checkpoint.replace(/^(.*\n.*\n).*\n/, `$1${otherRoot}\n`) },
        'another receipt id': { ...b, receipt_id: allowId },
      };
      assert.ok(origin.startsWith('glasstape/audit/default') && Number(size) > 0);
      // A record's own seal follows it, so the record is the last leaf of that tree and its
      // proof holds one hash per perfect subtree to its left: swapping needs at least two.
      assert.ok(b.inclusion.hashes.length >= 1, 'a proof of at least one hash');
      if (b.inclusion.hashes.length >= 2) {
        tampered['swapped proof hashes'] = { ...b, inclusion: { ...b.inclusion, hashes: [b.inclusion.hashes[1], b.inclusion.hashes[0], ...b.inclusion.hashes.slice(2)] } };
      }
      for (const [what, bad] of Object.entries(tampered)) {
        const file = path.join(root, 'tampered.json');
        fs.writeFileSync(file, JSON.stringify(bad));
        assert.throws(() => independentlyVerifyBundle(JSON.stringify(bad), keys), undefined, `independent: ${what}`);
        const v = glasstape(['verify-receipt', file, '--keyring', ringFile]);
        assert.equal(v.status, 1, `glasstape: ${what}: ${v.stdout}${v.stderr}`);
        assert.match(v.stdout, /^FAILED: /m, what);
      }

      // The record's own key must vouch for it (v1: its signature; v2: its signature on the
      // seal): with the record's key id naming another key, and the real key known only under
      // another id (so the checkpoint still verifies), the independent verifier refuses.
      const stranger = crypto.generateKeyPairSync('ed25519').publicKey;
      const strangerRaw = Buffer.from(stranger.export({ format: 'jwk' }).x, 'base64url');
      assert.throws(() => independentlyVerifyBundle(bundles.deny, { [p0.key_id]: strangerRaw, 'the-real-key': keys[p0.key_id] }),
        p0.format === FORMAT_V1 ? /the record signature verifies/ : /carries a valid signature by the record's key/,
        "independent: the record's key did not vouch for it");

      // More calls in a second run: a later bundle with a consistency proof from the first
      // bundle's checkpoint shows the denial is still in the log.
      s = await session();
      closed = false;
      for (let i = 0; i < 5; i++) await s.client.callTool({ name: 'echo', arguments: { message: `more ${i}` } });
      await s.close();
      closed = true;
      await waitUntil(() => lastIsCheckpoint(auditDir), 10_000, 'the second final checkpoint');
      const later = glasstape(['receipt', denyId, auditDir, '--since', path.join(root, 'deny.json')]);
      assert.equal(later.status, 0, later.stderr);
      const lb = JSON.parse(later.stdout);
      assert.ok(lb.consistency, 'a consistency proof');
      assert.ok(lb.inclusion.tree_size > b.inclusion.tree_size);
      independentlyVerifyBundle(later.stdout, keys);
      const laterFile = path.join(root, 'later.json');
      fs.writeFileSync(laterFile, later.stdout);
      const lv = glasstape(['verify-receipt', laterFile, '--keyring', ringFile, '--json']);
      assert.equal(lv.status, 0, lv.stdout + lv.stderr);
      assert.equal(JSON.parse(lv.stdout).consistent_from, b.inclusion.tree_size);
      // A consistency proof that does not hold fails both.
      // (Random, not the record's leaf hash: under its own seal that leaf can be the proof's
      // first hash already.)
      const badLater = { ...lb, consistency: { ...lb.consistency, hashes: [crypto.randomBytes(32).toString('base64'), ...lb.consistency.hashes.slice(1)] } };
      assert.throws(() => independentlyVerifyBundle(JSON.stringify(badLater), keys));
      fs.writeFileSync(laterFile, JSON.stringify(badLater));
      const blv = glasstape(['verify-receipt', laterFile, '--keyring', ringFile]);
      assert.equal(blv.status, 1, blv.stdout);
      assert.match(blv.stdout, /^FAILED: the consistency proof does not show/m);
    });
  });
}
