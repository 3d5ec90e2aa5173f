// Opaque access tokens through RFC 7662 introspection (issue 17): a real authorization server
// (oidc-provider, tests/e2e/lib/oidc.mjs with `opaque: true`) issues opaque tokens for
// GlassTape's resource; GlassTape asks its introspection endpoint, as its own registered
// client, whether each token is active, for this resource and with the scope, and caches the
// answer for at most `cache_s`. A revoked token is refused once the cache has let it go; an
// issuer that cannot be asked means 503, and nothing reaches the server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { killQuietly, requireBinary, REPO_ROOT, tmpDir, waitUntil, recordPayload } from './lib/harness.mjs';
import { startIssuer } from './lib/oidc.mjs';

const EXAMPLE =
  process.env.GT_EXAMPLE_SERVER || path.join(REPO_ROOT, 'build', 'tests', 'glasstape-example-server');
const SCOPE = 'mcp:tools';
const SECRET_VAR = 'GT_E2E_INTROSPECTION_SECRET';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function post(url, body, headers = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

function decisions(auditDir) {
  const out = [];
  if (!fs.existsSync(auditDir)) return out;
  for (const f of fs.readdirSync(auditDir).filter((n) => n.endsWith('.jsonl')).sort()) {
    for (const line of fs.readFileSync(path.join(auditDir, f), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const p = recordPayload(line);
      if (p.kind === 'decision') out.push(p);
    }
  }
  return out;
}

describe('http.auth with opaque tokens (RFC 7662 introspection)', { timeout: 120_000 }, () => {
  let issuer;
  let serve;
  let url;
  let dir;
  let log = '';
  let cleanup = [];

  before(async () => {
    const bin = requireBinary();
    const port = await freePort();
    url = `http://127.0.0.1:${port}/mcp`;
    issuer = await startIssuer({
      resource: url,
      scopes: [SCOPE, 'other'],
      opaque: true,
      clients: [
        { client_id: 'agent-a', client_secret: 'agent-a-secret' },
        { client_id: 'glasstape-rs', client_secret: 'rs-secret' },
      ],
    });
    cleanup.push(() => issuer.stop());
    dir = tmpDir('gt-e2e-introspect-');
    const config = {
      servers: { example: { command: [EXAMPLE], restart: { max: 0 } } },
      http: {
        listen: `127.0.0.1:${port}`,
        auth: {
          resource: url,
          scopes: [SCOPE],
          issuers: [
            {
              issuer: issuer.issuer,
              introspection: {
                endpoint: issuer.introspectionEndpoint,
                client_id: 'glasstape-rs',
                client_secret_env: SECRET_VAR,
                cache_s: 1,
              },
              claims: { id: 'client_id', tenant_value: 'default' },
            },
          ],
        },
      },
      governance: {
        audit: { dir: path.join(dir, 'audit'), keys_dir: path.join(dir, 'keys'), fsync: 'always' },
      },
    };
    const file = path.join(dir, 'glasstape.yaml');
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
    serve = spawn(bin, ['serve', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, [SECRET_VAR]: 'rs-secret' },
    });
    serve.stdout.on('data', (d) => (log += d));
    serve.stderr.on('data', (d) => (log += d));
    cleanup.push(() => killQuietly(serve.pid, 'SIGTERM'));
    await waitUntil(() => {
      if (serve.exitCode !== null) throw new Error(`glasstape serve exited:\n${log}`);
      return /serving MCP at/.test(log);
    }, 20_000, 'glasstape serve to listen');
  });

  after(async () => {
    for (const c of cleanup.reverse()) {
      try {
        await c();
      } catch {
        // stopped already (the 503 test stops the issuer)
      }
    }
  });

  const call = (token, id, name = 'echo', args = { message: 'hi' }) =>
    post(url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args,
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientInfo': { name: 'e2e', version: '1' },
        'io.modelcontextprotocol/clientCapabilities': {},
      } } }, {
      Authorization: `Bearer ${token}`,
      'MCP-Protocol-Version': '2026-07-28',
      'Mcp-Method': 'tools/call',
      'Mcp-Name': name,
    });

  it('admits an active opaque token, and the receipt says introspection', async () => {
    const token = await issuer.token({ clientId: 'agent-a', scope: SCOPE, resource: url });
    assert.ok(token.split('.').length !== 3, 'an opaque token, not a JWT');
    const r = await call(token, 1);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.result.isError ?? false, false, r.text);
    const d = decisions(path.join(dir, 'audit')).at(-1);
    assert.equal(d.agent, 'agent-a');
    assert.equal(d.auth.method, 'introspection');
    assert.equal(d.auth.issuer, issuer.issuer);
    assert.ok(!JSON.stringify(d).includes(token), 'the token is never in a receipt');
    assert.ok(!log.includes(token) && !log.includes('rs-secret'), 'nor in the log');
  });

  it('refuses an unknown opaque token as inactive, before anything is judged', async () => {
    const before = decisions(path.join(dir, 'audit')).length;
    const r = await call('not-a-token-anyone-issued', 2);
    assert.equal(r.status, 401, r.text);
    assert.match(r.headers.get('www-authenticate'), /error="invalid_token"/);
    assert.match(r.headers.get('www-authenticate'), /not active/);
    assert.equal(decisions(path.join(dir, 'audit')).length, before);
  });

  it('refuses a token without the required scope: 403 insufficient_scope', async () => {
    const token = await issuer.token({ clientId: 'agent-a', scope: 'other', resource: url });
    const r = await call(token, 3);
    assert.equal(r.status, 403, r.text);
    assert.match(r.headers.get('www-authenticate'), /error="insufficient_scope"/);
    assert.match(r.headers.get('www-authenticate'), /scope="mcp:tools"/);
  });

  it('finds out a revoked token once cache_s has passed', async () => {
    const token = await issuer.token({ clientId: 'agent-a', scope: SCOPE, resource: url });
    assert.equal((await call(token, 4)).status, 200);
    const rev = await fetch(issuer.revocationEndpoint, {
      method: 'POST',
      headers: {
        Authorization: `Basic ${Buffer.from('agent-a:agent-a-secret').toString('base64')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: `token=${encodeURIComponent(token)}`,
    });
    assert.equal(rev.status, 200, await rev.text());
    await new Promise((r) => setTimeout(r, 1500));  // cache_s: 1
    const r = await call(token, 5);
    assert.equal(r.status, 401, r.text);
    assert.match(r.headers.get('www-authenticate'), /not active/);
  });

  it('answers 503 when the issuer cannot be asked, and never forwards the call', async () => {
    const token = await issuer.token({ clientId: 'agent-a', scope: SCOPE, resource: url });
    const before = decisions(path.join(dir, 'audit')).length;
    await issuer.stop();
    const r = await call(token, 6);
    assert.equal(r.status, 503, r.text);
    assert.ok(r.headers.get('retry-after'));
    assert.match(r.json.error.message, /cannot introspect/);
    assert.equal(decisions(path.join(dir, 'audit')).length, before);
  });
});
