// Self-test of the OAuth authorization server harness (tests/e2e/lib/oidc.mjs): the npm
// package oidc-provider, in-process, issuing JWT access tokens (client_credentials grant with
// an RFC 8707 resource indicator) for each signing alg GlassTape is to accept. No GlassTape
// here: this proves the issuer the resource-server tests will rely on. Tokens are decoded
// and their signatures checked with node:crypto alone, against the key the issuer's jwks_uri
// publishes, not with the harness's own helpers.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';

import { withTimeout } from './lib/harness.mjs';

// oidc-provider reports misconfiguration on the console (and warns at import time on an
// unsupported runtime): record every console line from here on, the import included, and
// require that there was none.
const consoleLines = [];
for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
  const orig = console[level].bind(console);
  console[level] = (...args) => {
    consoleLines.push(`${level}: ${args.map(String).join(' ')}`);
    orig(...args);
  };
}
const { ALGS, startIssuer } = await import('./lib/oidc.mjs');

const T = { timeout: 60_000 };
const RESOURCE = 'http://127.0.0.1:8931/mcp';
const OTHER_RESOURCE = 'http://127.0.0.1:8932/mcp';
const TTL = 120;
const CLIENTS = [
  { client_id: 'agent', client_secret: 'agent-secret', scope: 'mcp:tools' },
  { client_id: 'admin', client_secret: 'admin-secret', scope: ['mcp:tools', 'mcp:admin'] },
];

function b64json(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

function decode(token) {
  assert.equal(typeof token, 'string');
  const parts = token.split('.');
  assert.equal(parts.length, 3, `a compact JWS has 3 parts: ${token}`);
  return { parts, header: b64json(parts[0]), payload: b64json(parts[1]) };
}

// JWS signature check (RFC 7515/7518) with node:crypto and a public JWK.
function verifySig(token, jwk, alg) {
  const [h, p, s] = token.split('.');
  const data = Buffer.from(`${h}.${p}`, 'ascii');
  const sig = Buffer.from(s, 'base64url');
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  switch (alg) {
    case 'RS256':
      return crypto.verify('sha256', data, { key, padding: crypto.constants.RSA_PKCS1_PADDING }, sig);
    case 'PS256':
      return crypto.verify('sha256', data,
        { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
    case 'ES256':
      assert.equal(sig.length, 64, 'ES256 signatures are raw r||s, 64 bytes');
      return crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
    case 'EdDSA':
      assert.equal(sig.length, 64, 'Ed25519 signatures are 64 bytes');
      return crypto.verify(null, data, key, sig);
    default:
      throw new Error(`unexpected alg ${alg}`);
  }
}

const KTY = { RS256: 'RSA', PS256: 'RSA', ES256: 'EC', EdDSA: 'OKP' };

async function getJson(url) {
  const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  assert.equal(r.status, 200, `GET ${url}`);
  return r.json();
}

const scopesOf = (payload) => (payload.scope ?? '').split(' ').filter(Boolean);

function refused(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e) => resolve(e.code === 'ECONNREFUSED'));
  });
}

