import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { BreakerCounters } from '../../lib/native/breaker-counters.js';
import { SharedLayoutError } from '../../lib/errors.js';
import { moduleUrl, packageRoot, runWorker } from './support/workers.js';

const T0 = 1_764_000_000_000;

describe('BreakerCounters in one thread', () => {
  it('counts outcomes in a sliding window of epoch-keyed buckets', () => {
    const c = BreakerCounters.create({ slots: 2, buckets: 5, bucketMs: 100 });
    c.record(0, 'success', T0);
    c.record(0, 'failure', T0 + 150);
    c.record(0, 'timeout', T0 + 250);
    c.record(0, 'failure', T0 + 250);
    expect(c.snapshot(0, T0 + 250).window).toEqual({ success: 1, failure: 2, timeout: 1 });
    // The bucket of T0 leaves the window five buckets later; the others follow one by one.
    expect(c.snapshot(0, T0 + 500).window).toEqual({ success: 0, failure: 2, timeout: 1 });
    expect(c.snapshot(0, T0 + 650).window).toEqual({ success: 0, failure: 1, timeout: 1 });
    expect(c.snapshot(0, T0 + 10_000).window).toEqual({ success: 0, failure: 0, timeout: 0 });
    // A bucket reused for a later epoch starts from zero rather than adding to the stale count.
    c.record(0, 'failure', T0 + 650);
    expect(c.snapshot(0, T0 + 650).window).toEqual({ success: 0, failure: 2, timeout: 1 });
    expect(c.snapshot(1, T0).window).toEqual({ success: 0, failure: 0, timeout: 0 });
  });

  it('tracks consecutive failures: failures and timeouts add, a success resets', () => {
    const c = BreakerCounters.create({ slots: 1 });
    c.record(0, 'failure', T0);
    c.record(0, 'timeout', T0);
    expect(c.snapshot(0, T0).consecutiveFailures).toBe(2);
    c.record(0, 'success', T0);
    expect(c.snapshot(0, T0).consecutiveFailures).toBe(0);
  });

  it('transitions by CAS with the documented side effects', () => {
    const c = BreakerCounters.create({ slots: 1 });
    c.record(0, 'failure', T0);
    expect(c.snapshot(0, T0)).toMatchObject({ state: 'closed', openedAtMs: 0, openings: 0 });
    expect(c.transition(0, 'open', 'half-open', T0)).toBe(false);
    expect(c.transition(0, 'closed', 'open', T0 + 5)).toBe(true);
    expect(c.transition(0, 'closed', 'open', T0 + 6)).toBe(false);
    expect(c.snapshot(0, T0)).toMatchObject({ state: 'open', openedAtMs: T0 + 5, openings: 1, consecutiveFailures: 1 });
    expect(c.transition(0, 'open', 'half-open', T0 + 10)).toBe(true);
    expect(c.snapshot(0, T0)).toMatchObject({ state: 'half-open', openedAtMs: T0 + 5 });
    expect(c.transition(0, 'half-open', 'open', T0 + 20)).toBe(true);
    expect(c.snapshot(0, T0)).toMatchObject({ state: 'open', openedAtMs: T0 + 20, openings: 2 });
    expect(c.transition(0, 'open', 'closed', T0 + 30)).toBe(true);
    expect(c.snapshot(0, T0)).toMatchObject({ state: 'closed', openings: 0, consecutiveFailures: 0 });
  });

  it('gives out exactly maxProbes probes, only in half-open, and resets them on transition', () => {
    const c = BreakerCounters.create({ slots: 1 });
    expect(c.tryAcquireProbe(0, 2)).toBe(false);
    c.transition(0, 'closed', 'open', T0);
    expect(c.tryAcquireProbe(0, 2)).toBe(false);
    c.transition(0, 'open', 'half-open', T0);
    expect([c.tryAcquireProbe(0, 2), c.tryAcquireProbe(0, 2), c.tryAcquireProbe(0, 2)]).toEqual([true, true, false]);
    expect(c.snapshot(0, T0).probesInFlight).toBe(2);
    c.releaseProbe(0);
    expect(c.tryAcquireProbe(0, 2)).toBe(true);
    c.transition(0, 'half-open', 'open', T0);
    expect(c.snapshot(0, T0).probesInFlight).toBe(0);
    c.releaseProbe(0);
    expect(c.snapshot(0, T0).probesInFlight).toBe(0);
  });

  it('rejects bad arguments with clear errors', () => {
    expect(() => BreakerCounters.create({ slots: 0 })).toThrow(/slots/);
    expect(() => BreakerCounters.create({ slots: 1, buckets: 0 })).toThrow(/buckets/);
    expect(() => BreakerCounters.create({ slots: 1, bucketMs: 0.5 })).toThrow(/bucketMs/);
    const c = BreakerCounters.create({ slots: 2 });
    expect(() => c.record(2, 'success', T0)).toThrow(expect.objectContaining({ code: 'ABI_ERR_INVALID_ARG' }));
    expect(() => c.record(-1, 'success', T0)).toThrow(/slot/);
    expect(() => c.record(0, 'maybe' as never, T0)).toThrow(/outcome/);
    expect(() => c.transition(0, 'closed', 'ajar' as never, T0)).toThrow(/transition/);
    expect(() => c.tryAcquireProbe(0, 1e9)).toThrow(/maxProbes/);
    expect(() => c.record(0, 'success', Number.NaN)).toThrow(/nowMs/);
    expect(() => c.snapshot(0, -1)).toThrow(/nowMs/);
    expect(() => c.transition(0, 'closed', 'open', 2 ** 50)).toThrow(/nowMs/);
    expect(() => BreakerCounters.attach(new SharedArrayBuffer(1024))).toThrow(SharedLayoutError);
    for (const bad of ['', '../etc', 'a/b', 'x'.repeat(201), '..', 'sp ace']) {
      expect(() => BreakerCounters.openShared(bad, { slots: 1 })).toThrow(/shm name/);
    }
  });
});

