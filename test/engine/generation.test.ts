import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineBusyError, EngineError } from '../../lib/errors.js';
import { type GenerateOptions, LocalModel } from '../../lib/engine/local-model.js';
import { storiesGolden60, storiesPath, storiesSkipReason } from './support/model-path.js';

const skip = storiesSkipReason();
if (skip) console.warn(`skipping generation tests: ${skip}`);

async function collect(model: LocalModel, opts: GenerateOptions): Promise<{ text: string; chunks: number; result: Awaited<ReturnType<ReturnType<LocalModel['generate']>['result']>> }> {
  const gen = model.generate(opts);
  let text = '';
  let chunks = 0;
  for await (const chunk of gen) {
    text += chunk.text;
    chunks++;
  }
  return { text, chunks, result: await gen.result() };
}

describe.skipIf(skip)('generation on the native worker through the token ring', () => {
  let model: LocalModel;
  beforeAll(() => {
    model = LocalModel.load(storiesPath, { contextLength: 512, threads: 1, maxQueue: 2 });
  });
  afterAll(() => model?.close());

  it('streams the golden greedy story from BOS and reports usage', async () => {
    const { text, result } = await collect(model, { promptTokens: [1], maxTokens: 60, temperature: 0, stripLeadingSpace: true });
    expect(result.tokens).toEqual(storiesGolden60);
    expect(result).toMatchObject({ finishReason: 'length', promptTokens: 1, completionTokens: 60 });
    expect(text).toBe(
      'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high',
    );
  });

  it('tokenizes a text prompt with BOS and stops at a stop string without emitting it', async () => {
    const { text, result } = await collect(model, { prompt: 'Once upon a time', maxTokens: 100, temperature: 0, stop: ['Lily', 'park'] });
    expect(result.promptTokens).toBe(model.tokenize('Once upon a time').length);
    expect(model.tokenize('Once upon a time')[0]).toBe(1);
    expect(result.finishReason).toBe('stop');
    expect(text).toBe(', there was a little girl named ');
  });

  it('reuses the KV cache for a shared prompt prefix', async () => {
    await collect(model, { prompt: 'Once upon a time there was a dog', maxTokens: 5, temperature: 0 });
    const again = await collect(model, { prompt: 'Once upon a time there was a cat', maxTokens: 5, temperature: 0 });
    expect(again.result.cachedTokens).toBeGreaterThan(4);
    const fresh = LocalModel.load(storiesPath, { contextLength: 512, threads: 1 });
    try {
      const cold = await collect(fresh, { prompt: 'Once upon a time there was a cat', maxTokens: 5, temperature: 0 });
      expect(cold.result.cachedTokens).toBe(0);
      expect(again.result.tokens).toEqual(cold.result.tokens);
    } finally {
      fresh.close();
    }
  });

  it('is deterministic for a seed and varies across seeds', async () => {
    const opts = { promptTokens: [1], maxTokens: 40, temperature: 1, topK: 0, topP: 1, minP: 0 };
    const a = await collect(model, { ...opts, seed: 42 });
    const b = await collect(model, { ...opts, seed: 42 });
    expect(b.result.tokens).toEqual(a.result.tokens);
    const others = [];
    for (const seed of [7, 8, 9]) others.push(await collect(model, { ...opts, seed }));
    expect(others.some((o) => o.result.tokens.join() !== a.result.tokens.join())).toBe(true);
  });

  it('reports per-token logprobs with the greedy token on top', async () => {
    const gen = model.generate({ promptTokens: [1], maxTokens: 10, temperature: 0, logprobs: 3 });
    const seen: number[] = [];
    for await (const chunk of gen) {
      if (!chunk.logprob) continue;
      seen.push(chunk.logprob.id);
      expect(chunk.logprob.top).toHaveLength(3);
      expect(chunk.logprob.top[0]!.id).toBe(chunk.logprob.id);
      expect(chunk.logprob.logprob).toBeLessThanOrEqual(0);
      expect(chunk.logprob.top[0]!.logprob).toBeGreaterThanOrEqual(chunk.logprob.top[1]!.logprob);
    }
    expect(seen).toEqual(storiesGolden60.slice(0, 10));
  });

  it('cancels within one token of the request', async () => {
    const k = 3;
    const gen = model.generate({ promptTokens: [1], maxTokens: 0, temperature: 0, ignoreEos: true });
    let chunks = 0;
    for await (const _chunk of gen) {
      if (++chunks === k) gen.cancel();
    }
    const result = await gen.result();
    expect(result.finishReason).toBe('cancelled');
    // The worker runs ahead of this reader (the ring buffers many tokens), so the bound is taken
    // against the worker's own count at the moment cancel() ran, not against the chunks read here.
    const atCancel = result.generatedAtCancel!;
    expect(atCancel).toBeGreaterThanOrEqual(k);
    // +1: the worker may have passed its cancel check and be sampling that token when the flag is set;
    // it must see the flag before the token after it. Without the per-token check it would run to the
    // end of the context (hundreds of tokens).
    expect(result.completionTokens).toBeLessThanOrEqual(atCancel + 1);
    expect(result.tokens).toHaveLength(result.completionTokens);
  });

  it('cancels through an AbortSignal', async () => {
    const ac = new AbortController();
    const gen = model.generate({ promptTokens: [1], maxTokens: 0, temperature: 0, ignoreEos: true, signal: ac.signal });
    for await (const _chunk of gen) ac.abort();
    expect((await gen.result()).finishReason).toBe('cancelled');
  });

  it('rejects a prompt longer than the context with a clear error', async () => {
    const small = LocalModel.load(storiesPath, { contextLength: 16, threads: 1 });
    try {
      const gen = small.generate({ promptTokens: Array.from({ length: 20 }, () => 300), maxTokens: 4 });
      await expect(collect(small, { promptTokens: Array.from({ length: 20 }, () => 300), maxTokens: 4 })).rejects.toThrow(/20 tokens; the context holds 16/);
      await expect(gen.result()).rejects.toMatchObject({ code: 'ABI_ERR_CONTEXT_LENGTH' });
      const full = await collect(small, { promptTokens: [1], maxTokens: 0, temperature: 0, ignoreEos: true });
      // 1 prompt token + 15 generated fill the 16 positions; the 16th generated token needs no slot.
      expect(full.result).toMatchObject({ finishReason: 'length', completionTokens: 16 });
    } finally {
      small.close();
    }
  });
});

