import { PassThrough } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { bodyBatches } from '../../lib/backends/body-batches.js';

const split = (chunk: Buffer, out: string[]): void => {
  for (const event of chunk.toString().split(',')) if (event) out.push(event);
};

describe('bodyBatches', () => {
  it('yields every event in order, chunks that arrived together in one batch', async () => {
    const body = new PassThrough();
    const batches: string[][] = [];
    const reading = (async () => {
      for await (const b of bodyBatches(body, split)) batches.push(b);
    })();
    body.write('a,b,');
    await delay(5);
    body.write('c,');
    body.write('d,');
    await delay(5);
    body.end('e,');
    await reading;
    expect(batches.flat()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(batches.length).toBeLessThan(5);
  });

  it('throws a decoder error after the events decoded before it', async () => {
    const body = new PassThrough();
    let calls = 0;
    const decode = (chunk: Buffer, out: string[]): void => {
      if (++calls === 2) throw new Error('in-band error');
      split(chunk, out);
    };
    const got: string[] = [];
    body.write('a,b,');
    body.write('boom');
    const err = await (async () => {
      for await (const b of bodyBatches(body, decode)) got.push(...b);
    })().catch((e: unknown) => e);
    expect(got).toEqual(['a', 'b']);
    expect((err as Error).message).toBe('in-band error');
  });

  it('ends after the chunk for which stopAfter() turns true, though the body stays open', async () => {
    const body = new PassThrough();
    body.write('a,stop,');
    const got: string[] = [];
    for await (const b of bodyBatches(body, split, { stopAfter: () => true })) got.push(...b);
    expect(got).toEqual(['a', 'stop']);
    expect(body.readableEnded).toBe(false);
  });

  it('pauses the body while 1024 events wait and resumes when the consumer pulls', async () => {
    const body = new PassThrough({ highWaterMark: 16 });
    const iterator = bodyBatches(body, split)[Symbol.asyncIterator]();
    const first = iterator.next();
    body.write('x,'.repeat(1100));
    expect((await first).value).toHaveLength(1100);
    body.write('y,'.repeat(1100)); // decoded while nobody pulls: over the limit, so the body pauses
    await delay(5);
    expect(body.isPaused()).toBe(true);
    expect((await iterator.next()).value).toHaveLength(1100);
    expect(body.isPaused()).toBe(false);
    body.end();
    expect((await iterator.next()).done).toBe(true);
  });

  it('pauses the body while 64 KiB of it wait, however few events that is', async () => {
    const body = new PassThrough();
    const iterator = bodyBatches(body, split)[Symbol.asyncIterator]();
    const first = iterator.next();
    body.write('a,');
    expect((await first).value).toEqual(['a']);
    body.write(`${'y'.repeat(70_000)},`); // one large event while nobody pulls
    await delay(5);
    expect(body.isPaused()).toBe(true);
    expect((await iterator.next()).value).toEqual(['y'.repeat(70_000)]);
    expect(body.isPaused()).toBe(false);
    body.end();
    expect((await iterator.next()).done).toBe(true);
  });

  it('a body destroyed with an error after the consumer left raises no unhandled error', async () => {
    const body = new PassThrough();
    body.write('a,');
    for await (const b of bodyBatches(body, split)) {
      expect(b).toEqual(['a']);
      break;
    }
    body.destroy(new Error('aborted after the consumer left'));
    await delay(5);
    expect(body.destroyed).toBe(true);
  });

  it('throws the body error', async () => {
    const body = new PassThrough();
    setTimeout(() => body.destroy(new Error('socket reset')), 5);
    await expect(
      (async () => {
        for await (const b of bodyBatches(body, split)) void b;
      })(),
    ).rejects.toThrow('socket reset');
  });
});
