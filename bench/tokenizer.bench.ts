/**
 * Tokenizer and sampler throughput (models). Baselines in the same run: llama.cpp's own tokenizer
 * on the same text and model (node-llama-cpp through tools/oracle, timed inside its process after
 * the model is loaded), and a plain JS argmax over the same logits for the sampler.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSyntheticLlama } from '../lib/models/synthetic-model.js';
import { bpeVocab } from '../lib/models/synthetic-vocab.js';
import { tokenizerFromGguf } from '../lib/models/vocab.js';
import { loadBinding } from '../lib/native/binding.js';
import { runOracle, stories260K } from '../test/models/oracle.js';

const PARAGRAPH =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ' +
  "One day, she saw a big, red ball — it's 2026 and the café's menu costs $12.50! 日本語のテキスト 😀 👍🏽\n\n";

function timeIt(iterations: number, fn: () => void): number {
  fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

interface Sampler {
  sample(logits: Float32Array): { id: number };
}

export default async function bench(): Promise<void> {
  const text = PARAGRAPH.repeat(400); // ~85 KB
  const bytes = Buffer.byteLength(text);
  const iterations = 20;
  const rows: Array<Record<string, unknown>> = [];
  const dir = mkdtempSync(join(tmpdir(), 'abi-tok-bench-'));
  try {
    const bpePath = join(dir, 'bpe.gguf');
    writeSyntheticLlama(bpePath, { nEmbd: 64, nLayer: 1, nHead: 2, nFf: 128, vocab: bpeVocab({ merges: 400 }) });
    const models: Array<[string, string | undefined]> = [
      ['stories260K (SPM, 512 pieces)', stories260K()],
      ['synthetic GPT-2 BPE (400 merges)', bpePath],
    ];
    for (const [label, path] of models) {
      if (!path) continue;
      const tok = tokenizerFromGguf(path);
      let n = 0;
      const ms = timeIt(iterations, () => {
        n = tok.encode(text, false, false).length;
      });
      const oracle = runOracle({ model: path, benchTokenize: { text, iterations } }).benchTokenize!;
      const row = {
        model: label,
        bytes,
        tokens: n,
        oursMBps: (bytes * iterations) / 1e6 / (ms / 1000),
        llamaCppMBps: (bytes * oracle.iterations) / 1e6 / (oracle.ms / 1000),
        sameTokenCount: oracle.tokens === n,
      };
      rows.push(row);
      console.log(
        `${label}: ours ${row.oursMBps.toFixed(1)} MB/s, llama.cpp ${row.llamaCppMBps.toFixed(1)} MB/s ` +
          `(${n} tokens for ${bytes} bytes; same count: ${row.sameTokenCount})`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const { Sampler } = loadBinding().sampler as { Sampler: new (p: object, n: number) => Sampler };
  const nVocab = 32000;
  const logits = Float32Array.from({ length: nVocab }, (_, i) => Math.sin(i * 12.9898) * 8);
  const steps = 500;
  const jsArgmax = timeIt(steps, () => {
    let best = 0;
    for (let i = 1; i < nVocab; i++) if (logits[i]! > logits[best]!) best = i;
  });
  const chains: Array<[string, object]> = [
    ['greedy', { temperature: 0 }],
    ['default chain (top-k 40, top-p 0.95, min-p 0.05, T 0.8)', { seed: 1 }],
    ['top-p 0.9 only (no top-k)', { temperature: 0.8, topK: 0, topP: 0.9, minP: 0, seed: 1 }],
    ['greedy + repeat/frequency/presence penalties, 5 logprobs', { temperature: 0, repeatPenalty: 1.1, frequencyPenalty: 0.2, presencePenalty: 0.2, nLogprobs: 5 }],
  ];
  console.log(`sampler, vocab ${nVocab}: baseline JS argmax ${((jsArgmax / steps) * 1000).toFixed(1)} µs/token`);
  for (const [label, params] of chains) {
    const s = new Sampler(params, nVocab);
    const ms = timeIt(steps, () => s.sample(logits));
    const usPerToken = (ms / steps) * 1000;
    rows.push({ sampler: label, nVocab, usPerToken, jsArgmaxUsPerToken: (jsArgmax / steps) * 1000 });
    console.log(`  ${label}: ${usPerToken.toFixed(1)} µs/token`);
  }
  writeFileSync(new URL('./results/tokenizer.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
}
