/**
 * The engine against llama.cpp itself (node-llama-cpp 3.21.1, CPU, 1 thread; tools/oracle).
 *
 * Tolerances, as measured when this test was written:
 * - stories260K (F32): greedy ids identical for 200 tokens from each prompt; per-step log-softmax of
 *   llama.cpp's top-5 tokens within 2e-2 absolute (measured max 9e-3: llama.cpp keeps the KV cache
 *   and the flash-attention accumulator in f16, which we mirror but not bit for bit).
 * - synthetic quantized models (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K; random weights, so the next-token
 *   distribution is nearly flat): most steps agree to ~1e-6 nats, but some steps differ by up to
 *   ~6e-2 (the f16 attention accumulator rounds differently at those steps; not yet bit-matched), so
 *   log-probs are asserted within 0.1 nats, and greedy ids identical for at least 8 tokens and until the
 *   first step where llama.cpp itself has a near tie (another candidate within 0.1 nats of its
 *   choice); at that step our choice is one of those near-tied candidates. Measured first divergence:
 *   step 9 to never (64 tokens).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalModel } from '../../lib/engine/local-model.js';
import { writeSyntheticLlama } from '../../lib/models/synthetic-model.js';
import { type OracleResponse, runOracle } from '../models/oracle.js';
import { storiesPath, storiesSkipReason } from './support/model-path.js';

const skip = storiesSkipReason();
if (skip) console.warn(`skipping llama.cpp comparison tests: ${skip}`);

/** Bound on the per-step log-prob difference on these models (measured up to ~6e-2). */
const NEAR_TIE = 0.1;

function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const shift = Math.log(sum) + max;
  return Float64Array.from(logits, (v) => v - shift);
}

function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

type OracleGeneration = NonNullable<OracleResponse['generate']>[number];

/** Teacher-forced walk along llama.cpp's greedy sequence: our argmax and log-prob error at every step. */
function walk(model: LocalModel, g: OracleGeneration): { ours: number[]; errors: number[] } {
  const ours: number[] = [];
  const errors: number[] = [];
  let logits = model.evaluate(g.promptIds, true);
  for (let step = 0; step < g.ids.length; step++) {
    const lp = logSoftmax(logits);
    ours.push(argmax(logits));
    errors.push(Math.max(...g.steps![step]!.top.map((t) => Math.abs(lp[t.id]! - t.logprob))));
    logits = model.evaluate([g.ids[step]!], false);
  }
  return { ours, errors };
}

describe.skipIf(skip)('greedy decoding and logits match llama.cpp on stories260K', () => {
  let oracle: OracleResponse;
  let model: LocalModel;
  beforeAll(() => {
    oracle = runOracle({
      model: storiesPath,
      contextSize: 512,
      generate: {
        prompts: [{ ids: [1] }, { text: 'Once upon a time' }, { text: 'The cat sat on the mat.' }, { text: 'Tom and Lily went to the park' }],
        maxTokens: 200,
        topLogprobs: 5,
      },
    });
    model = LocalModel.load(storiesPath, { contextLength: 512, threads: 1 });
  }, 300_000);
  afterAll(() => model?.close());

  for (const index of [0, 1, 2, 3]) {
    it(`prompt ${index}: 200 greedy ids identical, log-probs within 2e-2`, () => {
      const g = oracle.generate![index]!;
      expect(g.ids).toHaveLength(200);
      expect(Array.from(model.tokenize(g.prompt.text ?? '', true, false)).slice(0, g.promptIds.length)).toEqual(
        g.prompt.text !== undefined ? g.promptIds : [1],
      );
      const { ours, errors } = walk(model, g);
      expect(ours).toEqual(g.ids);
      expect(Math.max(...errors)).toBeLessThan(2e-2);
    });
  }

  it('free-running generation through the ring reproduces llama.cpp text', async () => {
    const g = oracle.generate![1]!;
    const gen = model.generate({ promptTokens: g.promptIds, maxTokens: 200, temperature: 0, ignoreEos: true });
    let text = '';
    for await (const chunk of gen) text += chunk.text;
    expect((await gen.result()).tokens).toEqual(g.ids);
    expect(text).toBe(g.text);
  });
});

describe.skipIf(skip)('greedy decoding matches llama.cpp on synthetic quantized models', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'abi-oracle-q-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const type of ['q8_0', 'q4_0', 'q4_K', 'q5_K', 'q6_K'] as const) {
    it(`${type}: log-probs within 0.1 nats, ids identical up to llama.cpp's own near ties`, () => {
      const path = join(dir, `${type}.gguf`);
      writeSyntheticLlama(path, { type, nEmbd: 256, nFf: 768, nLayer: 2, nHead: 4, nHeadKv: 2, seed: 3 });
      const oracle = runOracle({ model: path, contextSize: 512, generate: { prompts: [{ text: 'hello world' }, { ids: [1, 300, 301] }], maxTokens: 64, topLogprobs: 5 } });
      const model = LocalModel.load(path, { contextLength: 512, threads: 1 });
      try {
        expect(model.info.weightType).toBe(type);
        for (const g of oracle.generate!) {
          const { ours, errors } = walk(model, g);
          expect(Math.max(...errors)).toBeLessThan(NEAR_TIE);
          const first = ours.findIndex((id, i) => id !== g.ids[i]);
          if (first === -1) continue;
          expect(first).toBeGreaterThanOrEqual(8);
          // A divergence is only allowed where llama.cpp itself has a near tie: our token is one of
          // its top candidates within NEAR_TIE nats of its choice.
          const top = g.steps![first]!.top;
          const near = top.filter((t) => top[0]!.logprob - t.logprob < NEAR_TIE).map((t) => t.id);
          expect(near.length).toBeGreaterThan(1);
          expect(near).toContain(ours[first]);
        }
      } finally {
        model.close();
      }
    }, 120_000);
  }
});
