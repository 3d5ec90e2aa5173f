// A real OAuth 2.1 authorization server for the end-to-end tests: panva's oidc-provider,
// in-process on 127.0.0.1 with an ephemeral port. It issues JWT access tokens (RFC 9068,
// `typ: at+jwt`) through the client_credentials grant with a resource indicator (RFC 8707),
// which is what GlassTape, as an MCP resource server, validates against the issuer's JWKS.
//
// What oidc-provider puts in an access token issued here:
//   header   { alg, typ: 'at+jwt', kid }
//   payload  { ...extraClaims, jti, sub: <client_id>, iat, exp, scope: 'a b' (space separated,
//              absent when no scope was granted), client_id, iss: <issuer>, aud: <resource> }
//   `aud` is a single string (the resource indicator), never an array; there is no `nbf`.
//   Extra claims cannot override the standard ones above (oidc-provider spreads them first);
//   `customizeJwt` can, e.g. to mint a token that is already expired or has another `typ`.
//
// oidc-provider is configured so that it prints nothing: our own signing keys, adapter,
// TTL function and getResourceServerInfo, and no devInteractions.
import crypto from 'node:crypto';
import http from 'node:http';

import { Provider, errors as oidcErrors } from 'oidc-provider';

export const ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'];

const FETCH_TIMEOUT_MS = 10_000;

/**
 * A fresh private signing key as a JWK with a random `kid`, `alg` and `use: 'sig'`.
 * @param {'RS256'|'PS256'|'ES256'|'EdDSA'} alg
 * @returns {object} private JWK
 */
export function generateSigningJwk(alg) {
  let pair;
  switch (alg) {
    case 'RS256':
    case 'PS256':
      pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      break;
    case 'ES256':
      pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      break;
    case 'EdDSA':
      pair = crypto.generateKeyPairSync('ed25519');
      break;
    default:
      throw new Error(`unsupported signing alg \`${alg}\` (one of ${ALGS.join(', ')})`);
  }
  const jwk = pair.privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `${alg.toLowerCase()}-${crypto.randomBytes(8).toString('hex')}`, alg, use: 'sig' };
}

/** The public half of a private JWK (drops d, p, q, dp, dq, qi). */
export function publicJwk(jwk) {
  const { d, p, q, dp, dq, qi, oth, ...pub } = jwk;
  return pub;
}

/** Splits a compact JWS into { header, payload, signingInput, signature } (no verification). */
export function decodeJwt(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) throw new Error(`not a compact JWS (${parts.length} parts)`);
  const json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return {
    header: json(parts[0]),
    payload: json(parts[1]),
    signingInput: Buffer.from(`${parts[0]}.${parts[1]}`),
    signature: Buffer.from(parts[2], 'base64url'),
  };
}

/**
 * Verifies a compact JWS signature with node:crypto against a public JWK (no claim checks).
 * RS256: PKCS#1 v1.5 / SHA-256; PS256: PSS / SHA-256, salt 32; ES256: P-256, raw r||s
 * (ieee-p1363); EdDSA: Ed25519. Returns true or false; throws on an unknown alg.
 */