for (const alg of ALGS) {
  describe(`oidc-provider issuer signing ${alg}`, () => {
    let iss;
    before(async () => {
      iss = await withTimeout(startIssuer({
        alg,
        resource: RESOURCE,
        scopes: ['mcp:tools', 'mcp:admin'],
        clients: CLIENTS,
        ttl: TTL,
        extraClaims: (_ctx, _token, client) => ({
          tenant: 'acme',
          roles: client.clientId === 'admin' ? ['admin', 'reader'] : ['reader'],
        }),
      }), 30_000, `oidc-provider start (${alg})`);
    });
    after(async () => {
      if (iss) await withTimeout(iss.stop(), 10_000, 'issuer stop');
    });

    it('serves its metadata at both well-known URLs', T, async () => {
      assert.match(iss.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(iss.metadataUrl, `${iss.issuer}/.well-known/openid-configuration`);
      const oidc = await getJson(iss.metadataUrl);
      assert.equal(oidc.issuer, iss.issuer);
      assert.equal(oidc.jwks_uri, iss.jwksUri);
      assert.equal(oidc.token_endpoint, iss.tokenEndpoint);
      assert.ok(oidc.grant_types_supported.includes('client_credentials'), JSON.stringify(oidc));
      // RFC 8414 metadata, which the MCP authorization spec looks for first: same document.
      const oauth = await getJson(iss.oauthMetadataUrl);
      assert.equal(iss.oauthMetadataUrl, `${iss.issuer}/.well-known/oauth-authorization-server`);
      assert.deepEqual(oauth, oidc);
    });

    it('issues a signed JWT access token with iss, aud, scope, exp and extra claims', T, async () => {
      const t0 = Math.floor(Date.now() / 1000);
      const res = await iss.tokenResponse({ clientId: 'agent', scope: 'mcp:tools', resource: RESOURCE });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.token_type, 'Bearer');
      assert.equal(res.body.expires_in, TTL);
      assert.equal(res.body.scope, 'mcp:tools');
      const token = res.body.access_token;
      const { header, payload, parts } = decode(token);

      assert.equal(header.alg, alg);
      assert.equal(header.typ, 'at+jwt', 'RFC 9068 access token type');
      assert.equal(typeof header.kid, 'string');
      assert.equal(header.kid, iss.kid);

      const jwks = await getJson((await getJson(iss.metadataUrl)).jwks_uri);
      const jwk = jwks.keys.find((k) => k.kid === header.kid);
      assert.ok(jwk, `kid ${header.kid} in the JWKS ${JSON.stringify(jwks)}`);
      assert.equal(jwk.kty, KTY[alg]);
      assert.equal(jwk.alg, alg);
      assert.equal(jwk.use, 'sig');
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) {
        assert.equal(jwk[priv], undefined, `the JWKS must not publish ${priv}`);
      }

      assert.ok(verifySig(token, jwk, alg), `${alg} signature verifies with the published key`);
      const tampered = `${parts[0]}.${Buffer.from(JSON.stringify({ ...payload, scope: 'mcp:admin' }))
        .toString('base64url')}.${parts[2]}`;
      assert.equal(verifySig(tampered, jwk, alg), false, 'a changed payload must not verify');

      assert.equal(payload.iss, iss.issuer);
      // oidc-provider writes aud as a single string, the resource indicator.
      assert.equal(payload.aud, RESOURCE);
      assert.deepEqual(scopesOf(payload), ['mcp:tools']);
      assert.equal(payload.client_id, 'agent');
      assert.equal(payload.sub, 'agent', 'client_credentials: sub is the client_id');
      assert.equal(typeof payload.jti, 'string');
      assert.ok(payload.iat >= t0 - 5 && payload.iat <= Math.floor(Date.now() / 1000) + 5);
      assert.equal(payload.exp - payload.iat, TTL);
      assert.ok(payload.exp > Math.floor(Date.now() / 1000), 'exp is in the future');
      assert.equal(payload.nbf, undefined, 'oidc-provider sets no nbf');
      assert.equal(payload.tenant, 'acme');
      assert.deepEqual(payload.roles, ['reader']);

      // Another client gets its own claims and may have the wider scope.
      const admin = decode(await iss.token({ clientId: 'admin', scope: 'mcp:tools mcp:admin' })).payload;
      assert.deepEqual(scopesOf(admin).sort(), ['mcp:admin', 'mcp:tools']);
      assert.deepEqual(admin.roles, ['admin', 'reader']);
      assert.equal(admin.client_id, 'admin');
    });

    it('refuses a scope the client is not allowed (invalid_scope)', T, async () => {
      await assert.rejects(iss.token({ clientId: 'agent', scope: 'mcp:tools mcp:admin' }), (e) => {
        assert.equal(e.status, 400);
        assert.equal(e.oauthError, 'invalid_scope', JSON.stringify(e.body));
        return true;
      });
    });

    it('rotateKeys(): new tokens carry a new kid that the refreshed JWKS publishes', T, async () => {
      const oldToken = await iss.token({ clientId: 'agent', scope: 'mcp:tools' });
      const oldKid = decode(oldToken).header.kid;
      const { issuer, jwksUri } = iss;

      const r = await iss.rotateKeys();
      assert.equal(r.previousKid, oldKid);
      assert.notEqual(r.kid, oldKid);
      assert.equal(iss.issuer, issuer, 'same issuer (and port) after a rotation');

      const newToken = await iss.token({ clientId: 'agent', scope: 'mcp:tools' });
      const { header, payload } = decode(newToken);
      assert.equal(header.kid, r.kid);
      assert.equal(header.alg, alg);
      assert.equal(payload.iss, issuer);

      const jwks = await getJson(jwksUri);
      const kids = jwks.keys.map((k) => k.kid);
      assert.deepEqual(kids, [r.kid, oldKid], 'new key first, the old one still published');
      const newJwk = jwks.keys[0];
      const oldJwk = jwks.keys[1];
      assert.ok(verifySig(newToken, newJwk, alg), 'the new token verifies with the new key');
      assert.ok(verifySig(oldToken, oldJwk, alg), 'the old token still verifies with the old key');
      assert.equal(verifySig(newToken, oldJwk, alg), false, 'but not with the old key');

      // keepOld: false publishes only the newest key: the old kid is then unknown.
      const r2 = await iss.rotateKeys({ keepOld: false });
      const jwks2 = await getJson(jwksUri);
      assert.deepEqual(jwks2.keys.map((k) => k.kid), [r2.kid]);
      const t2 = decode(await iss.token({ clientId: 'agent', scope: 'mcp:tools' }));
      assert.equal(t2.header.kid, r2.kid);
      assert.ok(!jwks2.keys.some((k) => k.kid === oldKid || k.kid === r.kid));
    });

    it('reported no server errors', () => {
      assert.deepEqual(iss.errors.map(String), []);
    });
  });
}

