// Raw protocol (no SDK): glasstape in front of fixtures/raw_server.mjs, which reflects every
// line it receives. Checks forwarding both ways (server → client byte for byte; client →
// server token for token, without the whitespace between tokens: README "What reaches the
// server"), batches, and the answers to malformed, wrong-shaped and over-limit input. Forwarding tests also run directly against
// the server (proving the checks); the error-handling tests are about the proxy alone.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';

import { NODE, RAW_SERVER, commandFor, modes, waitUntil } from './lib/harness.mjs';
import { RawPeer } from './lib/raw.mjs';

const T = { timeout: 30_000 };

function start(t, mode, opts = {}, serverFlags = []) {
  const { command, args } = commandFor(mode, [NODE, RAW_SERVER, ...serverFlags], opts);
  const peer = new RawPeer(command, args);
  t.after(() => peer.close());
  return peer;
}

// Every line glasstape writes to its stdout must be one JSON-RPC message (no log lines).
function assertAllJson(peer) {
  for (const l of peer.lines) {
    assert.notEqual(l.msg, undefined, `stdout carried a non-JSON line: ${l.text.slice(0, 200)}`);
  }
}

// Odd but valid JSON: spacing, escapes, number spellings and key order a re-serializer
// would change.
const ODD_REQUEST =
  '{ "jsonrpc" : "2.0", "id" : "odd-1", "method" : "custom/thing", "params" : ' +
  '{ "n" : 1.50, "e" : 1E+2, "big" : 123456789012345678901234567890, "neg0" : -0, ' +
  '"s" : "\\u00e9\\/\\ud83d\\ude00 tab\\t", "z" : [ ], "a" : { } } }';
// What the server receives from glasstape for `text` sent by the client: the whitespace
// between tokens removed, every token (strings, escapes, numbers, member order) as sent.
// Written here from the JSON grammar, independently of the proxy's code.
function compactJson(text) {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i];
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (!' \t\n\r'.includes(c)) {
      out += c;
    }
  }
  return out;
}

const ODD_NOTIFICATION =
  '{"params":{"progressToken":"tok","progress":0.10,"total":1e1,"message":"caf\\u00e9 ✓"},' +
  '"method":"notifications/progress",   "jsonrpc":"2.0"}';

