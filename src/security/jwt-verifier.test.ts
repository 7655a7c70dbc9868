import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { isModelportError } from '../core/index.js';
import { JwtVerifier } from './jwt-verifier.js';

const ISSUER = 'https://idp.example.com/';
const AUDIENCE = 'modelport-test';
const dir = mkdtempSync(join(tmpdir(), 'modelport-jwt-'));

let signing: { privateKey: CryptoKey; publicKey: CryptoKey };
let stranger: { privateKey: CryptoKey; publicKey: CryptoKey };
let pemFile: string;
let verifier: JwtVerifier;

function token(claims: Record<string, unknown> = {}, options: { key?: CryptoKey; alg?: string; exp?: string | number; kid?: string } = {}): Promise<string> {
  const jwt = new SignJWT({ role: 'infer', ...claims })
    .setProtectedHeader({ alg: options.alg ?? 'ES256', ...(options.kid ? { kid: options.kid } : {}) })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('alice')
    .setIssuedAt();
  if (options.exp !== undefined) jwt.setExpirationTime(options.exp);
  else jwt.setExpirationTime('5m');
  return jwt.sign(options.key ?? signing.privateKey);
}

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isModelportError(error), String(error));
    return { code: error.code, message: error.message };
  }
  assert.fail('expected the token to be refused');
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('JwtVerifier', () => {
  before(async () => {
    signing = await generateKeyPair('ES256', { extractable: true });
    stranger = await generateKeyPair('ES256');
    pemFile = join(dir, 'idp.pem');
    writeFileSync(pemFile, await exportSPKI(signing.publicKey));
    verifier = new JwtVerifier({ keyFile: pemFile, issuer: ISSUER, audience: AUDIENCE });
  });
  after(() => undefined);

  it('accepts a well-signed token and reads its role and models', async () => {
    const { principal, expiresAtMs } = await verifier.verify(await token({ models: ['mlp'] }));
    assert.equal(principal.id, 'jwt:alice');
    assert.equal(principal.role, 'infer');
    assert.deepEqual([...principal.models!], ['mlp']);
    assert.ok(expiresAtMs > Date.now());
  });

  it('takes the strongest known role of a roles array', async () => {
    const { principal } = await verifier.verify(await token({ role: undefined, roles: ['viewer', 'read', 'infer'] }));
    assert.equal(principal.role, 'read');
  });

  it("refuses alg 'none'", async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ role: 'admin', iss: ISSUER, aud: AUDIENCE, sub: 'mallory', exp: now + 300 })}.`;
    const { code, message } = await refusal(verifier.verify(unsigned));
    assert.equal(code, 'MP_ERR_AUTH_INVALID');
    assert.match(message, /algorithm is not accepted|not a well-formed JWT/);
  });

  it('refuses an HS256 token keyed with the public key (algorithm confusion)', async () => {
    const secret = new TextEncoder().encode(await exportSPKI(signing.publicKey));
    const forged = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('5m').sign(secret);
    const { message } = await refusal(verifier.verify(forged));
    assert.match(message, /algorithm is not accepted/);
  });

  it('refuses a token signed by another key', async () => {
    const { message } = await refusal(verifier.verify(await token({}, { key: stranger.privateKey })));
    assert.match(message, /signature does not verify/);
  });

  it('refuses an expired token, beyond the clock tolerance', async () => {
    const { message } = await refusal(verifier.verify(await token({}, { exp: Math.floor(Date.now() / 1000) - 120 })));
    assert.match(message, /expired/);
  });

  it('refuses a token not yet valid', async () => {
    const { message } = await refusal(verifier.verify(await token({ nbf: Math.floor(Date.now() / 1000) + 3600 })));
    assert.match(message, /nbf/);
  });

  it('refuses a wrong audience or issuer, naming the claim', async () => {
    const otherAudience = await new SignJWT({ role: 'infer' }).setProtectedHeader({ alg: 'ES256' }).setIssuer(ISSUER).setAudience('another-service').setExpirationTime('5m').sign(signing.privateKey);
    assert.match((await refusal(verifier.verify(otherAudience))).message, /"aud"/);
    const otherIssuer = await new SignJWT({ role: 'infer' }).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://evil.example/').setAudience(AUDIENCE).setExpirationTime('5m').sign(signing.privateKey);
    assert.match((await refusal(verifier.verify(otherIssuer))).message, /"iss"/);
  });

  it('requires exp', async () => {
    const forever = await new SignJWT({ role: 'infer' }).setProtectedHeader({ alg: 'ES256' }).setIssuer(ISSUER).setAudience(AUDIENCE).sign(signing.privateKey);
    assert.match((await refusal(verifier.verify(forever))).message, /"exp"/);
  });

  it('refuses a valid token that carries no Modelport role, as forbidden', async () => {
    const { code, message } = await refusal(verifier.verify(await token({ role: 'superuser' })));
    assert.equal(code, 'MP_ERR_AUTH_FORBIDDEN');
    assert.match(message, /no Modelport role/);
  });

  it('selects the key of a JWKS by kid', async () => {
    const rsa = await generateKeyPair('RS256');
    const jwks = { keys: [{ ...(await exportJWK(signing.publicKey)), kid: 'ec-1', alg: 'ES256' }, { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256' }] };
    const file = join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify(jwks));
    const fromJwks = new JwtVerifier({ keyFile: file, issuer: ISSUER, audience: AUDIENCE });
    assert.equal((await fromJwks.verify(await token({}, { key: rsa.privateKey, alg: 'RS256', kid: 'rsa-1' }))).principal.role, 'infer');
    assert.match((await refusal(fromJwks.verify(await token({}, { key: stranger.privateKey, kid: 'ec-9' })))).message, /no configured key/);
  });

  it('will not be configured with symmetric algorithms, none, or a private key', async () => {
    assert.throws(() => new JwtVerifier({ keyFile: pemFile, issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'] }), /not accepted/);
    assert.throws(() => new JwtVerifier({ keyFile: pemFile, issuer: ISSUER, audience: AUDIENCE, algorithms: ['none'] }), /not accepted/);
    const privateJwk = join(dir, 'private.jwk');
    writeFileSync(privateJwk, JSON.stringify(await exportJWK(signing.privateKey)));
    assert.throws(() => new JwtVerifier({ keyFile: privateJwk, issuer: ISSUER, audience: AUDIENCE }), /private key/);
  });
});