describe('BreakerCounters across worker_threads', () => {
  it('loses no update: 3 workers and the main thread hammering one slot across bucket rollovers', async () => {
    const c = BreakerCounters.create({ slots: 2, buckets: 10, bucketMs: 1000 });
    const perWorker = 30_000;
    const body = `async ({ bc }, { buffer, n, t0 }) => {
      const c = bc.BreakerCounters.attach(buffer);
      for (let i = 0; i < n; i++) {
        const now = t0 + (i % 3) * 1000; // three buckets, each rolled over concurrently by whoever comes first
        c.record(0, i % 2 ? 'failure' : 'timeout', now);
        c.record(1, 'success', now);
      }
      return n;
    }`;
    const workers = [0, 1, 2].map(() =>
      runWorker<number>({ bc: 'lib/native/breaker-counters.ts' }, body, { buffer: c.buffer, n: perWorker, t0: T0 }),
    );
    for (let i = 0; i < perWorker; i++) c.record(0, 'failure', T0 + 2000);
    await Promise.all(workers);
    const snap = c.snapshot(0, T0 + 2000);
    expect(snap.window.failure + snap.window.timeout).toBe(4 * perWorker);
    expect(snap.window.timeout).toBe(3 * (perWorker / 2));
    expect(snap.consecutiveFailures).toBe(4 * perWorker);
    expect(c.snapshot(1, T0 + 2000).window.success).toBe(3 * perWorker);
  });

  it('exactly one worker wins each open → half-open transition, and exactly maxProbes win probes', async () => {
    const slots = 300;
    const c = BreakerCounters.create({ slots });
    for (let s = 0; s < slots; s++) expect(c.transition(s, 'closed', 'open', T0)).toBe(true);
    const control = new SharedArrayBuffer(4 + slots * 8);
    const body = `async ({ bc }, { buffer, control, slots }) => {
      const c = bc.BreakerCounters.attach(buffer);
      const go = new Int32Array(control, 0, 1);
      const wins = new Int32Array(control, 4, slots * 2);
      Atomics.add(go, 0, 1);
      while (Atomics.load(go, 0) < 4) {} // start together so the CASes really collide
      for (let s = 0; s < slots; s++) {
        if (c.transition(s, 'open', 'half-open', 1)) Atomics.add(wins, s * 2, 1);
        for (let k = 0; k < 3; k++) if (c.tryAcquireProbe(s, 2)) Atomics.add(wins, s * 2 + 1, 1);
      }
      return true;
    }`;
    await Promise.all(
      [0, 1, 2, 3].map(() =>
        runWorker({ bc: 'lib/native/breaker-counters.ts' }, body, { buffer: c.buffer, control, slots }),
      ),
    );
    const wins = new Int32Array(control, 4, slots * 2);
    for (let s = 0; s < slots; s++) {
      expect(wins[s * 2]).toBe(1);
      expect(wins[s * 2 + 1]).toBe(2);
      expect(c.snapshot(s, T0)).toMatchObject({ state: 'half-open', probesInFlight: 2 });
    }
  });
});

