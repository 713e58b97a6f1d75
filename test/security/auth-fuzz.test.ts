/**
 * Property-based fuzzing of everything that parses an untrusted credential: the Authorization
 * header, the authenticator's dispatch, and JWT verification. The property is always the same: any
 * input ends in a principal only when it is genuinely valid, and otherwise in an AuthError with a
 * known reason — never another exception, never a hang.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SignJWT, base64url } from 'jose';
import { createAuthenticator, parseAuthorizationHeader } from '../../lib/security/authenticator.js';
import { AuthError, type AuthReason } from '../../lib/security/errors.js';
import { createJwtVerifier } from '../../lib/security/jwt.js';

const SECRET = 'fuzzing-secret-which-is-long-enough-for-hs256!';
const KNOWN_REASONS = new Set<AuthReason>([
  'missing_credentials', 'invalid_api_key', 'token_expired', 'token_not_yet_valid', 'bad_signature', 'wrong_audience',
  'wrong_issuer', 'algorithm_not_allowed', 'malformed_token', 'missing_claim', 'unknown_key', 'insufficient_scope',
]);
const quiet = { warn: () => {}, error: () => {} };

function expectAuthError(err: unknown): void {
  expect(err).toBeInstanceOf(AuthError);
  expect(KNOWN_REASONS.has((err as AuthError).reason)).toBe(true);
  expect((err as AuthError).message).not.toContain(SECRET);
}

const headerValue = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ maxLength: 200 }).map((s) => `Bearer ${s}`),
  fc.string({ maxLength: 200 }).map((s) => `bearer\t${s}`),
  fc.constantFrom('Bearer', 'Bearer ', 'Basic abc', 'Bearer a b', 'Bearer \r\n', `Bearer ${'x'.repeat(17_000)}`),
);

describe('fuzz: Authorization header parsing', () => {
  it('returns a token or throws AuthError(malformed_token), nothing else', () => {
    fc.assert(
      fc.property(headerValue, (value) => {
        try {
          const token = parseAuthorizationHeader(value);
          expect(token).not.toBeNull();
          expect(token!).toMatch(/^[A-Za-z0-9\-._~+/]+=*$/);
        } catch (err) {
          expectAuthError(err);
          expect((err as AuthError).reason).toBe('malformed_token');
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('fuzz: the authenticator end to end', () => {
  it('accepts only the configured credentials, refuses everything else with a reason', async () => {
    const auth = await createAuthenticator(
      { tokens: ['the-static-token'], apiKeysFile: join(mkdtempSync(join(tmpdir(), 'abi-fuzz-')), 'keys.json'), jwt: { algorithms: ['HS256'], secret: SECRET } },
      { logger: quiet, env: {} },
    );
    await fc.assert(
      fc.asyncProperty(headerValue, async (value) => {
        try {
          const principal = await auth.authenticate({ headers: { authorization: value } } as IncomingMessage);
          expect(principal).toEqual({ id: 'static:0', kind: 'static-token', scopes: ['admin'] });
        } catch (err) {
          expectAuthError(err);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('fuzz: JWT verification', () => {
  const json = fc.oneof(fc.jsonValue(), fc.record({ alg: fc.constantFrom('HS256', 'none', 'RS256', 'HS512', '', 'ES256'), typ: fc.constant('JWT') }));
  const segment = fc.oneof(
    json.map((v) => base64url.encode(JSON.stringify(v))),
    fc.string({ maxLength: 60 }),
    fc.base64String({ maxLength: 80 }),
    fc.constant(''),
  );

  it('arbitrary three-part and garbage tokens are refused with a known reason', async () => {
    const verifier = await createJwtVerifier({ algorithms: ['HS256'], secret: SECRET }, { logger: quiet });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.tuple(segment, segment, segment).map((p) => p.join('.')), fc.string({ unit: 'binary', maxLength: 200 })), async (token) => {
        await verifier.verify(token).then(
          () => expect.unreachable(`accepted ${token}`),
          (err: unknown) => expectAuthError(err),
        );
      }),
      { numRuns: 1500 },
    );
  });

  it('mutating any character of a valid token never yields a principal other than the signed one', async () => {
    const verifier = await createJwtVerifier({ algorithms: ['HS256'], secret: SECRET }, { logger: quiet });
    const token = await new SignJWT({ scope: 'chat' }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));
    await fc.assert(
      fc.asyncProperty(fc.nat(token.length - 1), fc.constantFrom(...'AQgw-_.=xyz019'.split('')), async (at, ch) => {
        const mutated = token.slice(0, at) + ch + token.slice(at + 1);
        try {
          const principal = await verifier.verify(mutated);
          // Only a mutation that decodes to the same bytes (base64url's unused low bits in the last char) may pass.
          expect(principal).toEqual({ id: 'alice', kind: 'jwt', scopes: ['chat'] });
        } catch (err) {
          expectAuthError(err);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
