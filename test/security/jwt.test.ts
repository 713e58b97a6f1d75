import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, UnsecuredJWT, exportJWK, exportSPKI, generateKeyPair, base64url, type CryptoKey } from 'jose';
import { createJwtVerifier, type JwtConfig, type WarnLogger } from '../../lib/security/jwt.js';
import { AuthError } from '../../lib/security/errors.js';

const SECRET = 'a-test-hmac-secret-that-is-at-least-32-bytes-long';

function capturingLogger(): WarnLogger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, warn: (_obj, msg) => warnings.push(msg), error: () => {} };
}

async function refusal(promise: Promise<unknown>): Promise<AuthError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return err as AuthError;
  }
  throw new Error('expected the token to be refused');
}

function hs256(claims: Record<string, unknown> = {}) {
  return new SignJWT({ scope: 'chat admin', ...claims }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime('5m');
}

describe('JWT verification with an HMAC secret', () => {
  const config: JwtConfig = { algorithms: ['HS256'], secret: SECRET, issuer: 'https://issuer.test', audience: 'abi', clockToleranceSec: 0 };
  const key = new TextEncoder().encode(SECRET);
  const good = () => hs256().setIssuer('https://issuer.test').setAudience('abi');

  it('accepts a valid token and returns the principal with its scopes', async () => {
    const verifier = await createJwtVerifier(config, { logger: capturingLogger() });
    const principal = await verifier.verify(await good().sign(key));
    expect(principal).toEqual({ id: 'alice', kind: 'jwt', scopes: ['chat', 'admin'] });
  });

  it.each([
    ['token_expired', () => good().setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(key)],
    ['token_not_yet_valid', () => good().setNotBefore(Math.floor(Date.now() / 1000) + 600).sign(key)],
    ['bad_signature', () => good().sign(new TextEncoder().encode('another-secret-of-at-least-32-bytes!!'))],
    ['wrong_audience', () => hs256().setIssuer('https://issuer.test').setAudience('someone-else').sign(key)],
    ['wrong_issuer', () => hs256().setIssuer('https://evil.test').setAudience('abi').sign(key)],
    ['algorithm_not_allowed', () => new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject('alice').setIssuer('https://issuer.test').setAudience('abi').setExpirationTime('5m').sign(key)],
    ['missing_claim', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setIssuer('https://issuer.test').setAudience('abi').sign(key)],
    ['malformed_token', async () => 'not.a-jwt'],
    ['malformed_token', async () => 'eyJhbGciOiJIUzI1NiJ9'],
    ['malformed_token', async () => `${base64url.encode('{"alg":')}.${base64url.encode('{}')}.sig`],
  ])('refuses with reason %s', async (reason, makeToken) => {
    const verifier = await createJwtVerifier(config, { logger: capturingLogger() });
    const err = await refusal(verifier.verify(await makeToken()));
    expect(err.reason).toBe(reason);
    expect(err.status).toBe(401);
    expect(err.toEnvelope()).toEqual({ error: { message: err.message, type: 'authentication_error', param: null, code: reason } });
    expect(err.message).not.toContain(SECRET);
  });

  it.each(['HS384', 'HS512'] as const)('verifies %s with the same secret', async (alg) => {
    const verifier = await createJwtVerifier({ algorithms: ['HS256', 'HS384', 'HS512'], secret: SECRET }, { logger: capturingLogger() });
    const token = await new SignJWT({}).setProtectedHeader({ alg }).setSubject('bob').setExpirationTime('1m').sign(key);
    expect((await verifier.verify(token)).id).toBe('bob');
  });

  it('requires exp even when the config lists no required claims', async () => {
    const verifier = await createJwtVerifier({ algorithms: ['HS256'], secret: SECRET }, { logger: capturingLogger() });
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').sign(key);
    expect((await refusal(verifier.verify(token))).reason).toBe('missing_claim');
  });

  it('honours clockToleranceSec for a token that expired moments ago', async () => {
    const token = await hs256().setExpirationTime(Math.floor(Date.now() / 1000) - 10).sign(key);
    const strict = await createJwtVerifier({ algorithms: ['HS256'], secret: SECRET, clockToleranceSec: 0 }, { logger: capturingLogger() });
    const lenient = await createJwtVerifier({ algorithms: ['HS256'], secret: SECRET, clockToleranceSec: 60 }, { logger: capturingLogger() });
    expect((await refusal(strict.verify(token))).reason).toBe('token_expired');
    expect((await lenient.verify(token)).id).toBe('alice');
  });
});

describe('JWT configuration is refused when unsafe', () => {
  it.each([
    [{ algorithms: [] }, 'auth.jwt.algorithms'],
    [{}, 'auth.jwt.algorithms'],
    [{ algorithms: ['none'] }, 'auth.jwt.algorithms'],
    [{ algorithms: ['HS1'] }, 'auth.jwt.algorithms'],
    [{ algorithms: ['HS256'] }, 'auth.jwt.secret'],
    [{ algorithms: ['HS256'], secret: 'short' }, 'auth.jwt.secret'],
    [{ algorithms: ['RS256'] }, 'auth.jwt'],
    [{ algorithms: ['RS256'], publicKey: 'not a pem' }, 'auth.jwt.publicKey'],
  ])('%j → error on %s', async (config, key) => {
    await expect(createJwtVerifier(config as JwtConfig, { logger: capturingLogger() })).rejects.toMatchObject({ code: 'ABI_ERR_CONFIG', key });
  });
});

describe('asymmetric keys', () => {
  it.each(['RS256', 'RS512', 'PS256', 'PS384', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const)('verifies %s with a PEM public key', async (alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const verifier = await createJwtVerifier({ algorithms: [alg], publicKey: await exportSPKI(publicKey) }, { logger: capturingLogger() });
    const token = await new SignJWT({ scp: ['chat'] }).setProtectedHeader({ alg }).setSubject('svc').setExpirationTime('1m').sign(privateKey);
    expect(await verifier.verify(token)).toEqual({ id: 'svc', kind: 'jwt', scopes: ['chat'] });
  });

  it('verifies with a JWK public key and refuses a token signed by another key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const other = await generateKeyPair('ES256');
    const verifier = await createJwtVerifier({ algorithms: ['ES256'], publicKey: await exportJWK(publicKey) }, { logger: capturingLogger() });
    const sign = (k: CryptoKey) => new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('svc').setExpirationTime('1m').sign(k);
    expect((await verifier.verify(await sign(privateKey))).id).toBe('svc');
    expect((await refusal(verifier.verify(await sign(other.privateKey)))).reason).toBe('bad_signature');
  });

  it('refuses a private JWK as a verification key', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    await expect(createJwtVerifier({ algorithms: ['ES256'], publicKey: await exportJWK(privateKey) }, { logger: capturingLogger() })).rejects.toMatchObject({ key: 'auth.jwt.publicKey' });
  });
});

