/**
 * Repetition / frequency / presence penalties behave exactly like llama.cpp's penalties sampler:
 * greedy decoding of stories260K with penalties through our engine (tokenizer + sampler) gives
 * llama.cpp's token ids for 200 tokens.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalModel } from '../../lib/engine/local-model.js';
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