export function verifyJwsSignature(token, jwk) {
  const { header, signingInput, signature } = decodeJwt(token);
  const key = crypto.createPublicKey({ key: publicJwk(jwk), format: 'jwk' });
  switch (header.alg) {
    case 'RS256':
      return crypto.verify('sha256', signingInput,
        { key, padding: crypto.constants.RSA_PKCS1_PADDING }, signature);
    case 'PS256':
      return crypto.verify('sha256', signingInput,
        { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature);
    case 'ES256':
      return crypto.verify('sha256', signingInput, { key, dsaEncoding: 'ieee-p1363' }, signature);
    case 'EdDSA':
    case 'Ed25519':
      return crypto.verify(null, signingInput, key, signature);
    default:
      throw new Error(`unsupported alg \`${header.alg}\``);
  }
}

// A store for the few stateful artifacts oidc-provider keeps (JWT access tokens are not
// stored; this only replaces the built-in memory adapter, which warns on the console).
function memoryAdapterClass() {
  const store = new Map();
  return class TestAdapter {
    constructor(name) {
      this.name = name;
    }

    key(id) {
      return `${this.name}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
      store.set(this.key(id), { payload: structuredClone(payload), expiresAt });
    }

    async find(id) {
      const hit = store.get(this.key(id));
      if (!hit) return undefined;
      if (hit.expiresAt <= Date.now()) {
        store.delete(this.key(id));
        return undefined;
      }
      return structuredClone(hit.payload);
    }

    async findByUserCode(userCode) {
      for (const [k, v] of store) {
        if (k.startsWith(`${this.name}:`) && v.payload.userCode === userCode) return structuredClone(v.payload);
      }
      return undefined;
    }

    async findByUid(uid) {
      for (const [k, v] of store) {
        if (k.startsWith(`${this.name}:`) && v.payload.uid === uid) return structuredClone(v.payload);
      }
      return undefined;
    }

    async consume(id) {
      const hit = store.get(this.key(id));
      if (hit) hit.payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id) {
      store.delete(this.key(id));
    }

    async revokeByGrantId(grantId) {
      for (const [k, v] of store) if (v.payload.grantId === grantId) store.delete(k);
    }
  };
}

const asList = (s) => (Array.isArray(s) ? s : String(s ?? '').split(' ')).filter(Boolean);

/**
 * Starts oidc-provider in-process as a local test authorization server.
 *
 * @param {object} [opts]
 * @param {string|string[]} [opts.resource='http://127.0.0.1:1/mcp'] the resource indicator(s)
 *   (RFC 8707) tokens may be issued for; each becomes the token's `aud`. Any other `resource`
 *   gets `invalid_target`. Give several to mint tokens for a wrong audience.
 * @param {string[]} [opts.scopes=['mcp:tools']] the scopes each resource accepts.
 * @param {Object<string, string[]>} [opts.resources] per-resource scopes, { uri: [scopes] };
 *   overrides `resource`/`scopes` when given.
 * @param {{client_id: string, client_secret: string, scope?: string|string[]}[]} [opts.clients]
 *   confidential clients (client_secret_basic, grant client_credentials only). `scope` is the
 *   client's allow-list; default one client `test-client`/`test-secret` allowed every scope.
 * @param {'RS256'|'PS256'|'ES256'|'EdDSA'} [opts.alg='RS256'] access token signing alg.
 * @param {number} [opts.ttl=300] access token lifetime in seconds (integer >= 1).
 * @param {(ctx, token, client) => (object|undefined|Promise<object|undefined>)} [opts.extraClaims]
 *   extra access token claims, e.g. ({ tenant: 'acme', roles: ['admin'] }); `client` is
 *   oidc-provider's Client (client.clientId). Cannot override jti/sub/iat/exp/scope/client_id/
 *   iss/aud.
 * @param {(ctx, token, jwt: {header: object, payload: object}) => void} [opts.customizeJwt]
 *   oidc-provider's formats.customizers.jwt: may edit the header (merged over alg/typ/kid)
 *   and the payload (any claim, e.g. exp in the past, a foreign iss) before signing.
 * @param {boolean} [opts.opaque=false] issue opaque access tokens for the resources (still
 *   with their audience and scopes, RFC 8707) and serve introspection (RFC 7662) at
 *   `introspectionEndpoint` and revocation (RFC 7009) at `revocationEndpoint`, both for any
 *   registered client.
 * @returns {Promise<Issuer>}
 *
 * @typedef {object} Issuer
 * @property {string} issuer       e.g. 'http://127.0.0.1:41234' (no trailing slash)
 * @property {string} jwksUri      `${issuer}/jwks`
 * @property {string} tokenEndpoint `${issuer}/token`
 * @property {string} metadataUrl  `${issuer}/.well-known/openid-configuration`; the same
 *   document is also served at `${issuer}/.well-known/oauth-authorization-server` (RFC 8414),
 *   as `oauthMetadataUrl`.
 * @property {string} oauthMetadataUrl
 * @property {string[]} resources  the accepted resource indicators, default first
 * @property {string} alg          the signing alg
 * @property {string} kid          the kid new tokens are signed with (changes on rotateKeys)
 * @property {object[]} publishedJwks the public JWKs the jwks_uri serves right now
 * @property {Error[]} errors      server errors oidc-provider reported (not printed)
 * @property {(req?: {clientId?: string, clientSecret?: string, scope?: string|string[],
 *   resource?: string|null}) => Promise<string>} token
 *   the access token (a JWT when `resource` is given, the default being resources[0]; pass
 *   resource: null for no resource indicator, which gets an opaque token). `clientId` defaults
 *   to the first client, `clientSecret` to its configured secret, `scope` to none. Rejects
 *   with an Error carrying .status, .oauthError (e.g. 'invalid_scope', 'invalid_target',
 *   'invalid_client') and .body when the token endpoint refuses.
 * @property {(req?: object) => Promise<{status: number, body: object}>} tokenResponse
 *   the same request, returning the raw token endpoint answer without throwing.
 * @property {() => Promise<{keys: object[]}>} fetchJwks  GET jwks_uri
 * @property {(o?: {keepOld?: boolean}) => Promise<{kid: string, previousKid: string,
 *   published: string[]}>} rotateKeys
 *   signs from now on with a new key (new kid, same alg) and publishes it in the JWKS, first.
 *   keepOld (default true) keeps the previous keys published, as a real issuer does during a
 *   rotation, so tokens already issued still verify; keepOld: false publishes only the new key
 *   (old tokens then carry a kid that is no longer in the JWKS). Done by swapping in a new
 *   oidc-provider instance on the same port and issuer (no state worth keeping: tokens are
 *   JWTs, clients are static).
 * @property {() => Promise<void>} stop  closes the listener and every open connection.
 */
export async function startIssuer(opts = {}) {
  const alg = opts.alg ?? 'RS256';
  if (!ALGS.includes(alg)) throw new Error(`alg must be one of ${ALGS.join(', ')}, not \`${alg}\``);
  const ttl = opts.ttl ?? 300;
  if (!Number.isInteger(ttl) || ttl < 1) throw new Error(`ttl must be a positive integer, not ${ttl}`);

  let resourceScopes;
  if (opts.resources) {
    resourceScopes = new Map(Object.entries(opts.resources).map(([r, s]) => [r, asList(s)]));
  } else {
    const scopes = opts.scopes ?? ['mcp:tools'];
    const list = Array.isArray(opts.resource) ? opts.resource : [opts.resource ?? 'http://127.0.0.1:1/mcp'];
    resourceScopes = new Map(list.map((r) => [r, asList(scopes)]));
  }
  for (const r of resourceScopes.keys()) {
    const u = URL.parse(r);
    if (!u || u.hash) throw new Error(`resource \`${r}\` must be an absolute URI without a fragment`);
  }
  const resources = [...resourceScopes.keys()];
  const allResourceScopes = [...new Set([...resourceScopes.values()].flat())];

  const clientList = (opts.clients ?? [{ client_id: 'test-client', client_secret: 'test-secret' }])
    .map((c) => ({ ...c, scope: c.scope === undefined ? undefined : asList(c.scope) }));
  // Every scope anyone mentions is a "static" scope of the issuer, so asking for one the
  // client's allow-list lacks is invalid_scope (oidc-provider silently passes unknown ones).
  const staticScopes = [...new Set([
    'openid', ...allResourceScopes, ...clientList.flatMap((c) => c.scope ?? []),
  ])];

  // Keys: the signing key first, then whatever stays published.
  let signing = generateSigningJwk(alg);
  let published = [signing];

  const errors = [];
  const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

  function buildProvider(issuer) {
    const configuration = {
      adapter: memoryAdapterClass(),
      jwks: { keys: published.map((k) => ({ ...k })) },
      cookies: { keys: cookieKeys },
      clients: clientList.map((c) => ({
        client_id: c.client_id,
        client_secret: c.client_secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        ...(c.scope ? { scope: c.scope.join(' ') } : {}),
      })),
      clientDefaults: { id_token_signed_response_alg: alg },
      scopes: staticScopes,
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        // RFC 7662 and RFC 7009, for opaque tokens (opts.opaque): a resource server asks about
        // a token as a registered client (client_secret_basic).
        introspection: { enabled: !!opts.opaque, allowedPolicy: async () => true },
        revocation: { enabled: !!opts.opaque, allowedPolicy: async () => true },
        resourceIndicators: {
          enabled: true,
          // No resource parameter: no resource server, so an opaque token (oidc-provider's
          // default); tests that want a JWT pass resource (token() does by default).
          defaultResource: async (_ctx, _client, oneOf) => oneOf,
          useGrantedResource: async () => false,
          getResourceServerInfo: async (_ctx, resourceIndicator) => {
            const scopes = resourceScopes.get(resourceIndicator);
            if (!scopes) throw new oidcErrors.InvalidTarget();
            return {
              scope: scopes.join(' '),
              audience: resourceIndicator,
              accessTokenTTL: ttl,
              accessTokenFormat: opts.opaque ? 'opaque' : 'jwt',
              ...(opts.opaque ? {} : { jwt: { sign: { alg, kid: signing.kid } } }),
            };
          },
        },
      },
      ttl: {
        ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl,
      },
      extraTokenClaims: async (ctx, token) => {
        if (!opts.extraClaims) return undefined;
        return (await opts.extraClaims(ctx, token, token.client)) ?? undefined;
      },
      formats: {
        customizers: {
          jwt: opts.customizeJwt
            ? async (ctx, token, jwt) => {
              jwt.header ??= {};
              await opts.customizeJwt(ctx, token, jwt);
            }
            : undefined,
        },
      },
    };
    const provider = new Provider(issuer, configuration);
    provider.silent = true; // Koa: no console.error for unexpected errors
    provider.on('server_error', (_ctx, err) => errors.push(err));
    return { provider, handle: provider.callback() };
  }

  let current = null;
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    if (!current) {
      res.writeHead(503).end();
      return;
    }
    current.handle(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  try {
    current = buildProvider(issuer);
  } catch (e) {
    server.close();
    server.closeAllConnections();
    throw e;
  }

  const byId = new Map(clientList.map((c) => [c.client_id, c]));
  const form = (s) => encodeURIComponent(s);

  async function tokenResponse(req = {}) {
    const clientId = req.clientId ?? clientList[0]?.client_id;
    const clientSecret = req.clientSecret ?? byId.get(clientId)?.client_secret ?? '';
    const body = new URLSearchParams({ grant_type: 'client_credentials' });
    const scope = asList(req.scope);
    if (scope.length) body.set('scope', scope.join(' '));
    const resource = req.resource === undefined ? resources[0] : req.resource;
    if (resource !== null) body.set('resource', resource);
    const r = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${form(clientId)}:${form(clientSecret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body,
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    const text = await r.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = { raw: text };
    }
    return { status: r.status, body: json };
  }

  const handle = {
    issuer,
    jwksUri: `${issuer}/jwks`,
    tokenEndpoint: `${issuer}/token`,
    introspectionEndpoint: `${issuer}/token/introspection`,
    revocationEndpoint: `${issuer}/token/revocation`,
    metadataUrl: `${issuer}/.well-known/openid-configuration`,
    oauthMetadataUrl: `${issuer}/.well-known/oauth-authorization-server`,
    resources,
    alg,
    errors,
    get kid() {
      return signing.kid;
    },
    get publishedJwks() {
      return published.map(publicJwk);
    },
    tokenResponse,
    async token(req = {}) {
      const { status, body } = await tokenResponse(req);
      if (status !== 200 || typeof body.access_token !== 'string') {
        const e = new Error(`token request failed: HTTP ${status} ${body.error ?? ''}: ${
          body.error_description ?? JSON.stringify(body)}`);
        e.status = status;
        e.oauthError = body.error;
        e.body = body;
        throw e;
      }
      return body.access_token;
    },
    async fetchJwks() {
      const r = await fetch(`${issuer}/jwks`, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (r.status !== 200) throw new Error(`GET ${issuer}/jwks: HTTP ${r.status}`);
      return r.json();
    },
    async rotateKeys({ keepOld = true } = {}) {
      const previous = signing;
      const next = generateSigningJwk(alg);
      const nextPublished = keepOld ? [next, ...published] : [next];
      const saved = { signing, published };
      signing = next;
      published = nextPublished;
      try {
        current = buildProvider(issuer);
      } catch (e) {
        ({ signing, published } = saved);
        throw e;
      }
      return { kid: next.kid, previousKid: previous.kid, published: published.map((k) => k.kid) };
    },
    async stop() {
      current = null;
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      });
    },
  };
  return handle;
}
