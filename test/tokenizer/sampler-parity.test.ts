/**
 * Repetition / frequency / presence penalties behave exactly like llama.cpp's penalties sampler:
 * greedy decoding of stories260K with penalties through our engine (tokenizer + sampler) gives
 * llama.cpp's token ids for 200 tokens.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalModel } from '../../lib/engine/local-model.js';
import { loadBinding } from '../../lib/native/binding.js';
import { tokenizerFromGguf } from '../../lib/models/vocab.js';
import { ensureOracle, runOracle, stories260K } from '../models/oracle.js';

vi.setConfig({ testTimeout: 120_000 });
beforeAll(() => ensureOracle(), 300_000);

const stories = stories260K();

describe.skipIf(!stories)('sampler penalties match llama.cpp', () => {
  const configs = [
    { repeat: 1.3, frequency: 0.2, presence: 0.3, lastN: 64 },
    { repeat: 1.1, frequency: 0, presence: 0, lastN: 16 },
    { repeat: 1, frequency: 0.5, presence: 0, lastN: 32 },
  ];
  for (const pen of configs) {
    it(`greedy + penalties ${JSON.stringify(pen)}: 200 tokens identical`, async () => {
      const tok = tokenizerFromGguf(stories!);
      const prompts = ['Once upon a time', 'The little dog'].map((t) => Array.from(tok.encode(t, true, false)));
      const oracle = runOracle({ model: stories!, generate: { prompts: prompts.map((ids) => ({ ids })), maxTokens: 200, penalties: pen } });
      const model = LocalModel.load(stories!, { threads: 1, contextLength: 512 });
      try {
        for (const [i, ids] of prompts.entries()) {
          const g = model.generate({
            promptTokens: ids,
            maxTokens: 200,
            temperature: 0,
            repeatPenalty: pen.repeat,
            frequencyPenalty: pen.frequency,
            presencePenalty: pen.presence,
            penaltyLastN: pen.lastN,
            ignoreEos: true,
          });
          for await (const _chunk of g);
          const ours = (await g.result()).tokens;
          const theirs = oracle.generate![i]!.ids;
          expect(theirs.length, 'llama.cpp stopped early (EOS)').toBe(200);
          expect(ours).toEqual(theirs);
        }
      } finally {
        model.close();
      }
    });
  }
});

describe.skipIf(!stories)('sampler truncation chain matches llama.cpp', () => {
  // llama.cpp's own logits (softmax at temperature 0, as log p) go through our chain and through
  // llama.cpp's (top-k → top-p → min-p → temperature); the surviving candidates and their
  // probabilities must agree.
  const chains = [
    { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05 },
    { temperature: 1, topK: 0, topP: 0.9, minP: 0 },
    { temperature: 1.5, topK: 10, topP: 1, minP: 0 },
    { temperature: 0.7, topK: 0, topP: 1, minP: 0.1 },
    { temperature: 1.2, topK: 100, topP: 0.5, minP: 0.02 },
  ];
  const prompts = ['Once upon a time', 'The little dog', 'She was happy because', 'One day, Tom'];
  it(`${chains.length} chains × ${prompts.length} prompts: same candidates, same probabilities`, () => {
    const tok = tokenizerFromGguf(stories!);
    const promptIds = prompts.map((t) => ({ ids: Array.from(tok.encode(t, true, false)) }));
    const greedy = runOracle({ model: stories!, generate: { prompts: promptIds, maxTokens: 1, allProbabilities: true } }).generate!;
    const { Sampler } = loadBinding().sampler as {
      Sampler: new (p: object, n: number) => { candidates(l: Float32Array): Array<{ id: number; p: number }> };
    };
    let largest = 0;
    for (const chain of chains) {
      const sampled = runOracle({ model: stories!, generate: { prompts: promptIds, maxTokens: 1, allProbabilities: true, sampling: { ...chain, seed: 3 } } }).generate!;
      for (let i = 0; i < prompts.length; i++) {
        const logits = new Float32Array(tok.info.nVocab).fill(-Infinity);
        for (const [id, p] of greedy[i]!.steps![0]!.probs!) logits[id] = Math.log(p);
        const ours = new Sampler({ ...chain, seed: 3 }, tok.info.nVocab).candidates(logits);
        const theirs = sampled[i]!.steps![0]!.probs!;
        const label = `${JSON.stringify(chain)} ${prompts[i]}`;
        expect(ours.map((c) => c.id).sort((a, b) => a - b), label).toEqual(theirs.map(([id]) => id).sort((a, b) => a - b));
        largest = Math.max(largest, theirs.length);
        const theirP = new Map(theirs);
        for (const c of ours) expect(Math.abs(c.p - theirP.get(c.id)!), label).toBeLessThan(1e-4);
      }
    }
    expect(largest).toBeGreaterThan(5); // the chains really left a choice
  });
});
