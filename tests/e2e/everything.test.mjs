// The official SDK Client over StdioClientTransport, driving
// @modelcontextprotocol/server-everything directly and through `glasstape run`.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { LoggingMessageNotificationSchema, McpError } from '@modelcontextprotocol/sdk/types.js';

import {
  EVERYTHING,
  assertDenied,
  connect,
  modes,
  signal,
  textOf,
  withTimeout,
} from './lib/harness.mjs';

const T = { timeout: 40_000 };

for (const mode of modes()) {
  describe(`server-everything (${mode})`, () => {
    test('initialize, ping, tools/list, echo and get-sum', T, async (t) => {
      const s = await connect(mode, EVERYTHING, { capabilities: {} });
      t.after(() => s.close());
      const info = s.client.getServerVersion();
      assert.equal(info.name, 'mcp-servers/everything');
      assert.ok(s.client.getServerCapabilities().tools, 'server announces tools');
      assert.ok(s.client.getInstructions()?.length > 0, 'instructions pass through');
      await s.client.ping();

      const { tools } = await s.client.listTools();
      const names = tools.map((x) => x.name);
      for (const n of ['echo', 'get-sum', 'trigger-long-running-operation']) {
        assert.ok(names.includes(n), `tools/list has ${n}: ${names.join(', ')}`);
      }
      const echo = tools.find((x) => x.name === 'echo');
      assert.equal(echo.inputSchema.type, 'object');
      assert.ok(echo.inputSchema.properties.message, 'echo schema has `message`');

      const r1 = await s.client.callTool({ name: 'echo', arguments: { message: 'hello glasstape ✓' } });
      assert.equal(r1.isError ?? false, false);
      assert.equal(textOf(r1), 'Echo: hello glasstape ✓');

      const r2 = await s.client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40.5 } });
      assert.equal(textOf(r2), 'The sum of 2 and 40.5 is 42.5.');

      // A tool error from the server itself (bad arguments) is forwarded as the server sent it.
      const r3 = await s.client.callTool({ name: 'get-sum', arguments: { a: 'x', b: 1 } }).catch((e) => e);
      if (r3 instanceof Error) {
        assert.ok(r3 instanceof McpError, `unexpected error type: ${r3}`);
      } else {
        assert.equal(r3.isError, true, `get-sum with a string must fail: ${JSON.stringify(r3)}`);
      }
    });

    test('long-running tool with progress notifications', T, async (t) => {
      const s = await connect(mode, EVERYTHING, { capabilities: {} });
      t.after(() => s.close());
      const progress = [];
      const r = await s.client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.8, steps: 4 } },
        undefined,
        { onprogress: (p) => progress.push(p), timeout: 20_000 },
      );
      assert.match(textOf(r), /Long running operation completed\. Duration: 0\.8 seconds, Steps: 4\./);
      // On the wire: four progress notifications, in order, all before the response.
      const wire = s.serverMessages.filter((m) => m.method === 'notifications/progress' || 'result' in m);
      assert.deepEqual(
        wire.map((m) => (m.method ? [m.params.progress, m.params.total] : 'response')),
        [[1, 4], [2, 4], [3, 4], [4, 4], 'response']);
      // The SDK dispatches notifications asynchronously but responses at once, so the last
      // progress may reach onprogress after the call settled (then it lands in onerror).
      assert.deepEqual(progress.slice(0, 3).map((p) => p.progress), [1, 2, 3]);
    });

    test('sampling: tool announced by list_changed, request answered by the client', T, async (t) => {
      const asked = [];
      const s = await connect(mode, EVERYTHING, {
        handlers: {
          sampling: async (req) => {
            asked.push(req.params);
            return {
              model: 'e2e-model',
              role: 'assistant',
              content: { type: 'text', text: `sampled<${req.params.messages[0].content.text}>` },
            };
          },
        },
      });
      t.after(() => s.close());
      await s.waitForTools(['trigger-sampling-request', 'trigger-elicitation-request', 'get-roots-list']);
      assert.ok(s.toolListChanged.count >= 1, 'the server announced its new tools with list_changed');

      const r = await s.client.callTool({
        name: 'trigger-sampling-request', arguments: { prompt: 'why glass?', maxTokens: 17 },
      });
      assert.equal(asked.length, 1, 'the server asked the client to sample exactly once');
      assert.equal(asked[0].maxTokens, 17);
      assert.equal(asked[0].systemPrompt, 'You are a helpful test server.');
      assert.match(asked[0].messages[0].content.text, /why glass\?/);
      const text = textOf(r);
      assert.match(text, /LLM sampling result/);
      assert.match(text, /e2e-model/);
      assert.match(text, /sampled<Resource trigger-sampling-request context: why glass\?>/);
    });

    test('elicitation answered by the client', T, async (t) => {
      const asked = [];
      const s = await connect(mode, EVERYTHING, {
        handlers: {
          elicitation: async (req) => {
            asked.push(req.params);
            return {
              action: 'accept',
              content: { name: 'Ada Lovelace', check: true, email: 'ada@example.com', integer: 7 },
            };
          },
        },
      });
      t.after(() => s.close());
      await s.waitForTools(['trigger-elicitation-request']);
      const r = await s.client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      assert.equal(asked.length, 1);
      assert.equal(asked[0].requestedSchema.type, 'object');
      assert.deepEqual(asked[0].requestedSchema.required, ['name']);
      const text = textOf(r);
      assert.match(text, /User provided the requested information/);
      assert.match(text, /- Name: Ada Lovelace/);
      assert.match(text, /- Email: ada@example\.com/);
      assert.match(text, /- Favorite Integer: 7/);

      // A declined elicitation takes the other branch.
      const declined = await connect(mode, EVERYTHING, {
        handlers: { elicitation: async () => ({ action: 'decline' }) },
      });
      t.after(() => declined.close());
      await declined.waitForTools(['trigger-elicitation-request']);
      const r2 = await declined.client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      assert.match(textOf(r2), /User declined/);
    });

    test('roots/list asked by the server, and again after roots/list_changed', T, async (t) => {
      let roots = [{ uri: 'file:///tmp/gt-e2e-root-one', name: 'root-one' }];
      const askedRoots = { count: 0, waiters: [] };
      const s = await connect(mode, EVERYTHING, {
        handlers: {
          roots: async () => {
            askedRoots.count += 1;
            for (const w of askedRoots.waiters.splice(0)) w();
            return { roots };
          },
        },
      });
      t.after(() => s.close());
      const nextAsk = () => withTimeout(new Promise((r) => askedRoots.waiters.push(r)), 10_000, 'roots/list');
      // The server asks for the roots on its own shortly after initialization.
      if (askedRoots.count === 0) await nextAsk();
      await s.waitForTools(['get-roots-list']);
      const r1 = await s.client.callTool({ name: 'get-roots-list', arguments: {} });
      assert.match(textOf(r1), /Current MCP Roots \(1 total\)/);
      assert.match(textOf(r1), /root-one\s+URI: file:\/\/\/tmp\/gt-e2e-root-one/);

      // roots/list_changed (client → server notification) makes the server ask again.
      roots = [
        { uri: 'file:///tmp/gt-e2e-root-two', name: 'root-two' },
        { uri: 'file:///tmp/gt-e2e-root-three', name: 'root-three' },
      ];
      const before = askedRoots.count;
      const asked = nextAsk();
      await s.client.sendRootsListChanged();
      await asked;
      assert.equal(askedRoots.count, before + 1);
      // The server stores the new list after the client's response arrives: poll the tool.
      let text = '';
      for (let i = 0; i < 50 && !/2 total/.test(text); i++) {
        text = textOf(await s.client.callTool({ name: 'get-roots-list', arguments: {} }));
      }
      assert.match(text, /Current MCP Roots \(2 total\)/);
      assert.match(text, /root-three\s+URI: file:\/\/\/tmp\/gt-e2e-root-three/);
    });

    test('resources, templates, completion, prompts and logging', T, async (t) => {
      const s = await connect(mode, EVERYTHING, { capabilities: {} });
      t.after(() => s.close());
      const { resources } = await s.client.listResources();
      assert.ok(resources.length > 0, 'static resources are listed');
      const doc = resources[0];
      const docRead = await s.client.readResource({ uri: doc.uri });
      assert.equal(docRead.contents[0].uri, doc.uri);
      assert.ok((docRead.contents[0].text ?? docRead.contents[0].blob).length > 0);

      const { resourceTemplates } = await s.client.listResourceTemplates();
      assert.ok(resourceTemplates.some((x) => x.uriTemplate === 'demo://resource/dynamic/text/{resourceId}'));
      const read = await s.client.readResource({ uri: 'demo://resource/dynamic/text/7' });
      assert.equal(read.contents[0].uri, 'demo://resource/dynamic/text/7');
      assert.match(read.contents[0].text, /^Resource 7: This is a plaintext resource created at /);
      const blob = await s.client.readResource({ uri: 'demo://resource/dynamic/blob/3' });
      assert.match(Buffer.from(blob.contents[0].blob, 'base64').toString(), /^Resource 3: This is a base64 blob/);
      // An unknown resource is the server's JSON-RPC error, passed through.
      await assert.rejects(s.client.readResource({ uri: 'demo://resource/dynamic/text/0' }), McpError);

      const done = await s.client.complete({
        ref: { type: 'ref/resource', uri: 'demo://resource/dynamic/text/{resourceId}' },
        argument: { name: 'resourceId', value: '1' },
      });
      assert.ok(Array.isArray(done.completion.values));

      const { prompts } = await s.client.listPrompts();
      assert.ok(prompts.some((p) => p.name === 'args-prompt'));
      const p = await s.client.getPrompt({ name: 'args-prompt', arguments: { city: 'Lyon', state: 'ARA' } });
      assert.equal(p.messages[0].role, 'user');
      assert.equal(p.messages[0].content.text, "What's weather in Lyon, ARA?");
      const simple = await s.client.getPrompt({ name: 'simple-prompt' });
      assert.equal(simple.messages[0].content.text, 'This is a simple prompt without arguments.');

      // logging/setLevel, then a log notification from the server.
      const logged = signal();
      s.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logged.fire(n.params));
      await s.client.setLoggingLevel('debug');
      const on = await s.client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
      assert.equal(on.isError ?? false, false, textOf(on));
      const log = await withTimeout(logged.promise, 10_000, 'a notifications/message');
      assert.match(String(log.data), /-level message|level-message/);
      await s.client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    });

    test('a cancelled call: the client aborts, the server drops it, the session goes on', T, async (t) => {
      const s = await connect(mode, EVERYTHING, { capabilities: {} });
      t.after(() => s.close());
      const ac = new AbortController();
      const firstProgress = signal();
      const started = Date.now();
      const call = s.client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 1.2, steps: 4 } },
        undefined,
        { signal: ac.signal, onprogress: (p) => firstProgress.fire(p), timeout: 20_000 },
      ).then((r) => ({ ok: r }), (e) => ({ err: e }));
      await withTimeout(firstProgress.promise, 10_000, 'the first progress notification');
      ac.abort('user pressed stop');
      const outcome = await withTimeout(call, 1_000, 'the aborted call to settle');
      assert.ok(outcome.err, `the aborted call must reject, got ${JSON.stringify(outcome.ok)}`);
      assert.match(String(outcome.err.message), /user pressed stop/);

      // The server keeps sending progress for the request (this tool ignores cancellation),
      // which the client reports as progress for an unknown token. The last one is step 4:
      // once it has arrived, the server would have sent its response right behind it.
      await withTimeout((async () => {
        while (!s.errors.some((e) => /unknown token.*"progress":4/.test(e.message))) {
          await new Promise((r) => setTimeout(r, 20));
        }
      })(), 10_000, 'the last progress notification of the cancelled call');
      // A round trip after that: a response for the cancelled id would have arrived by now,
      // unless notifications/cancelled reached the server (which then sends none).
      await s.client.ping();
      const late = s.errors.filter((e) => /unknown message ID/.test(e.message));
      assert.deepEqual(late.map((e) => e.message), [], 'the server answered a cancelled request');
      assert.ok(Date.now() - started < 10_000);

      const r = await s.client.callTool({ name: 'echo', arguments: { message: 'still here' } });
      assert.equal(textOf(r), 'Echo: still here');
    });

    test('a denied tool returns an isError result and never reaches the server', T, async (t) => {
      // trigger-sampling-request makes the server ask the client to sample before it answers:
      // a call that reaches the server is visible in the client's sampling handler.
      const sampled = [];
      const s = await connect(mode, EVERYTHING, {
        denyTools: ['trigger-sampling-request'],
        handlers: {
          sampling: async (req) => {
            sampled.push(req.params);
            return { model: 'm', role: 'assistant', content: { type: 'text', text: 'ok' } };
          },
        },
      });
      t.after(() => s.close());
      // deny_tools hides the tool from tools/list through the proxy. The server registers it in
      // the same synchronous step as simulate-research-query (registerConditionalTools), so once
      // that one is listed the server has the denied tool too, and only the listing hides it.
      const listed = await s.waitForTools([mode === 'direct' ? 'trigger-sampling-request' : 'simulate-research-query']);
      assert.equal(listed.some((x) => x.name === 'trigger-sampling-request'), mode === 'direct',
        'trigger-sampling-request is listed only without the proxy');
      const r = await s.client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'leak?' } });
      if (mode === 'direct') {
        // Without the proxy the same call reaches the server: this is what the check detects.
        assert.equal(r.isError ?? false, false);
        assert.equal(sampled.length, 1);
        return;
      }
      const decision = assertDenied(assert, r, 'trigger-sampling-request');
      assert.equal(decision.code, 'GT-DENY-TOOL');
      // A round trip through the server after the denial: a forwarded call would have made
      // the server send sampling/createMessage by now.
      await s.client.ping();
      const ok = await s.client.callTool({ name: 'echo', arguments: { message: 'allowed' } });
      assert.equal(textOf(ok), 'Echo: allowed');
      assert.equal(sampled.length, 0, 'the denied call reached the server');
    });
  });
}
