import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayGap, ReplayLog } from '../../lib/sessions/replay-log.js';

describe('ReplayLog', () => {
  it('numbers records from 0 and reads those after a seq', () => {
    const log = new ReplayLog(1024);
    expect(log.append('a')).toBe(0);
    expect(log.append('b')).toBe(1);
    expect(log.append('c')).toBe(2);
    expect(log.read(-1)).toEqual([
      { seq: 0, payload: 'a' },
      { seq: 1, payload: 'b' },
      { seq: 2, payload: 'c' },
    ]);
    expect(log.read(1)).toEqual([{ seq: 2, payload: 'c' }]);
    expect(log.read(2)).toEqual([]);
    expect(log.nextSeq).toBe(3);
  });

  it('counts UTF-8 bytes, drops the oldest beyond capacity and reports the gap', () => {
    const log = new ReplayLog(10);
    log.append('ééé'); // 6 bytes
    log.append('abcd'); // 4 bytes: 10 held
    expect(log.oldestSeq).toBe(0);
    log.append('x'); // 11 > 10: the first goes
    expect(log.oldestSeq).toBe(1);
    const gap = (() => {
      try {
        log.read(-1);
      } catch (e) {
        return e;
      }
    })() as ReplayGap;
    expect(gap).toBeInstanceOf(ReplayGap);
    expect([gap.requestedSeq, gap.oldestSeq]).toEqual([0, 1]);
    expect(log.read(0).map((r) => r.payload)).toEqual(['abcd', 'x']);
  });

  it('keeps the newest record even when it alone exceeds capacity (a live reader still gets it)', () => {
    const log = new ReplayLog(8);
    log.append('small');
    log.append('a record far larger than the whole buffer');
    expect(log.oldestSeq).toBe(1);
    expect(log.read(0)).toEqual([{ seq: 1, payload: 'a record far larger than the whole buffer' }]);
  });

  it('aboveHighWater measures the producer lead since the last read that returned records', () => {
    const log = new ReplayLog(100, 30);
    log.append('x'.repeat(20));
    expect(log.aboveHighWater).toBe(false);
    log.append('x'.repeat(10));
    expect(log.aboveHighWater).toBe(true);
    log.read(1); // nothing new: still behind
    expect(log.aboveHighWater).toBe(true);
    log.read(-1);
    expect(log.aboveHighWater).toBe(false);
  });

  it('keeps compact content records as text and renders them on every read with their seq', () => {
    const renders: number[] = [];
    const log = new ReplayLog(1 << 16, 1 << 15, (text, seq) => {
      renders.push(seq);
      return `{"seq":${seq},"t":${JSON.stringify(text)}}`;
    });
    expect(log.compactContent).toBe(true);
    log.append('start');
    log.appendContent('Hello');
    log.appendContent(' "world"');
    log.append('end');
    renders.length = 0; // the first appendContent rendered an empty token once to weigh the payload
    const expected = [
      { seq: 0, payload: 'start' },
      { seq: 1, payload: '{"seq":1,"t":"Hello"}' },
      { seq: 2, payload: '{"seq":2,"t":" \\"world\\""}' },
      { seq: 3, payload: 'end' },
    ];
    expect(log.read(-1)).toEqual(expected);
    expect(log.read(-1)).toEqual(expected);
    expect(renders).toEqual([1, 2, 1, 2]);
    expect(() => new ReplayLog(1024).appendContent('x')).toThrow(/renderer/);
  });

  it('weighs a compact record as its text plus the payload around an empty token', () => {
    const log = new ReplayLog(100, 50, (text) => `0123456789${text}`); // 10 bytes around the text
    for (let i = 0; i < 10; i++) log.appendContent('é'); // 12 bytes each
    expect(log.oldestSeq).toBe(2); // 8 × 12 = 96 <= 100
    expect(log.read(1)).toHaveLength(8);
  });

  it('clear() frees every record; readers then see a gap at the next seq', () => {
    const log = new ReplayLog(100);
    log.append('a');
    log.append('b');
    log.clear();
    expect(log.nextSeq).toBe(2);
    expect(() => log.read(0)).toThrow(ReplayGap);
    expect(log.read(1)).toEqual([]);
  });

  it('matches a model of a byte-bounded queue under long random runs (compaction included)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 4000 }), fc.integer({ min: 16, max: 400 }), (payloads, capacity) => {
        const log = new ReplayLog(capacity);
        const model: { seq: number; payload: string; size: number }[] = [];
        let bytes = 0;
        payloads.forEach((p, seq) => {
          expect(log.append(p)).toBe(seq);
          const size = Buffer.byteLength(p);
          model.push({ seq, payload: p, size });
          bytes += size;
          while (bytes > capacity && model.length > 1) bytes -= model.shift()!.size;
        });
        expect(log.oldestSeq).toBe(model[0]!.seq);
        expect(log.read(model[0]!.seq - 1)).toEqual(model.map(({ seq, payload }) => ({ seq, payload })));
      }),
      { numRuns: 50 },
    );
  });
});