describe('BreakerCounters across processes (named shm segment)', () => {
  const name = `/abi-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  afterAll(() => {
    BreakerCounters.unlinkShared(name);
  });

  /** Runs a node child that imports the wrapper through tsx; resolves with its stdout, rejects on exit != 0. */
  function child(src: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], {
        cwd: packageRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exit ${code}: ${err}`))));
    });
  }

  it('children and the parent share counters with no lost updates and one half-open winner per slot', async () => {
    const slots = 200;
    const c = BreakerCounters.openShared(name, { slots: slots + 1 });
    for (let s = 1; s <= slots; s++) c.transition(s, 'closed', 'open', T0);
    const n = 20_000;
    const src = `
      import { BreakerCounters } from ${JSON.stringify(moduleUrl('lib/native/breaker-counters.ts'))};
      const c = BreakerCounters.openShared(${JSON.stringify(name)}, { slots: ${slots + 1} });
      c.record(0, 'success', ${T0}); // announce: one success each
      while (c.snapshot(0, ${T0}).state !== 'open') await new Promise((r) => setTimeout(r, 1));
      let won = 0;
      for (let i = 0; i < ${n}; i++) c.record(0, 'failure', ${T0});
      for (let s = 1; s <= ${slots}; s++) if (c.transition(s, 'open', 'half-open', ${T0 + 1})) won++;
      process.stdout.write(String(won));
    `;
    const kids = [child(src), child(src), child(src)];
    // The start barrier: slot 0 goes open once all three children have mapped the segment.
    while (c.snapshot(0, T0).window.success < 3) await new Promise((r) => setTimeout(r, 5));
    expect(c.transition(0, 'closed', 'open', T0)).toBe(true);
    const won = (await Promise.all(kids)).map(Number);
    expect(won.reduce((a, b) => a + b, 0)).toBe(slots);
    expect(c.snapshot(0, T0).window.failure).toBe(3 * n);
    for (let s = 1; s <= slots; s++) expect(c.snapshot(s, T0).state).toBe('half-open');
    c.close();
  });

  it('a child opening the segment with another shape fails clearly with ABI_ERR_SHM_LAYOUT', async () => {
    const c = BreakerCounters.openShared(name, { slots: 201 });
    const src = `
      import { BreakerCounters } from ${JSON.stringify(moduleUrl('lib/native/breaker-counters.ts'))};
      for (const opts of [{ slots: 7 }, { slots: 201, bucketMs: 250 }]) {
        try { BreakerCounters.openShared(${JSON.stringify(name)}, opts); process.stdout.write('opened;'); }
        catch (err) { process.stdout.write(err.code + ':' + err.message + ';'); }
      }
    `;
    const out = await child(src);
    const [shape, bucketMs] = out.split(';');
    expect(shape).toMatch(/^ABI_ERR_SHM_LAYOUT:.*created with another shape/);
    expect(bucketMs).toMatch(/^ABI_ERR_SHM_LAYOUT:.*has slots=201 buckets=10 bucketMs=1000, asked for .*bucketMs=250/);
    c.close();
    expect(() => c.snapshot(0, T0)).toThrow(/closed/);
  });

  it('unlinkShared removes the name; a later open starts from zero', () => {
    const other = `${name}-b`;
    const a = BreakerCounters.openShared(other, { slots: 1 });
    a.record(0, 'failure', T0);
    expect(BreakerCounters.unlinkShared(other)).toBe(true);
    expect(BreakerCounters.unlinkShared(other)).toBe(false);
    const b = BreakerCounters.openShared(other, { slots: 1 });
    expect(b.snapshot(0, T0).window.failure).toBe(0);
    expect(a.snapshot(0, T0).window.failure).toBe(1); // the old mapping lives on until closed
    expect(b.buffer).toBeNull();
    BreakerCounters.unlinkShared(other);
  });
});
