/**
 * Local engine vs llama.cpp (node-llama-cpp 3.21.1 CPU build from tools/oracle), same GGUF files and
 * thread count, in one run: prompt processing (pp) and decode (tg) tokens/s on stories260K and on
 * synthetic TinyLlama-1.1B-shaped models in Q4_0 and Q8_0 (written to a temp dir, deleted after).
 * Also measures the machine's memory bandwidth (large buffer copies) and reports the fraction of it
 * that decode uses (weight bytes streamed per token × tokens/s). Results: bench/results/engine.json.
 * Both engines hold the model at once and alternate their repeats (median of 5 each), so load from
 * other processes on a shared machine biases neither side.
 *
 * Env: ABI_BENCH_THREADS (default 1), ABI_BENCH_SKIP_LARGE=1
 * to run stories260K only.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LocalModel } from '../lib/engine/local-model.js';
import { writeSyntheticLlama } from '../lib/models/synthetic-model.js';
import { spmVocab } from '../lib/models/synthetic-vocab.js';
import { ensureOracle, oracleDir, stories260K } from '../test/models/oracle.js';

const PROMPT_TOKENS = 128;
const DECODE_TOKENS = 48;
const REPEATS = 5;

interface Side {
  ppTokensPerSec: number;
  decodeTokensPerSec: number;
}

interface ModelResult {
  model: string;
  fileBytes: number;
  threads: number;
  abi: Side;
  llamaCpp: Side;
  decodeRatio: number;
  ppRatio: number;
  decodeBandwidthFraction: { abi: number; llamaCpp: number };
}

function measureBandwidth(): number {
  const bytes = 256 * 1024 * 1024;
  const src = Buffer.alloc(bytes, 1);
  const dst = Buffer.alloc(bytes);
  src.copy(dst); // fault the pages in
  let best = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    src.copy(dst);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.max(best, (2 * bytes) / s); // a copy reads and writes every byte
  }
  return best;
}

function promptIds(nVocab: number): number[] {
  // Deterministic ordinary tokens after BOS (ids 259+ are non-byte pieces in our SPM vocabularies).
  return [1, ...Array.from({ length: PROMPT_TOKENS - 1 }, (_, i) => 259 + ((i * 37) % Math.max(1, nVocab - 259)))];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** One engine with a model loaded: one pp + decode measurement per call, then close. */
interface Runner {
  repeat(r: number): Promise<{ pp: number; tg: number }>;
  close(): Promise<void>;
}

async function openAbi(path: string, threads: number, ids: number[]): Promise<Runner> {
  const model = LocalModel.load(path, { threads, contextLength: 512, batchSize: 512 });
  model.evaluate(ids.slice(0, 8), true); // warm-up: page in the weights
  return {
    async repeat(r) {
      const t0 = performance.now();
      model.evaluate(ids, true);
      const pp = (ids.length * 1000) / (performance.now() - t0);
      const gen = model.generate({ promptTokens: [1, 259 + r], maxTokens: DECODE_TOKENS, temperature: 0, ignoreEos: true });
      for await (const _chunk of gen);
      const result = await gen.result();
      // decodeMs spans one forward pass per generated token (the last one's too, whose logits go
      // unused), so tokens/s is completionTokens / decodeMs; llama.cpp's side counts the passes
      // between its first and last token.
      return { pp, tg: (result.completionTokens * 1000) / result.timings.decodeMs };
    },
    async close() {
      model.close();
    },
  };
}

/** The part of node-llama-cpp's API the bench uses (tools/oracle is installed on demand, so tsc must not resolve it). */
interface LlamaSequence {
  evaluateWithoutGeneratingNewTokens(tokens: number[]): Promise<void>;
  evaluate(tokens: number[], options: { temperature: number }): AsyncIterable<number>;
  clearHistory(): Promise<void>;
}
interface NodeLlamaCpp {
  LlamaLogLevel: { error: unknown };
  getLlama(options: Record<string, unknown>): Promise<{
    loadModel(options: { modelPath: string; gpuLayers: number }): Promise<{
      createContext(options: { contextSize: number; threads: number; batchSize: number }): Promise<{ getSequence(): LlamaSequence; dispose(): Promise<void> }>;
      dispose(): Promise<void>;
    }>;
    dispose(): Promise<void>;
  }>;
}