describe('algorithm confusion', () => {
  let pem: string;
  let rsaPrivate: CryptoKey;
  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    pem = await exportSPKI(pair.publicKey);
    rsaPrivate = pair.privateKey;
  });

  /** The classic attack: HS256 over header.payload with the server's RSA public key PEM as HMAC secret. */
  function forgeWithPublicKeyAsHmacSecret(alg: 'HS256'): string {
    const header = base64url.encode(JSON.stringify({ alg, typ: 'JWT' }));
    const payload = base64url.encode(JSON.stringify({ sub: 'mallory', scope: 'admin', exp: Math.floor(Date.now() / 1000) + 300 }));
    const sig = createHmac('sha256', pem).update(`${header}.${payload}`).digest('base64url');
    return `${header}.${payload}.${sig}`;
  }

  it('refuses an HS256 token signed with the RSA public key when only RS256 is allowed', async () => {
    const verifier = await createJwtVerifier({ algorithms: ['RS256'], publicKey: pem }, { logger: capturingLogger() });
    const err = await refusal(verifier.verify(forgeWithPublicKeyAsHmacSecret('HS256')));
    expect(err.reason).toBe('algorithm_not_allowed');
    const real = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('svc').setExpirationTime('1m').sign(rsaPrivate);
    expect((await verifier.verify(real)).id).toBe('svc');
  });

  it('refuses it even when HS256 is also allowed: the public key is never an HMAC secret', async () => {
    const verifier = await createJwtVerifier({ algorithms: ['RS256', 'HS256'], publicKey: pem, secret: SECRET }, { logger: capturingLogger() });
    const err = await refusal(verifier.verify(forgeWithPublicKeyAsHmacSecret('HS256')));
    expect(err.reason).toBe('bad_signature');
    expect(err.message).not.toContain('BEGIN PUBLIC KEY');
  });

  it('refuses an RS256 header against a key set that holds only EC keys', async () => {
    const ec = await generateKeyPair('ES256', { extractable: true });
    const verifier = await createJwtVerifier({ algorithms: ['RS256', 'ES256'], publicKey: await exportSPKI(ec.publicKey) }, { logger: capturingLogger() });
    const rsToken = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('svc').setExpirationTime('1m').sign(rsaPrivate);
    expect((await refusal(verifier.verify(rsToken))).reason).toBe('algorithm_not_allowed');
  });
});

