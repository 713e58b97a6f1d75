/**
 * The engine against llama.cpp itself (node-llama-cpp 3.21.1, CPU, 1 thread; tools/oracle).
 *
 * node-llama-cpp loads the ggml CPU build that suits the CPU (an AVX-512 one such as zen4, or the
 * AVX2 "haswell" one), and the engine takes that build's f32 steps (docs/local-engine.md,
 * "Numerics"), so its logits are llama.cpp's bit for bit: checked against llama.cpp's full logits
 * and intermediate tensors with both builds when this test was written. Hence:
 * - stories260K (F32): greedy ids identical for 200 tokens from each prompt;
 * - synthetic Q8_0/Q4_0/Q4_K/Q5_K/Q6_K models, both prompts: greedy ids identical for all 64 tokens
 *   (q4_0's second prompt reaches the end-of-sequence token after 26, where node-llama-cpp stops;
 *   our next token there must be that one);
 * - per-step log-probs of llama.cpp's top-5 within 1e-5: all that remains is node-llama-cpp's f32
 *   softmax against our f64 one (measured at most 2.7e-6).
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

/** Bound on the per-step log-prob difference (node-llama-cpp's f32 softmax vs our f64 one). */
const LOGPROB_BOUND = 1e-5;

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

/**
 * Teacher-forced walk along llama.cpp's greedy sequence: our argmax and log-prob error at every
 * step, and our argmax after the last token.
 */
function walk(model: LocalModel, g: OracleGeneration): { ours: number[]; errors: number[]; next: number } {
  const ours: number[] = [];
  const errors: number[] = [];
  let logits = model.evaluate(g.promptIds, true);
  for (let step = 0; step < g.ids.length; step++) {
    const lp = logSoftmax(logits);
    ours.push(argmax(logits));
    errors.push(Math.max(...g.steps![step]!.top.map((t) => Math.abs(lp[t.id]! - t.logprob))));
    logits = model.evaluate([g.ids[step]!], false);
  }
  return { ours, errors, next: argmax(logits) };
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
    it(`prompt ${index}: 200 greedy ids identical, log-probs within ${LOGPROB_BOUND}`, () => {
      const g = oracle.generate![index]!;
      expect(g.ids).toHaveLength(200);
      expect(Array.from(model.tokenize(g.prompt.text ?? '', true, false)).slice(0, g.promptIds.length)).toEqual(
        g.prompt.text !== undefined ? g.promptIds : [1],
      );
      const { ours, errors } = walk(model, g);
      expect(ours).toEqual(g.ids);
      expect(Math.max(...errors)).toBeLessThan(LOGPROB_BOUND);
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

describe.skipIf(skip)('greedy decoding and logits match llama.cpp on synthetic quantized models', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'abi-oracle-q-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const type of ['q8_0', 'q4_0', 'q4_K', 'q5_K', 'q6_K'] as const) {
    it(`${type}: 64 greedy ids identical, log-probs within ${LOGPROB_BOUND}`, () => {
      const path = join(dir, `${type}.gguf`);
      writeSyntheticLlama(path, { type, nEmbd: 256, nFf: 768, nLayer: 2, nHead: 4, nHeadKv: 2, seed: 3 });
      const oracle = runOracle({ model: path, contextSize: 512, generate: { prompts: [{ text: 'hello world' }, { ids: [1, 300, 301] }], maxTokens: 64, topLogprobs: 5 } });
      const model = LocalModel.load(path, { contextLength: 512, threads: 1 });
      try {
        expect(model.info.weightType).toBe(type);
        for (const g of oracle.generate!) {
          const { ours, errors, next } = walk(model, g);
          expect(ours).toEqual(g.ids);
          // node-llama-cpp stops before yielding an end-of-sequence token: ours must be that token
          if (g.ids.length < 64) expect(next).toBe(oracle.eos);
          expect(Math.max(...errors)).toBeLessThan(LOGPROB_BOUND);
        }
      } finally {
        model.close();
      }
    }, 120_000);
  }
});
