/**
 * Per-request cost of the security layer: authenticating each credential kind and one rate-limit
 * check, against a baseline measured in the same run (one SHA-256 of a token: the least any token
 * check costs). Writes bench/results/security.json.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { ApiKeyStore } from '../lib/security/api-keys.js';
import { createAuthenticator } from '../lib/security/authenticator.js';
import { RateLimiter } from '../lib/security/rate-limiter.js';

interface Result {
  name: string;
  ops: number;
  nsPerOp: number;
}

async function measure(name: string, ops: number, fn: () => unknown): Promise<Result> {
  // Synchronous operations are timed without an await per call (which would dominate them).
  const isAsync = fn() instanceof Promise;
  for (let i = 0; i < Math.min(200, ops); i++) if (isAsync) await fn(); else fn(); // warm-up
  const start = process.hrtime.bigint();
  if (isAsync) for (let i = 0; i < ops; i++) await fn();
  else for (let i = 0; i < ops; i++) fn();
  const nsPerOp = Number(process.hrtime.bigint() - start) / ops;
  console.log(`${name.padEnd(34)} ${nsPerOp.toFixed(0).padStart(9)} ns/op  (${ops} ops)`);
  return { name, ops, nsPerOp };
}

export default async function securityBench(): Promise<void> {
  const quiet = { warn: () => {}, error: () => {} };
  const secret = 'bench-hmac-secret-that-is-long-enough-0123456789';
  const keysFile = join(mkdtempSync(join(tmpdir(), 'abi-bench-keys-')), 'keys.json');
  const apiKey = new ApiKeyStore(keysFile).create({ name: 'bench' }).key;
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });

  const hs = await createAuthenticator({ tokens: ['static-bench-token'], apiKeysFile: keysFile, jwt: { algorithms: ['HS256'], secret } }, { logger: quiet, env: {} });
  const rs = await createAuthenticator({ apiKeysFile: keysFile, jwt: { algorithms: ['RS256'], publicKey: await exportSPKI(rsa.publicKey) } }, { logger: quiet, env: {} });
  const es = await createAuthenticator({ apiKeysFile: keysFile, jwt: { algorithms: ['ES256'], publicKey: await exportSPKI(ec.publicKey) } }, { logger: quiet, env: {} });
  const jwt = (alg: string) => new SignJWT({ scope: 'chat' }).setProtectedHeader({ alg }).setSubject('user').setExpirationTime('1h');
  const hsToken = await jwt('HS256').sign(new TextEncoder().encode(secret));
  const rsToken = await jwt('RS256').sign(rsa.privateKey);
  const esToken = await jwt('ES256').sign(ec.privateKey);
  const req = (token: string) => ({ headers: { authorization: `Bearer ${token}` } }) as IncomingMessage;

  const limiter = RateLimiter.create({ default: { requestsPerMinute: 1e9, tokensPerMinute: 1e12 } });
  const principal = { id: 'bench', kind: 'api-key' as const, scopes: [] };

  const results: Result[] = [];
  results.push(await measure('baseline: sha256(token)', 200_000, () => createHash('sha256').update('static-bench-token').digest()));
  results.push(await measure('baseline: await of a resolved promise', 200_000, () => Promise.resolve(1)));
  results.push(await measure('static token (authenticate)', 100_000, () => hs.authenticate(req('static-bench-token'))));
  results.push(await measure('API key (authenticate)', 100_000, () => hs.authenticate(req(apiKey))));
  results.push(await measure('JWT HS256', 20_000, () => hs.authenticate(req(hsToken))));
  results.push(await measure('JWT RS256 (2048-bit)', 5_000, () => rs.authenticate(req(rsToken))));
  results.push(await measure('JWT ES256', 5_000, () => es.authenticate(req(esToken))));
  results.push(await measure('rate limit check (rpm+tpm)', 200_000, () => limiter.check(principal)));
  results.push(await measure('rate limit consume (per token)', 500_000, () => limiter.consume(principal, 1)));

  writeFileSync(new URL('./results/security.json', import.meta.url), `${JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await securityBench();
