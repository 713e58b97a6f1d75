import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { RateLimiter, formatDuration, rateLimitError } from '../../lib/security/rate-limiter.js';
import type { Principal } from '../../lib/security/types.js';

const alice: Principal = { id: 'alice', kind: 'api-key', scopes: [] };
const bob: Principal = { id: 'bob', kind: 'api-key', scopes: [] };
const T0 = 1_800_000_000_000;

describe('RateLimiter requests per minute', () => {
  it('admits exactly the limit in a burst, then refuses with Retry-After and headers', () => {
    const limiter = RateLimiter.create({ default: { requestsPerMinute: 3 }, slots: 64 });
    const decisions = [0, 1, 2, 3].map(() => limiter.check(alice, { nowMs: T0 }));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions[0]!.headers).toMatchObject({ 'x-ratelimit-limit-requests': '3', 'x-ratelimit-remaining-requests': '2', 'x-ratelimit-reset-requests': '20s' });
    expect(decisions[2]!.headers['x-ratelimit-remaining-requests']).toBe('0');
    const refused = decisions[3]!;
    expect(refused).toMatchObject({ allowed: false, exceeded: 'requests', retryAfterSec: 20 });
    expect(refused.headers['retry-after']).toBe('20');
    // Other principals have their own buckets.
    expect(limiter.check(bob, { nowMs: T0 }).allowed).toBe(true);
    // One interval later one more request fits.
    expect(limiter.check(alice, { nowMs: T0 + 19_999 }).allowed).toBe(false);
    expect(limiter.check(alice, { nowMs: T0 + 20_000 }).allowed).toBe(true);
  });

  it('the 429 carries the OpenAI envelope and all headers', () => {
    const limiter = RateLimiter.create({ default: { requestsPerMinute: 1 }, slots: 8 });
    limiter.check(alice, { nowMs: T0 });
    const err = rateLimitError(limiter.check(alice, { nowMs: T0 }));
    expect(err.status).toBe(429);
    expect(err.toEnvelope().error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });
    expect(err.headers).toMatchObject({ 'retry-after': '60', 'x-ratelimit-limit-requests': '1', 'x-ratelimit-remaining-requests': '0' });
  });

  it('per-principal config beats the key’s own limits, which beat the default', () => {
    const limiter = RateLimiter.create({ default: { requestsPerMinute: 1 }, perPrincipal: { bob: { requestsPerMinute: 5 } }, slots: 8 });
    expect(limiter.limitsFor({ ...alice, limits: { requestsPerMinute: 2 } })).toEqual({ requestsPerMinute: 2 });
    expect(limiter.limitsFor({ ...bob, limits: { requestsPerMinute: 2 } })).toEqual({ requestsPerMinute: 5 });
    expect(limiter.limitsFor({ id: 'carol', kind: 'jwt', scopes: [] })).toEqual({ requestsPerMinute: 1 });
    const unlimited = RateLimiter.create({ slots: 8 });
    expect(unlimited.check(alice)).toEqual({ allowed: true, headers: {}, retryAfterSec: 0 });
  });
});

describe('RateLimiter tokens per minute', () => {
  it('charges tokens as they stream and refuses the next request once over', () => {
    const limiter = RateLimiter.create({ default: { tokensPerMinute: 100, requestsPerMinute: 1000 }, slots: 8 });
    const first = limiter.check(alice, { nowMs: T0 });
    expect(first.allowed).toBe(true);
    expect(first.headers).toMatchObject({ 'x-ratelimit-limit-tokens': '100', 'x-ratelimit-remaining-tokens': '100' });
    for (let i = 0; i < 60; i++) limiter.consume(alice, 1, T0);
    expect(limiter.peekHeaders(alice, T0)['x-ratelimit-remaining-tokens']).toBe('40');
    expect(limiter.check(alice, { nowMs: T0, tokens: 50 })).toMatchObject({ allowed: false, exceeded: 'tokens' });
    expect(limiter.check(alice, { nowMs: T0, tokens: 40 }).allowed).toBe(true);
    limiter.consume(alice, 80, T0); // a stream may overrun: it is never cut, the debt delays the next request
    const refused = limiter.check(alice, { nowMs: T0 });
    expect(refused).toMatchObject({ allowed: false, exceeded: 'tokens' });
    expect(refused.retryAfterSec).toBe(25); // 40 tokens of debt + 1 needed at 0.6 s per token
    expect(refused.headers['x-ratelimit-remaining-tokens']).toBe('0');
    // A refused request does not count against requests/min.
    expect(limiter.peekHeaders(alice, T0)['x-ratelimit-remaining-requests']).toBe('998');
  });

  it('formats reset durations like OpenAI', () => {
    expect([formatDuration(20), formatDuration(1000), formatDuration(1500), formatDuration(360_000), formatDuration(61_000)]).toEqual(['20ms', '1s', '2s', '6m0s', '1m1s']);
  });
});

describe('RateLimiter across worker_threads', () => {
  it('four threads share one limit: exactly the limit is admitted in total', async () => {
    const limiter = RateLimiter.create({ default: { requestsPerMinute: 150 }, slots: 16 });
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import('tsx/esm/api').then(({ register }) => { register(); return import(workerData.module); }).then(({ RateLimiter }) => {
        const limiter = RateLimiter.attach(workerData.buffer, { default: { requestsPerMinute: 150 } });
        let allowed = 0;
        for (let i = 0; i < 100; i++) if (limiter.check({ id: 'shared', kind: 'api-key', scopes: [] }, { nowMs: workerData.now }).allowed) allowed++;
        for (let i = 0; i < 50; i++) limiter.consume({ id: 'other', kind: 'api-key', scopes: [], limits: { tokensPerMinute: 1000 } }, 2, workerData.now);
        parentPort.postMessage(allowed);
      });`;
    const module = new URL('../../lib/security/rate-limiter.ts', import.meta.url).href;
    const runs = [0, 1, 2, 3].map(
      () =>
        new Promise<number>((resolve, reject) => {
          const worker = new Worker(code, { eval: true, workerData: { buffer: limiter.buffer, module, now: T0 } });
          worker.once('message', (n: number) => resolve(n));
          worker.once('error', reject);
        }),
    );
    const counts = await Promise.all(runs);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(150);
    const other: Principal = { id: 'other', kind: 'api-key', scopes: [], limits: { tokensPerMinute: 1000 } };
    expect(limiter.peekHeaders(other, T0)['x-ratelimit-remaining-tokens']).toBe('600');
  }, 60_000);
});
