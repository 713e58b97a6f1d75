import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadBinding } from '../../lib/native/binding.js';
import { TokenRing, TokenRingGoneError } from '../../lib/native/token-ring.js';
import { moduleUrl, packageRoot, runWorker } from './support/workers.js';

interface RingBinding {
  push(view: Int32Array, bytes: Uint8Array): number;
  pushString(view: Int32Array, text: string): number;
  close(view: Int32Array, status: number): void;
  bytesAhead(view: Int32Array, afterSeq: number): number;
  aboveHighWater(view: Int32Array): boolean;
  produceOnThread(view: Int32Array, payload: Uint8Array, lengths: Uint32Array, repeat: number, close: number): Promise<number>;
}
const native = () => loadBinding().ring as RingBinding;

/** Deterministic payload for a seq, so any reader can check the bytes it got without shared state. */
function payloadFor(seq: number, maxLen: number): Uint8Array {
  const len = (seq * 7919) % (maxLen + 1);
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (seq * 31 + i * 17) & 0xff;
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe('TokenRing basics', () => {
  it('assigns seqs 0,1,2… and reads back exact bytes and text', () => {
    const ring = TokenRing.create({ capacityBytes: 4096 });
    expect(ring.push('Hello')).toBe(0);
    expect(ring.push(' wörld ✓')).toBe(1);
    expect(ring.push(new Uint8Array([0, 255, 7]))).toBe(2);
    expect(ring.push('')).toBe(3);
    const recs = ring.read(-1);
    expect(recs.map((r) => r.seq)).toEqual([0, 1, 2, 3]);
    expect(recs[0]!.text()).toBe('Hello');
    expect(recs[1]!.text()).toBe(' wörld ✓');
    expect([...recs[2]!.bytes]).toEqual([0, 255, 7]);
    expect(recs[3]!.bytes.length).toBe(0);
    expect(ring.read(1).map((r) => r.seq)).toEqual([2, 3]);
    expect(ring.read(0, 2).map((r) => r.seq)).toEqual([1, 2]);
    expect(ring.read(3)).toEqual([]);
    expect(ring.read(10)).toEqual([]);
    expect(ring.nextSeq).toBe(4);
    expect(ring.oldestSeq).toBe(0);
  });

  it('validates options and arguments with clear errors', () => {
    expect(() => TokenRing.create({ capacityBytes: 1000 })).toThrow(/power of two/);
    expect(() => TokenRing.create({ capacityBytes: 128 })).toThrow(/power of two/);
    expect(() => TokenRing.create({ capacityBytes: 256, maxRecordBytes: 250 })).toThrow(/maxRecordBytes/);
    expect(() => TokenRing.create({ capacityBytes: 256, highWaterBytes: 0 })).toThrow(/highWaterBytes/);
    const ring = TokenRing.create({ capacityBytes: 256, maxRecordBytes: 16 });
    expect(() => ring.push('x'.repeat(17))).toThrow(expect.objectContaining({ code: 'ABI_ERR_INVALID_ARG' }));
    expect(() => ring.push('é'.repeat(9))).toThrow(/exceeds maxRecordBytes/);
    expect(() => ring.read(-2)).toThrow(/afterSeq/);
    expect(() => ring.read(1.5)).toThrow(/afterSeq/);
    expect(() => TokenRing.attach(new SharedArrayBuffer(512))).toThrow(/layout/);
  });

  it('overwrites the oldest records when full and reports them gone with oldestSeq', () => {
    const ring = TokenRing.create({ capacityBytes: 256, maxRecordBytes: 32 });
    for (let i = 0; i < 100; i++) ring.push(`tok-${i}`);
    expect(ring.nextSeq).toBe(100);
    const oldest = ring.oldestSeq;
    expect(oldest).toBeGreaterThan(80);
    const recs = ring.read(oldest - 1);
    expect(recs.map((r) => r.text())).toEqual(Array.from({ length: 100 - oldest }, (_, i) => `tok-${oldest + i}`));
    let gone: unknown;
    try {
      ring.read(-1);
    } catch (err) {
      gone = err;
    }
    expect(gone).toBeInstanceOf(TokenRingGoneError);
    expect(gone).toMatchObject({ code: 'ABI_ERR_RING_GONE', oldestSeq: oldest });
  });

  it('close() records the status, rejects further pushes, and attach() sees the same ring', () => {
    const ring = TokenRing.create({ capacityBytes: 1024 });
    ring.push('a');
    const other = TokenRing.attach(ring.buffer);
    expect(other.read(-1)[0]!.text()).toBe('a');
    expect(other.status).toBe('open');
    ring.close('error');
    expect(other.closed).toBe(true);
    expect(other.status).toBe('error');
    expect(() => ring.push('b')).toThrow(/after close/);
  });

  it('tracks bytesAhead and the high-water mark against the last read', () => {
    const ring = TokenRing.create({ capacityBytes: 1024, highWaterBytes: 100 });
    expect(ring.aboveHighWater).toBe(false);
    for (let i = 0; i < 6; i++) ring.push('0123456789abcdef'); // 28 bytes per record
    expect(ring.bytesAhead(-1)).toBe(6 * 28);
    expect(ring.bytesAhead(3)).toBe(2 * 28);
    expect(ring.bytesAhead(5)).toBe(0);
    expect(ring.aboveHighWater).toBe(true);
    ring.read(-1, 4);
    expect(ring.aboveHighWater).toBe(false);
  });

  it('shares the layout with the native writer: native push, pushString, close', () => {
    const ring = TokenRing.create({ capacityBytes: 256, maxRecordBytes: 40 });
    ring.push('js');
    expect(native().pushString(ring.nativeView, 'natïve')).toBe(1);
    expect(native().push(ring.nativeView, new Uint8Array([1, 2, 3]))).toBe(2);
    expect(ring.push('js again')).toBe(3);
    for (let i = 0; i < 40; i++) native().pushString(ring.nativeView, `n${i}`);
    expect(ring.read(ring.oldestSeq - 1).at(-1)!.text()).toBe('n39');
    expect(() => native().pushString(ring.nativeView, 'x'.repeat(41))).toThrow(/maxRecordBytes/);
    expect(() => native().push(new Int32Array(64), new Uint8Array(1))).toThrow(/does not hold a token ring/);
    native().close(ring.nativeView, 2);
    expect(ring.status).toBe('error');
  });
});

describe('TokenRing properties (fast-check)', () => {
  it('wrap-around and overwrite (JS and native writers mixed): every read is the exact bytes or Gone, never wrong data', () => {
    const op = fc.oneof(
      {
        arbitrary: fc.record({
          push: fc.integer({ min: 0, max: 70 }),
          salt: fc.integer({ min: 0, max: 255 }),
          viaNative: fc.boolean(),
        }),
        weight: 4,
      },
      { arbitrary: fc.record({ readBack: fc.integer({ min: -3, max: 80 }), max: fc.integer({ min: 1, max: 50 }) }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 12 }), fc.array(op, { minLength: 1, maxLength: 300 }), (log2, ops) => {
        const capacity = 2 ** log2;
        const ring = TokenRing.create({ capacityBytes: capacity, maxRecordBytes: 70 });
        const model: Uint8Array[] = [];
        for (const o of ops) {
          if ('push' in o) {
            const bytes = Uint8Array.from({ length: o.push }, (_, i) => (o.salt + i * 13) & 0xff);
            // JS and C++ writers interleave on one ring: the layout and the eviction rule are shared.
            expect(o.viaNative ? native().push(ring.nativeView, bytes) : ring.push(bytes)).toBe(model.length);
            model.push(bytes);
            // The newest record is always held, and what is held fits the capacity.
            expect(ring.oldestSeq).toBeLessThan(ring.nextSeq);
            expect(ring.bytesAhead(ring.oldestSeq - 1)).toBeLessThanOrEqual(capacity);
            // The C++ writer's backpressure view agrees with the JS one.
            const probe = Math.max(-1, model.length - 1 - o.salt);
            expect(native().bytesAhead(ring.nativeView, probe)).toBe(ring.bytesAhead(probe));
            expect(native().aboveHighWater(ring.nativeView)).toBe(ring.aboveHighWater);
            continue;
          }
          const afterSeq = Math.max(-1, model.length - 1 - o.readBack);
          try {
            const recs = ring.read(afterSeq, o.max);
            const expected = model.slice(afterSeq + 1, afterSeq + 1 + o.max);
            expect(recs.map((r) => r.seq)).toEqual(expected.map((_, i) => afterSeq + 1 + i));
            recs.forEach((r, i) => expect(r.bytes).toEqual(expected[i]));
          } catch (err) {
            expect(err).toBeInstanceOf(TokenRingGoneError);
            expect(afterSeq + 1).toBeLessThan(ring.oldestSeq);
            expect((err as TokenRingGoneError).oldestSeq).toBe(ring.oldestSeq);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('random reads racing a worker producer that overwrites: exact bytes or Gone, never torn data', async () => {
    const ring = TokenRing.create({ capacityBytes: 1024, maxRecordBytes: 60 });
    const total = 400_000;
    const producer = runWorker<number>(
      { ring: 'lib/native/token-ring.ts' },
      `async ({ ring }, { buffer, total, maxLen }) => {
        const r = ring.TokenRing.attach(buffer);
        for (let seq = 0; seq < total; seq++) {
          const len = (seq * 7919) % (maxLen + 1);
          const out = new Uint8Array(len);
          for (let i = 0; i < len; i++) out[i] = (seq * 31 + i * 17) & 0xff;
          r.push(out);
        }
        r.close();
        return total;
      }`,
      { buffer: ring.buffer, total, maxLen: 60 },
    );
    // The read plan is drawn by fast-check; the loop runs it in a tight cycle (no yielding) until the
    // producer closes the ring, so reads genuinely race the worker's overwrites on the other core.
    const plan = fc.sample(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 64 })), 5000);
    expect(await ring.wait(-1, 20_000)).toBe('ready');
    let checked = 0;
    let gone = 0;
    for (let i = 0; !ring.closed; i++) {
      const [back, max] = plan[i % plan.length]!;
      const afterSeq = Math.max(-1, ring.nextSeq - 1 - back);
      try {
        for (const rec of ring.read(afterSeq, max)) {
          // A plain loop keeps each read cheap, so the reads race the producer thousands of times.
          if (!sameBytes(rec.bytes, payloadFor(rec.seq, 60))) expect(rec.bytes).toEqual(payloadFor(rec.seq, 60));
          checked++;
        }
      } catch (err) {
        expect(err).toBeInstanceOf(TokenRingGoneError);
        gone++;
      }
    }
    expect(await producer).toBe(total);
    expect(checked).toBeGreaterThan(0);
    const tail = ring.read(ring.oldestSeq - 1);
    expect(tail.at(-1)!.seq).toBe(total - 1);
    tail.forEach((rec) => expect(rec.bytes).toEqual(payloadFor(rec.seq, 60)));
    console.log(`racing reads: ${checked} records verified, ${gone} reads reported gone`);
  });
});

describe('TokenRing across threads', () => {
  it('a worker_thread producer and a main-thread consumer: every token in order, no loss without overwrite', async () => {
    const ring = TokenRing.create({ capacityBytes: 1 << 20 });
    const n = 20_000;
    const producer = runWorker<number>(
      { ring: 'lib/native/token-ring.ts' },
      `async ({ ring }, { buffer, n }) => {
        const r = ring.TokenRing.attach(buffer);
        for (let i = 0; i < n; i++) {
          r.push('t' + i);
          if (i % 1000 === 0) await new Promise((res) => setTimeout(res, 1));
        }
        r.close('done');
        return n;
      }`,
      { buffer: ring.buffer, n },
    );
    const got: string[] = [];
    let after = -1;
    for (;;) {
      const outcome = await ring.wait(after, 10_000);
      expect(outcome).not.toBe('timeout');
      for (const rec of ring.read(after)) {
        got.push(rec.text());
        after = rec.seq;
      }
      if (outcome === 'closed') break;
    }
    await producer;
    expect(got.length).toBe(n);
    expect(got[0]).toBe('t0');
    expect(got[n - 1]).toBe(`t${n - 1}`);
    expect(got.every((t, i) => t === `t${i}`)).toBe(true);
    expect(ring.status).toBe('done');
  });

  it('a native C++ producer thread wakes a parked JS wait() through the coalesced thread-safe function', async () => {
    const ring = TokenRing.create({ capacityBytes: 1 << 16 });
    const words = ['Once', ' upon', ' a', ' time', ' ✓'];
    const payload = new TextEncoder().encode(words.join(''));
    const lengths = Uint32Array.from(words.map((w) => new TextEncoder().encode(w).length));
    // Parked first: only the producer's TSFN hop can resolve this wait (no timeout is set).
    const parked = ring.wait(-1);
    const done = native().produceOnThread(ring.nativeView, payload, lengths, 400, 1);
    expect(await parked).toBe('ready');
    const texts: string[] = [];
    let after = -1;
    for (;;) {
      const outcome = await ring.wait(after);
      for (const rec of ring.read(after)) {
        texts.push(rec.text());
        after = rec.seq;
      }
      if (outcome === 'closed') break;
    }
    expect(await done).toBe(2000);
    expect(texts.length).toBe(2000);
    expect(texts.slice(0, 5)).toEqual(words);
    expect(texts.join('')).toBe(words.join('').repeat(400));
    expect(ring.status).toBe('done');
  });

  it('native producer overwriting while JS reads at random seqs: exact bytes or Gone', async () => {
    const ring = TokenRing.create({ capacityBytes: 4096, maxRecordBytes: 60 });
    const n = 97; // distinct payloads, repeated: record seq s carries payload s % n
    const parts = Array.from({ length: n }, (_, s) => payloadFor(s, 60));
    const payload = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    parts.reduce((off, p) => (payload.set(p, off), off + p.length), 0);
    const done = native().produceOnThread(ring.nativeView, payload, Uint32Array.from(parts.map((p) => p.length)), 100000, 1);
    let checked = 0;
    let gone = 0;
    while (!ring.closed) {
      // Reads start right at the oldest record, the one the producer overwrites next: the window where
      // only the after-copy seqlock check tells a torn copy from a good one.
      const afterSeq = ring.oldestSeq - 1 + Math.floor(Math.random() * 4);
      try {
        for (const rec of ring.read(afterSeq, 16)) {
          if (!sameBytes(rec.bytes, parts[rec.seq % n]!)) expect(rec.bytes).toEqual(parts[rec.seq % n]);
          checked++;
        }
      } catch (err) {
        expect(err).toBeInstanceOf(TokenRingGoneError);
        gone++;
      }
    }
    expect(await done).toBe(n * 100000);
    console.log(`native race: ${checked} records verified, ${gone} reads reported gone`);
    expect(checked).toBeGreaterThan(0);
  });

  it('terminating a worker while its C++ producer thread is mid-stream does not crash the process', () => {
    // In a child process, so a use-after-free (ring memory, the wake TSFN, or the addon's code being
    // dlclosed with the worker) shows as a non-zero exit instead of killing the test runner.
    const src = `
      import { Worker } from 'node:worker_threads';
      const body = \`
        (async () => {
          const { register } = await import('tsx/esm/api');
          register();
          const { TokenRing } = await import(${JSON.stringify(moduleUrl('lib/native/token-ring.ts'))});
          const { loadBinding } = await import(${JSON.stringify(moduleUrl('lib/native/binding.ts'))});
          const ring = TokenRing.create({ capacityBytes: 4096 });
          loadBinding().ring.produceOnThread(ring.nativeView, new TextEncoder().encode('abcdef'), Uint32Array.of(3, 3), 5e6, 1);
          (await import('node:worker_threads')).parentPort.postMessage('producing');
          let after = -1;
          for (;;) {
            await ring.wait(after, 20);
            try { const r = ring.read(after); if (r.length) after = r.at(-1).seq; } catch { after = ring.oldestSeq - 1; }
          }
        })();
      \`;
      for (let i = 0; i < 8; i++) {
        const w = new Worker(body, { eval: true });
        await new Promise((r) => w.once('message', r));
        await new Promise((r) => setTimeout(r, 5 + i * 7));
        await w.terminate();
      }
      console.log('survived');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', src], { cwd: packageRoot, encoding: 'utf8' });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('survived');
  }, 60_000);

  it('wait(): ready, timeout and closed outcomes, and a parked wait burns no CPU', async () => {
    const ring = TokenRing.create({ capacityBytes: 1024 });
    expect(await ring.wait(-1, 20)).toBe('timeout');
    const before = process.cpuUsage();
    const parked = ring.wait(-1, 400);
    expect(await parked).toBe('timeout');
    const used = process.cpuUsage(before);
    // A spinning wait would use ~400 ms of CPU; parked in Atomics.waitAsync it uses next to none.
    expect((used.user + used.system) / 1000).toBeLessThan(150);
    const pending = ring.wait(-1);
    setTimeout(() => ring.push('x'), 5);
    expect(await pending).toBe('ready');
    expect(await ring.wait(-1)).toBe('ready');
    const closing = ring.wait(0);
    setTimeout(() => ring.close('done'), 5);
    expect(await closing).toBe('closed');
    expect(await ring.wait(-1)).toBe('ready');
  });
});
