import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { BreakerCounters } from '../../lib/native/breaker-counters.js';
import { CircuitBreaker } from '../../lib/recovery/circuit-breaker.js';
import { createRecoveryEmitter, type BreakerEvent } from '../../lib/recovery/events.js';

function setup(opts: ConstructorParameters<typeof CircuitBreaker>[3] = {}) {
  let now = 1_000_000;
  const counters = BreakerCounters.create({ slots: 2, buckets: 10, bucketMs: 100 });
  const events = createRecoveryEmitter();
  const log: BreakerEvent[] = [];
  for (const n of ['breaker:open', 'breaker:half-open', 'breaker:close'] as const) events.on(n, (e) => log.push(e));
  const breaker = new CircuitBreaker('b', counters, 0, opts, events, () => now);
  return { breaker, counters, log, tick: (ms: number) => (now += ms) };
}

describe('CircuitBreaker', () => {
  it('opens after consecutiveFailures and rejects with the time until the probe', () => {
    const { breaker, log, tick } = setup({ consecutiveFailures: 3, minRequests: 100, openMs: 1000 });
    for (let i = 0; i < 2; i++) breaker.onFailure(false, 'failure', 'http_503');
    expect(breaker.admit()).toEqual({ admitted: true, probe: false });
    breaker.onFailure(false, 'timeout', 'timeout');
    expect(log.map((e) => [e.to, e.reason, e.openMs])).toEqual([['open', 'consecutive_failures:timeout', 1000]]);
    tick(400);
    expect(breaker.admit()).toEqual({ admitted: false, retryInMs: 600 });
    expect(breaker.health()).toMatchObject({ state: 'open', openings: 1, retryInMs: 600 });
  });

  it('a success resets the consecutive count', () => {
    const { breaker } = setup({ consecutiveFailures: 2, minRequests: 100 });
    breaker.onFailure(false, 'failure', 'x');
    breaker.onSuccess(false);
    breaker.onFailure(false, 'failure', 'x');
    expect(breaker.health().state).toBe('closed');
  });

  it('opens on errorRate only once minRequests outcomes are in the window', () => {
    const { breaker } = setup({ consecutiveFailures: 100, errorRate: 0.5, minRequests: 10, windowMs: 1000 });
    for (let i = 0; i < 4; i++) {
      breaker.onSuccess(false);
      breaker.onFailure(false, 'failure', 'x');
    }
    expect(breaker.health().state).toBe('closed'); // 8 outcomes < minRequests
    breaker.onSuccess(false);
    breaker.onFailure(false, 'failure', 'x'); // 10 outcomes, 5 failures = 0.5
    expect(breaker.health().state).toBe('open');
  });

  it('old outcomes leave the window', () => {
    const { breaker, tick } = setup({ consecutiveFailures: 100, errorRate: 0.5, minRequests: 4, windowMs: 1000 });
    breaker.onFailure(false, 'failure', 'x');
    breaker.onFailure(false, 'failure', 'x');
    breaker.onSuccess(false);
    tick(2000);
    breaker.onSuccess(false);
    breaker.onFailure(false, 'failure', 'x');
    expect(breaker.health().state).toBe('closed');
    expect(breaker.health().window).toEqual({ success: 1, failure: 1, timeout: 0 });
  });

  it('half-open admits exactly halfOpenProbes; a probe success closes, a failure reopens for longer (capped)', () => {
    const { breaker, log, tick } = setup({ consecutiveFailures: 1, openMs: 100, openGrowth: 3, maxOpenMs: 500, halfOpenProbes: 2 });
    breaker.onFailure(false, 'failure', 'x');
    tick(100);
    const a = breaker.admit();
    const b = breaker.admit();
    const c = breaker.admit();
    expect([a, b]).toEqual([
      { admitted: true, probe: true },
      { admitted: true, probe: true },
    ]);
    expect(c.admitted).toBe(false);
    breaker.onFailure(true, 'failure', 'x'); // probe failed → open again, 300 ms
    breaker.releaseUnused(true);
    expect(breaker.health()).toMatchObject({ state: 'open', openings: 2, retryInMs: 300 });
    tick(300);
    expect(breaker.admit()).toEqual({ admitted: true, probe: true });
    breaker.onFailure(true, 'failure', 'x'); // third opening: 900 capped to 500
    expect(breaker.health().retryInMs).toBe(500);
    tick(500);
    expect(breaker.admit()).toEqual({ admitted: true, probe: true });
    breaker.onSuccess(true);
    expect(breaker.health()).toMatchObject({ state: 'closed', openings: 0 });
    expect(log.map((e) => `${e.from}->${e.to}`)).toEqual([
      'closed->open',
      'open->half-open',
      'half-open->open',
      'open->half-open',
      'half-open->open',
      'open->half-open',
      'half-open->closed',
    ]);
  });

  it('validates options', () => {
    const counters = BreakerCounters.create({ slots: 1 });
    expect(() => new CircuitBreaker('x', counters, 0, { errorRate: 2 })).toThrow(/errorRate/);
    expect(() => new CircuitBreaker('x', counters, 0, { openMs: 1000, maxOpenMs: 10 })).toThrow(/maxOpenMs/);
    expect(() => new CircuitBreaker('x', counters, 0, { halfOpenProbes: 0 })).toThrow(/halfOpenProbes/);
  });

  it('worker_threads sharing the counters agree: one opening reported, exactly halfOpenProbes probe winners', async () => {
    const counters = BreakerCounters.create({ slots: 1, buckets: 10, bucketMs: 1000 });
    const workers = 4;
    const nowBase = Date.now();
    const run = (phase: 'fail' | 'probe') =>
      Promise.all(
        Array.from({ length: workers }, () => {
          // Inline CJS bootstrap that registers tsx, then loads the TypeScript worker module.
          const bootstrap = `
            const { workerData } = require('node:worker_threads');
            import('tsx/esm/api').then(({ register }) => { register(); return import(workerData.module); });`;
          const w = new Worker(bootstrap, {
            eval: true,
            workerData: { module: new URL('./breaker-worker.ts', import.meta.url).href, buffer: counters.buffer, phase, now: phase === 'fail' ? nowBase : nowBase + 10_000 },
          });
          return new Promise<{ opened: number; probes: number }>((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
          }).finally(() => w.terminate());
        }),
      );
    const failed = await run('fail');
    expect(failed.reduce((s, r) => s + r.opened, 0)).toBe(1);
    const local = new CircuitBreaker('shared', counters, 0, { consecutiveFailures: 5, openMs: 5000, halfOpenProbes: 2 }, undefined, () => nowBase + 1);
    expect(local.health().state).toBe('open');
    const probed = await run('probe');
    expect(probed.reduce((s, r) => s + r.probes, 0)).toBe(2);
  });
});