async function openLlamaCpp(path: string, threads: number, ids: number[]): Promise<Runner> {
  ensureOracle(); // installs tools/oracle (npm ci --prefix tools/oracle) on first use
  const entry = pathToFileURL(join(oracleDir, 'node_modules', 'node-llama-cpp', 'dist', 'index.js')).href;
  const lib = (await import(entry)) as NodeLlamaCpp;
  const llama = await lib.getLlama({ gpu: false, build: 'never', progressLogs: false, logLevel: lib.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: 512, threads, batchSize: 512 });
  const seq = context.getSequence();
  await seq.evaluateWithoutGeneratingNewTokens(ids.slice(0, 8));
  await seq.clearHistory();
  return {
    async repeat(r) {
      const t0 = performance.now();
      await seq.evaluateWithoutGeneratingNewTokens(ids);
      const pp = (ids.length * 1000) / (performance.now() - t0);
      await seq.clearHistory();
      let n = 0;
      let tFirst = 0;
      for await (const _token of seq.evaluate([1, 259 + r], { temperature: 0 })) {
        if (++n === 1) tFirst = performance.now();
        if (n === DECODE_TOKENS) break;
      }
      const tg = ((DECODE_TOKENS - 1) * 1000) / (performance.now() - tFirst);
      await seq.clearHistory();
      return { pp, tg };
    },
    async close() {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

/**
 * Both engines loaded at once, their repeats interleaved (and which goes first alternating), so the
 * shared machine's load drift hits both alike; medians per engine.
 */
async function runBoth(path: string, threads: number, ids: number[]): Promise<{ abi: Side; llamaCpp: Side }> {
  const abi = await openAbi(path, threads, ids);
  const llamaCpp = await openLlamaCpp(path, threads, ids).catch(async (err: unknown) => {
    await abi.close();
    throw err;
  });
  try {
    const a: Array<{ pp: number; tg: number }> = [];
    const l: Array<{ pp: number; tg: number }> = [];
    for (let r = 0; r < REPEATS; r++) {
      if (r % 2 === 0) {
        a.push(await abi.repeat(r));
        l.push(await llamaCpp.repeat(r));
      } else {
        l.push(await llamaCpp.repeat(r));
        a.push(await abi.repeat(r));
      }
    }
    const side = (xs: Array<{ pp: number; tg: number }>): Side => ({
      ppTokensPerSec: median(xs.map((x) => x.pp)),
      decodeTokensPerSec: median(xs.map((x) => x.tg)),
    });
    return { abi: side(a), llamaCpp: side(l) };
  } finally {
    await abi.close();
    await llamaCpp.close();
  }
}

export default async function engineBench(): Promise<void> {
  const stories = stories260K();
  const dir = mkdtempSync(join(tmpdir(), 'abi-engine-bench-'));
  const results: ModelResult[] = [];
  try {
    const bandwidth = measureBandwidth();
    console.log(`memory bandwidth (256 MiB buffer copy, read+write): ${(bandwidth / 1e9).toFixed(1)} GB/s`);
    const models: Array<{ name: string; path: string; nVocab: number }> = [];
    if (stories) models.push({ name: 'stories260K (f32)', path: stories, nVocab: 512 });
    else console.log('stories260K absent: skipping it');
    if (process.env.ABI_BENCH_SKIP_LARGE !== '1') {
      const vocab = spmVocab({ extraPieces: Array.from({ length: 32000 - 259 }, (_, i) => `\u2581w${i}`) });
      for (const type of ['q4_0', 'q8_0'] as const) {
        const path = join(dir, `tinyllama-shape-${type}.gguf`);
        const t0 = performance.now();
        // TinyLlama-1.1B: 22 layers, n_embd 2048, n_ff 5632, 32 heads, 4 KV heads, vocab 32000.
        writeSyntheticLlama(path, { type, nEmbd: 2048, nFf: 5632, nLayer: 22, nHead: 32, nHeadKv: 4, vocab, contextLength: 2048, seed: 7 });
        console.log(`wrote ${path} (${(statSync(path).size / 1e6).toFixed(0)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        models.push({ name: `TinyLlama-1.1B shape (${type}, synthetic)`, path, nVocab: 32000 });
      }
    }
    for (const m of models) {
      const probe = LocalModel.load(m.path, { contextLength: 64 });
      // One thread by default: on the shared 2-core CI machine a second spinning thread mostly measures
      // contention (llama.cpp drops to ~1 token/s on stories260K with 2 threads there).
      const threads = Number(process.env.ABI_BENCH_THREADS ?? 1);
      const weightBytes = probe.info.weightBytes;
      probe.close();
      const ids = promptIds(m.nVocab);
      console.log(`${m.name}: ${threads} threads, pp ${PROMPT_TOKENS} tokens, decode ${DECODE_TOKENS} tokens, ${REPEATS} interleaved repeats (median)`);
      const { abi, llamaCpp } = await runBoth(m.path, threads, ids);
      const r: ModelResult = {
        model: m.name,
        fileBytes: statSync(m.path).size,
        threads,
        abi,
        llamaCpp,
        decodeRatio: abi.decodeTokensPerSec / llamaCpp.decodeTokensPerSec,
        ppRatio: abi.ppTokensPerSec / llamaCpp.ppTokensPerSec,
        decodeBandwidthFraction: {
          abi: (weightBytes * abi.decodeTokensPerSec) / bandwidth,
          llamaCpp: (weightBytes * llamaCpp.decodeTokensPerSec) / bandwidth,
        },
      };
      results.push(r);
      console.log(
        `  abi: pp ${abi.ppTokensPerSec.toFixed(1)} t/s, decode ${abi.decodeTokensPerSec.toFixed(1)} t/s | llama.cpp: pp ${llamaCpp.ppTokensPerSec.toFixed(1)} t/s, decode ${llamaCpp.decodeTokensPerSec.toFixed(1)} t/s | ratio pp ${r.ppRatio.toFixed(2)} decode ${r.decodeRatio.toFixed(2)} | decode uses ${(r.decodeBandwidthFraction.abi * 100).toFixed(0)}% of bandwidth (llama.cpp ${(r.decodeBandwidthFraction.llamaCpp * 100).toFixed(0)}%)`,
      );
    }
    writeFileSync(
      new URL('./results/engine.json', import.meta.url),
      `${JSON.stringify({ date: new Date().toISOString(), node: process.version, bandwidthBytesPerSec: bandwidth, promptTokens: PROMPT_TOKENS, decodeTokens: DECODE_TOKENS, results }, null, 2)}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await engineBench();
