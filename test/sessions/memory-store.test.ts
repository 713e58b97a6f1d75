import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { setTimeout as delay } from 'node:timers/promises';
import { createRecoveryEmitter, type ResumeEvent } from '../../lib/recovery/events.js';
import { MemorySessionStore, SessionGoneError, SessionLimitError, createSessionStore } from '../../lib/sessions/index.js';
import type { SessionRecord, StreamSession } from '../../lib/sessions/types.js';

const stores: MemorySessionStore[] = [];
function store(opts: ConstructorParameters<typeof MemorySessionStore>[0] = {}): MemorySessionStore {
  const s = new MemorySessionStore(opts);
  stores.push(s);
  return s;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

/** A client that reads live until it "loses its connection" after `budget` records, returning what it got. */
async function readUntilCut(session: StreamSession, after: number, budget: number): Promise<SessionRecord[]> {
  const got: SessionRecord[] = [];
  const signal = new AbortController().signal;
  let last = after;
  for (;;) {
    for (const r of session.read(last)) {
      if (got.length >= budget) return got;
      got.push(r);
      last = r.seq;
    }
    if (session.done && session.read(last).length === 0) return got;
    await session.wait(last, signal);
  }
}

describe('MemorySessionStore', () => {
  it('replays exactly once across random client cuts while generation runs (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: 'grapheme', maxLength: 12 }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 15 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 10 }),
        async (payloads, cuts, producerPauses) => {
          const s = store({ detachedGraceMs: 10_000 });
          const session = s.create({ meta: { format: 'abi' } });
          const producer = (async () => {
            for (let i = 0; i < payloads.length; i++) {
              session.append(payloads[i]!);
              const pause = producerPauses[i % producerPauses.length]!;
              if (pause > 0) await delay(pause);
            }
            session.finish('done');
          })();
          const received: SessionRecord[] = [];
          let lastSeq = -1;
          for (let c = 0; ; c++) {
            session.attach(lastSeq);
            const part = await readUntilCut(session, lastSeq, cuts[c % cuts.length]!);
            session.detach();
            received.push(...part);
            if (part.length > 0) lastSeq = part[part.length - 1]!.seq;
            if (session.done && lastSeq === session.nextSeq - 1) break;
          }
          await producer;
          expect(received.map((r) => r.seq)).toEqual(payloads.map((_, i) => i));
          expect(received.map((r) => r.payload)).toEqual(payloads);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('throws SessionGoneError with the oldest held seq once the ring wrapped past a slow reader', () => {
    const session = store({ ringBytes: 1024 }).create();
    for (let i = 0; i < 200; i++) session.append(`event number ${i} with some padding`);
    const err = (() => {
      try {
        session.read(-1);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SessionGoneError);
    const oldest = (err as SessionGoneError).oldestSeq;
    expect(oldest).toBeGreaterThan(0);
    const tail = session.read(oldest - 1);
    expect(tail[0]!.seq).toBe(oldest);
    expect(tail[tail.length - 1]!.payload).toBe('event number 199 with some padding');
    expect((err as SessionGoneError).toApiError().status).toBe(410);
  });

  it('aboveHighWater turns on when the producer leads the last read by half the ring, off after a read', () => {
    const session = store({ ringBytes: 4096 }).create();
    const payload = 'x'.repeat(100);
    let n = 0;
    while (!session.aboveHighWater) {
      session.append(payload);
      n++;
    }
    expect(n * payload.length).toBeGreaterThanOrEqual(2048 - 12 * n);
    expect(n * payload.length).toBeLessThan(4096);
    const got = session.read(-1);
    expect(got).toHaveLength(n);
    expect(session.aboveHighWater).toBe(false);
  });

  it('aborts generation detachedGraceMs after the last client left, not before', async () => {
    const session = store({ detachedGraceMs: 80 }).create();
    session.attach();
    session.attach();
    session.detach();
    await delay(120);
    expect(session.generationSignal.aborted).toBe(false); // one client still attached
    session.detach();
    await delay(30);
    session.attach(); // came back within the grace
    await delay(120);
    expect(session.generationSignal.aborted).toBe(false);
    session.detach();
    await delay(150);
    expect(session.generationSignal.aborted).toBe(true);
    // The owner gets the chance to append its error event before finishing.
    session.append('{"error":"abandoned"}');
    session.finish('error');
    expect(session.status).toBe('error');
  });

  it('finishes an abandoned session itself when its owner does not', async () => {
    const session = store({ detachedGraceMs: 10 }).create();
    session.attach();
    session.detach();
    await delay(1200);
    expect(session.generationSignal.aborted).toBe(true);
    expect(session.done).toBe(true);
    expect(session.status).toBe('error');
  });

  it('keeps a finished session for ttlMs, then answers wasHere (410) instead of unknown (404)', async () => {
    const s = store({ ttlMs: 60 });
    const session = s.create({ id: 'abc', meta: { format: 'openai', principalId: 'p1' } });
    session.append('x');
    session.finish('done');
    expect(s.get('abc')?.meta).toEqual({ format: 'openai', principalId: 'p1' });
    expect(s.get('abc')!.read(-1)).toEqual([{ seq: 0, payload: 'x' }]);
    await delay(120);
    expect(s.get('abc')).toBeUndefined();
    expect(s.wasHere('abc')).toBe(true);
    expect(s.wasHere('never')).toBe(false);
    expect(() => session.read(-1)).toThrow(SessionGoneError);
  });

  it('evicts the oldest finished session at maxSessions and refuses when all are live', () => {
    const s = store({ maxSessions: 2 });
    const a = s.create({ id: 'a' });
    s.create({ id: 'b' });
    expect(() => s.create({ id: 'c' })).toThrow(SessionLimitError);
    a.finish('done');
    s.create({ id: 'c' });
    expect(s.get('a')).toBeUndefined();
    expect(s.wasHere('a')).toBe(true);
    expect(s.size).toBe(2);
    const refused = (() => {
      try {
        s.create({ id: 'd' });
      } catch (e) {
        return e;
      }
    })();
    expect(refused).toBeInstanceOf(SessionLimitError);
    expect((refused as SessionLimitError).toApiError().status).toBe(503);
  });

  it('wait() returns on new data, on finish and on the caller signal', async () => {
    const session = store().create();
    const w1 = session.wait(-1, new AbortController().signal);
    session.append('one');
    await w1;
    const w2 = session.wait(0, new AbortController().signal);
    session.finish('done');
    await w2;
    const s2 = store().create();
    const ac = new AbortController();
    const w3 = s2.wait(-1, ac.signal);
    ac.abort();
    await w3;
    expect(session.read(0)).toEqual([]);
    expect(() => session.append('late')).toThrow(/finished/);
  });

  it('emits resume events with the stream id and seq', () => {
    const events = createRecoveryEmitter();
    const seen: ResumeEvent[] = [];
    events.on('resume', (e) => seen.push(e));
    const s = createSessionStore({ maxSessions: 5 }, { events }) as MemorySessionStore;
    stores.push(s);
    const session = s.create({ id: 'r1', meta: { backend: 'primary' } });
    session.attach();
    session.attach(7);
    expect(seen).toEqual([{ backend: 'primary', attempt: 0, reason: 'client_resume', streamId: 'r1', afterSeq: 7 }]);
  });

  it('validates its options', () => {
    expect(() => new MemorySessionStore({ ttlMs: 0 })).toThrow(/ttlMs/);
    expect(() => new MemorySessionStore({ maxSessions: -1 })).toThrow(/maxSessions/);
    expect(() => new MemorySessionStore({ ringBytes: 100 })).toThrow(/ringBytes/);
    const s = store();
    s.create({ id: 'dup' });
    expect(() => s.create({ id: 'dup' })).toThrow(expect.objectContaining({ code: 'ABI_ERR_INVALID_ARG' }));
  });
});