describe('oidc-provider issuer: resources, scopes, clients', () => {
  let iss;
  before(async () => {
    iss = await withTimeout(startIssuer({
      resources: { [RESOURCE]: ['mcp:tools'], [OTHER_RESOURCE]: ['mcp:tools', 'mcp:admin'] },
      clients: [
        ...CLIENTS,
        { client_id: 'open', client_secret: 'open-secret' }, // no allow-list
        { client_id: 'expired', client_secret: 'expired-secret', scope: 'mcp:tools' },
      ],
      ttl: 60,
      // Tests that need a token GlassTape must refuse do it like this: a dedicated client.
      customizeJwt: (_ctx, token, jwt) => {
        if (token.clientId === 'expired') {
          jwt.payload.exp = jwt.payload.iat - 600;
          jwt.header.typ = 'JWT';
        }
      },
    }), 30_000, 'oidc-provider start');
  });
  after(async () => {
    if (iss) await withTimeout(iss.stop(), 10_000, 'issuer stop');
  });

  it('defaults to RS256 and the first resource', T, async () => {
    assert.equal(iss.alg, 'RS256');
    assert.deepEqual(iss.resources, [RESOURCE, OTHER_RESOURCE]);
    const { header, payload } = decode(await iss.token({ clientId: 'agent', scope: 'mcp:tools' }));
    assert.equal(header.alg, 'RS256');
    assert.equal(payload.aud, RESOURCE);
    assert.equal(payload.exp - payload.iat, 60);
  });

  it('mints a token for another resource: aud is that resource', T, async () => {
    const { payload } = decode(await iss.token({ clientId: 'agent', scope: 'mcp:tools', resource: OTHER_RESOURCE }));
    assert.equal(payload.aud, OTHER_RESOURCE);
  });

  it('refuses a resource it does not know (invalid_target)', T, async () => {
    await assert.rejects(iss.token({ clientId: 'agent', resource: 'http://127.0.0.1:1/elsewhere' }), (e) => {
      assert.equal(e.oauthError, 'invalid_target', JSON.stringify(e.body));
      return true;
    });
  });

  it('drops a scope the client may have but the resource does not accept', T, async () => {
    const res = await iss.tokenResponse({ clientId: 'admin', scope: 'mcp:tools mcp:admin', resource: RESOURCE });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.scope, 'mcp:tools');
    assert.deepEqual(scopesOf(decode(res.body.access_token).payload), ['mcp:tools']);
    const other = decode(await iss.token({ clientId: 'admin', scope: 'mcp:tools mcp:admin', resource: OTHER_RESOURCE }));
    assert.deepEqual(scopesOf(other.payload).sort(), ['mcp:admin', 'mcp:tools']);
  });

  it('drops a scope unknown to the issuer; no scope asked means no scope claim', T, async () => {
    const { payload } = decode(await iss.token({ clientId: 'open', scope: 'mcp:tools made:up' }));
    assert.deepEqual(scopesOf(payload), ['mcp:tools']);
    const none = decode(await iss.token({ clientId: 'open' })).payload;
    assert.equal(none.scope, undefined);
    assert.equal(none.aud, RESOURCE);
  });

  it('without a resource indicator the token is opaque, not a JWT', T, async () => {
    const token = await iss.token({ clientId: 'agent', scope: 'mcp:tools', resource: null });
    assert.equal(token.split('.').length, 1, `opaque: ${token}`);
  });

  it('refuses a wrong client secret (invalid_client, 401)', T, async () => {
    await assert.rejects(iss.token({ clientId: 'agent', clientSecret: 'wrong' }), (e) => {
      assert.equal(e.status, 401);
      assert.equal(e.oauthError, 'invalid_client');
      return true;
    });
  });

  it('customizeJwt can mint an expired token with another typ (still validly signed)', T, async () => {
    const token = await iss.token({ clientId: 'expired', scope: 'mcp:tools' });
    const { header, payload } = decode(token);
    assert.equal(header.typ, 'JWT');
    assert.ok(payload.exp < Math.floor(Date.now() / 1000));
    const jwk = (await getJson(iss.jwksUri)).keys.find((k) => k.kid === header.kid);
    assert.ok(verifySig(token, jwk, 'RS256'));
  });

  it('reported no server errors', () => {
    assert.deepEqual(iss.errors.map(String), []);
  });
});

describe('oidc-provider issuer: stop', () => {
  it('closes the port even with a keep-alive connection open', T, async () => {
    const iss = await withTimeout(startIssuer({ alg: 'ES256' }), 30_000, 'oidc-provider start');
    const port = Number(new URL(iss.issuer).port);
    await getJson(iss.metadataUrl); // fetch keeps this connection alive
    const sock = net.connect(port, '127.0.0.1'); // and an idle raw one
    await new Promise((r, j) => sock.once('connect', r).once('error', j));
    const closed = new Promise((r) => sock.once('close', r));
    await withTimeout(iss.stop(), 10_000, 'issuer stop');
    await withTimeout(closed, 5_000, 'idle connection closed by stop()');
    assert.ok(await refused(port), `port ${port} still accepts connections after stop()`);
    await assert.rejects(fetch(iss.metadataUrl, { signal: AbortSignal.timeout(5_000) }));
  });
});

describe('oidc-provider issuer: quiet', () => {
  it('printed nothing on the console', () => {
    assert.deepEqual(consoleLines, []);
  });
});
