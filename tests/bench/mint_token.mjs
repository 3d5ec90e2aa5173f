// For the (aauth) row of tests/bench/http_run.sh: an ES256 signing key, its JWKS written to
// DIR/jwks.json (what `jwks_file` names), and an access token for RESOURCE printed on stdout,
// valid for an hour, shaped as oidc-provider issues them (typ at+jwt, aud the resource, scope).
// Usage: node mint_token.mjs DIR ISSUER RESOURCE
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const [dir, issuer, resource] = process.argv.slice(2);
if (!dir || !issuer || !resource) {
  console.error('usage: node mint_token.mjs DIR ISSUER RESOURCE');
  process.exit(2);
}
const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const kid = `bench-${crypto.randomBytes(4).toString('hex')}`;
const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = Math.floor(Date.now() / 1000);
const input = `${b64({ alg: 'ES256', typ: 'at+jwt', kid })}.${b64({
  iss: issuer, aud: resource, sub: 'bench-agent', client_id: 'bench-agent', scope: 'mcp:tools',
  roles: ['bench'], iat: now, exp: now + 3600, jti: crypto.randomUUID(),
})}`;
const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
process.stdout.write(`${input}.${sig.toString('base64url')}\n`);