for (const mode of modes()) {
  describe(`raw protocol (${mode})`, () => {
    test('client → server: messages arrive token for token (through glasstape, without whitespace between tokens)', T, async (t) => {
      const p = start(t, mode);
      const sent = (text) => (mode === 'proxy' ? compactJson(text) : text);
      await p.initialize();
      const init = p.reflected().find((r) => r.includes('"initialize"'));
      assert.ok(init, 'the server saw initialize');

      p.send(ODD_REQUEST);
      assert.deepEqual((await p.response('odd-1')).result, { method: 'custom/thing' });
      assert.equal(await p.waitReflected((r) => r.includes('odd-1'), 5_000, 'the odd request'), sent(ODD_REQUEST));

      p.send(ODD_NOTIFICATION);
      const oddNote = '{"jsonrpc":"2.0" ,"method":"notifications/roots/list_changed"}';
      p.send(oddNote);
      assert.equal(await p.waitReflected((r) => r.includes('roots/list_changed'), 5_000, 'a notification'), sent(oddNote));
      assert.ok(p.reflected().includes(sent(ODD_NOTIFICATION)), 'the progress notification arrived token for token');

      // An allowed tools/call is forwarded unchanged too.
      await p.request(2, 'tools/list');
      const call = '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"reflect","arguments":{"x":1.0,"y":"\\u0041"}}}';
      p.send(call);
      const r = await p.response(3);
      assert.equal(r.result.content[0].text, call);
      assert.ok(p.reflected().includes(call));
      assertAllJson(p);
    });

    test('server → client: unchanged messages arrive byte for byte', T, async (t) => {
      const p = start(t, mode);
      const sent = (text) => (mode === 'proxy' ? compactJson(text) : text);
      await p.initialize();
      // A notification from the server.
      await p.request(10, 'raw/emit', { line: ODD_NOTIFICATION });
      const got = await p.line((l) => l.msg?.params?.progressToken === 'tok', 5_000, 'the emitted notification');
      assert.ok(got.buf.equals(Buffer.from(ODD_NOTIFICATION)), `got ${got.text}`);

      // A server → client request, and the client's response back to the server.
      const srvReq = '{"method":"roots/list" , "id":"srv-9","jsonrpc":"2.0","params":{"_meta":{}}}';
      await p.request(11, 'raw/emit', { line: srvReq });
      const req = await p.line((l) => l.msg?.id === 'srv-9', 5_000, 'the server request');
      assert.ok(req.buf.equals(Buffer.from(srvReq)), `got ${req.text}`);
      const clientResp = '{"id":"srv-9", "jsonrpc":"2.0","result":{"roots":[{"uri":"file:///x","name":"x"}] ,"n":2.0}}';
      p.send(clientResp);
      assert.equal(await p.waitReflected((r) => r.startsWith('{"id":"srv-9"'), 5_000, 'the client response'), sent(clientResp));

      // A response to a client request, in odd formatting.
      const resp = '{"result":{"v":1.000,"s":"\\u2713"},  "id":12,"jsonrpc":"2.0"}';
      p.sendJson({ jsonrpc: '2.0', id: 12, method: 'raw/respond', params: { line: resp } });
      await p.response(12);
      const line = p.lines.find((l) => l.msg?.id === 12);
      assert.ok(line.buf.equals(Buffer.from(resp)), `got ${line.text}`);
      assertAllJson(p);
    });

    if (mode !== 'proxy') return;

    test('a batch is split and each message handled on its own', T, async (t) => {
      const p = start(t, mode, { denyTools: ['forbidden'] });
      await p.initialize();
      await p.request(1, 'tools/list');
      const batch = [
        { jsonrpc: '2.0', id: 11, method: 'ping' },
        { jsonrpc: '2.0', method: 'notifications/custom', params: { k: 1 } },
        { jsonrpc: '2.0', id: 12, method: 'custom/b' },
        { jsonrpc: '2.0', id: 13, method: 'tools/call', params: { name: 'reflect', arguments: { q: 1 } } },
        { jsonrpc: '2.0', id: 14, method: 'tools/call', params: { name: 'forbidden', arguments: {} } },
      ];
      p.send(JSON.stringify(batch));
      const [r11, r12, r13, r14] = await Promise.all([11, 12, 13, 14].map((id) => p.response(id)));
      assert.deepEqual(r11.result, {});
      assert.deepEqual(r12.result, { method: 'custom/b' });
      assert.deepEqual(JSON.parse(r13.result.content[0].text), batch[3]);
      assert.equal(r14.result.isError, true, JSON.stringify(r14));
      assert.ok(r14.result._meta?.['dev.glasstape/decision'], JSON.stringify(r14));
      // A round trip later: the server saw each allowed element as its own message, and
      // never the batch or the denied call.
      await p.request(15, 'ping');
      const seen = p.reflected().map((r) => JSON.parse(r));
      assert.ok(!seen.some(Array.isArray), 'the server received a batch');
      for (const m of batch.slice(0, 4)) {
        assert.ok(seen.some((s) => isDeepStrictEqual(s, m)), `server did not get ${JSON.stringify(m)}`);
      }
      assert.ok(!seen.some((s) => s.id === 14), 'the denied call in the batch reached the server');
      assertAllJson(p);
    });

    test('batch elements are forwarded token for token', T, async (t) => {
      const p = start(t, mode);
      await p.initialize();
      // What a re-serializer would change: key order, number spelling, integers past 2^64,
      // escapes.
      const e1 = '{"method":"custom/precise","id":16,"jsonrpc":"2.0","params":{"big":123456789012345678901234567890,"f":1.50}}';
      const e2 = '{"jsonrpc":"2.0","method":"notifications/custom2","params":{"s":"caf\\u00e9"}}';
      p.send(`[${e1} , ${e2}]`);
      await p.response(16);
      await p.request(17, 'ping');
      const seen = p.reflected();
      assert.ok(seen.includes(e1), `the server got ${seen.find((r) => r.includes('custom/precise'))}, sent ${e1}`);
      assert.ok(seen.includes(e2), `the server got ${seen.find((r) => r.includes('custom2'))}, sent ${e2}`);
    });

    test('malformed and wrong-shaped input gets -32700 / -32600 and the stream goes on', T, async (t) => {
      const p = start(t, mode);
      await p.initialize();
      const before = p.lines.length;
      p.send('this is not json');
      p.send('{"jsonrpc":"2.0","id":7}');
      p.send('{"id":8,"method":5}');
      p.send('[]');
      p.send('{"jsonrpc":"2.0","id":9,"method":"ping"'); // truncated
      assert.deepEqual((await p.request(10, 'ping')).result, {});
      const errors = p.lines.slice(before).map((l) => l.msg).filter((m) => m?.error);
      const byCode = (code) => errors.filter((e) => e.error.code === code);
      assert.ok(byCode(-32700).some((e) => e.id === null), `-32700 with id null: ${JSON.stringify(errors)}`);
      assert.ok(byCode(-32600).some((e) => e.id === 7), `-32600 with id 7: ${JSON.stringify(errors)}`);
      assert.ok(byCode(-32600).some((e) => e.id === 8), `-32600 with id 8: ${JSON.stringify(errors)}`);
      assert.ok(byCode(-32600).some((e) => e.id === null), `-32600 for the empty batch: ${JSON.stringify(errors)}`);
      // The truncated line: a parse error, with the id when it can be recovered.
      assert.equal(byCode(-32700).length, 2, JSON.stringify(errors));
      assert.ok(byCode(-32700).every((e) => e.id === null || e.id === 9), JSON.stringify(errors));
      assert.equal(errors.length, 5, JSON.stringify(errors));
      for (const e of errors) {
        assert.equal(e.jsonrpc, '2.0');
        assert.equal(typeof e.error.message, 'string');
      }
      // None of it reached the server.
      const seen = p.reflected();
      for (const bad of ['this is not json', '"id":7}', '"method":5', '[]', '"id":9']) {
        assert.ok(!seen.some((r) => r.includes(bad)), `the server got \`${bad}\``);
      }
      // One readable log line each. stderr is another pipe than the answers: under load its
      // lines can arrive after them, so wait for them (bounded) before checking.
      await waitUntil(() => /malformed|parse/i.test(p.stderrText) && /invalid/i.test(p.stderrText),
        5000, 'the log lines').catch(() => {});
      assert.match(p.stderrText, /malformed|parse/i);
      assert.match(p.stderrText, /invalid/i);
      assertAllJson(p);
    });

    test('an over-limit line gets an error and the stream goes on', T, async (t) => {
      const limit = 1024;
      const p = start(t, mode, { extra: ['--max-message-bytes', String(limit)] });
      await p.initialize();
      const big = JSON.stringify({ jsonrpc: '2.0', id: 21, method: 'custom/big', params: { pad: 'x'.repeat(5000) } });
      p.send(big);
      const e = await p.response(21);
      assert.ok(e.error, JSON.stringify(e));
      assert.ok([-32600, -32700].includes(e.error.code), JSON.stringify(e));
      assert.match(e.error.message, /limit|large|exceed|long/i);

      // Just under the limit passes through.
      const fits = JSON.stringify({ jsonrpc: '2.0', id: 22, method: 'custom/fits', params: { pad: 'y'.repeat(limit - 100) } });
      assert.ok(Buffer.byteLength(fits) < limit);
      p.send(fits);
      assert.deepEqual((await p.response(22)).result, { method: 'custom/fits' });
      assert.ok(!p.reflected().some((r) => r.includes('custom/big')), 'the oversized line reached the server');

      // An oversized line from the server is not passed to the client either.
      const note = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/huge', params: { pad: 'z'.repeat(3000) } });
      await p.request(23, 'raw/emit', { line: note });
      assert.deepEqual((await p.request(24, 'ping')).result, {});
      assert.ok(!p.lines.some((l) => l.text.includes('notifications/huge')), 'an oversized server line reached the client');
      assert.ok(p.lines.every((l) => l.buf.length <= limit + 200), 'no oversized line reached the client');
      assertAllJson(p);
    });

    test('megabyte messages pass both ways and do not stay resident', T, async (t) => {
      if (mode === 'direct') return t.skip("measures glasstape's memory");
      const p = start(t, mode);
      await p.initialize();
      const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8'))[1]);
      for (let i = 0; i < 20; i++) await p.request(40 + i, 'ping');
      const warm = rssKb();
      // Each 4 MB request crosses glasstape twice: to the server, and back inside the
      // server's reflection of it.
      for (let i = 0; i < 3; i++) {
        const big = JSON.stringify({ jsonrpc: '2.0', id: 60 + i, method: 'custom/big', params: { pad: String(i).repeat(4 << 20) } });
        p.send(big);
        assert.deepEqual((await p.response(60 + i, 20_000)).result, { method: 'custom/big' });
        assert.equal(await p.waitReflected((r) => r.length === big.length && r.includes(`"id":${60 + i}`), 20_000, 'a big line'), big);
      }
      for (let i = 0; i < 20; i++) await p.request(70 + i, 'ping');
      const after = rssKb();
      t.diagnostic(`glasstape RSS ${warm} kB before, ${after} kB after three 4 MB round trips`);
      // Before the parser and heap bounds this grew by ~20 MB and stayed there.
      assert.ok(after - warm < 8 * 1024, `RSS grew by ${after - warm} kB and stayed`);
      assertAllJson(p);
    });

    test("the child's stderr goes to glasstape's log, never to the client's stdout", T, async (t) => {
      const p = start(t, mode);
      await p.initialize();
      const marker = `stderr-marker-${process.pid}-${Date.now()}`;
      await p.request(30, 'raw/stderr', { text: marker });
      await p.until(() => (p.stderrText.includes(marker) ? true : undefined), 5_000, 'the marker in the log');
      await p.request(31, 'ping');
      assert.ok(!p.lines.some((l) => l.text.includes(marker) && !l.text.includes('raw/stderr')));
      assertAllJson(p);
    });
  });
}
