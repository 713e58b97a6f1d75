import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { LocalModel } from '../../lib/engine/local-model.js';
import { packageRoot } from '../../lib/native/binding.js';
import { storiesGolden60, storiesPath, storiesSkipReason } from './support/model-path.js';

const skip = storiesSkipReason();
if (skip) console.warn(`skipping engine worker_threads test: ${skip}`);

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const addon = require('node-gyp-build')(workerData.root);
const model = new addon.engine.Model(workerData.model, { threads: 1, contextLength: 64 });
const logits = model.evaluate(Int32Array.of(1), true);
let best = 0;
for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
model.close();
parentPort.postMessage(best);
`;

describe.skipIf(skip)('the engine binding in worker_threads', () => {
  it('loads and runs models in many short-lived workers while the main thread generates', async () => {
    const main = LocalModel.load(storiesPath, { threads: 1, contextLength: 128 });
    try {
      const generation = main.generate({ promptTokens: [1], maxTokens: 60, temperature: 0 });
      const results: number[] = [];
      for (let i = 0; i < 12; i++) {
        const worker = new Worker(workerSource, { eval: true, workerData: { root: packageRoot, model: storiesPath } });
        const [first] = await Promise.all([
          new Promise<number>((resolve, reject) => {
            worker.once('message', resolve);
            worker.once('error', reject);
          }),
          new Promise((resolve) => worker.once('exit', resolve)),
        ]);
        results.push(first);
      }
      expect(results).toEqual(Array(12).fill(storiesGolden60[0]));
      for await (const _chunk of generation);
      expect((await generation.result()).tokens).toEqual(storiesGolden60);
    } finally {
      main.close();
    }
  });
});