describe('alg none', () => {
  const unsigned = () => new UnsecuredJWT({ scope: 'admin' }).setSubject('nobody').setExpirationTime('5m').encode();

  it('is refused by default', async () => {
    const logger = capturingLogger();
    const verifier = await createJwtVerifier({ algorithms: ['HS256'], secret: SECRET }, { logger });
    expect((await refusal(verifier.verify(unsigned()))).reason).toBe('algorithm_not_allowed');
    expect(logger.warnings).toEqual([]);
  });

  it('is accepted with allowNoneAlgorithm, with a warning at start-up and on every token', async () => {
    const logger = capturingLogger();
    const verifier = await createJwtVerifier({ algorithms: ['HS256'], secret: SECRET, allowNoneAlgorithm: true }, { logger });
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).toMatch(/UNSIGNED JWTs ARE ACCEPTED/);
    expect(await verifier.verify(unsigned())).toEqual({ id: 'nobody', kind: 'jwt', scopes: ['admin'] });
    await verifier.verify(unsigned());
    expect(logger.warnings).toHaveLength(3);
    expect(logger.warnings[2]).toMatch(/accepted an UNSIGNED JWT/);
    const expired = new UnsecuredJWT({}).setSubject('nobody').setExpirationTime(Math.floor(Date.now() / 1000) - 600).encode();
    expect((await refusal(verifier.verify(expired))).reason).toBe('token_expired');
  });
});

describe('JWKS', () => {
  let server: Server;
  let url: string;
  let fetches = 0;
  let privateKey: CryptoKey;
  let jwks: { keys: object[] };

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    privateKey = pair.privateKey;
    jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] };
    server = createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as { port: number };
    url = `http://127.0.0.1:${address.port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const sign = (kid: string) => new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid }).setSubject('svc').setExpirationTime('1m').sign(privateKey);

  it('verifies against a remote key set and caches it', async () => {
    const verifier = await createJwtVerifier({ algorithms: ['RS256'], jwksUrl: url }, { logger: capturingLogger() });
    const before = fetches;
    expect((await verifier.verify(await sign('k1'))).id).toBe('svc');
    expect((await verifier.verify(await sign('k1'))).id).toBe('svc');
    expect(fetches - before).toBe(1);
  });

  it('refuses a kid the set does not hold', async () => {
    const verifier = await createJwtVerifier({ algorithms: ['RS256'], jwksUrl: url }, { logger: capturingLogger() });
    expect((await refusal(verifier.verify(await sign('k-unknown')))).reason).toBe('unknown_key');
  });

  it('an unreachable JWKS URL is a 503 jwks_unavailable (our outage, not a bad token), logged, no hang', async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const port = (dead.address() as { port: number }).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const errors: string[] = [];
    const verifier = await createJwtVerifier({ algorithms: ['RS256'], jwksUrl: `http://127.0.0.1:${port}/jwks.json`, jwksTimeoutMs: 1000 }, { logger: { warn: () => {}, error: (_o, msg) => errors.push(msg) } });
    const err = await verifier.verify(await sign('k1')).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, apiCode: 'jwks_unavailable', headers: { 'retry-after': '5' } });
    expect(errors).toEqual(['JWT signing keys could not be loaded']);
  });

  it('verifies against a local JWKS file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'abi-jwks-'));
    const file = join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify(jwks));
    const verifier = await createJwtVerifier({ algorithms: ['RS256'], jwksFile: file }, { logger: capturingLogger() });
    expect((await verifier.verify(await sign('k1'))).id).toBe('svc');
  });
});