describe.skipIf(skip)('sharing one model through the bounded queue', () => {
  it('rejects beyond maxQueue with EngineBusyError and serves the queued ones', async () => {
    const model = LocalModel.load(storiesPath, { contextLength: 512, threads: 1, maxQueue: 1 });
    try {
      const long = { promptTokens: [1], maxTokens: 0, temperature: 0, ignoreEos: true };
      const first = model.generate(long);
      const second = model.generate({ promptTokens: [1], maxTokens: 20, temperature: 0 });
      let busy: unknown;
      try {
        model.generate({ promptTokens: [1], maxTokens: 5 });
      } catch (err) {
        busy = err;
      }
      expect(busy).toBeInstanceOf(EngineBusyError);
      expect((busy as EngineBusyError).retryAfterMs).toBeGreaterThan(0);
      first.cancel();
      const texts: string[] = [];
      for await (const c of second) texts.push(c.text);
      expect((await second.result()).tokens).toEqual(storiesGolden60.slice(0, 20));
      expect((await first.result()).finishReason).toBe('cancelled');
    } finally {
      model.close();
    }
  });

  it('fails a request that waits longer than queueTimeoutMs', async () => {
    const model = LocalModel.load(storiesPath, { contextLength: 512, threads: 1, maxQueue: 4, queueTimeoutMs: 30 });
    try {
      const first = model.generate({ promptTokens: [1], maxTokens: 0, temperature: 0, ignoreEos: true, stop: ['\u0000never'] });
      const waiting = model.generate({ promptTokens: [1], maxTokens: 5 });
      await expect(waiting.result()).rejects.toBeInstanceOf(EngineBusyError);
      first.cancel();
      await first.result();
    } finally {
      model.close();
    }
  });

  it('closing the model ends running and queued generations', async () => {
    const model = LocalModel.load(storiesPath, { contextLength: 512, threads: 1, maxQueue: 4 });
    const running = model.generate({ promptTokens: [1], maxTokens: 0, temperature: 0, ignoreEos: true });
    const queued = model.generate({ promptTokens: [1], maxTokens: 5 });
    const it = running[Symbol.asyncIterator]();
    await it.next();
    model.close();
    expect((await running.result()).finishReason).toBe('cancelled');
    expect((await queued.result().catch((e: unknown) => e)) as object).toSatisfy(
      (r: unknown) => r instanceof EngineError || (r as { finishReason?: string }).finishReason === 'cancelled',
    );
    expect(() => model.generate({ prompt: 'x' })).toThrow(/closed/);
  });
});
