/**
 * Test helper for the llama.cpp oracle (tools/oracle): installs it on first use and runs it.
 * Shared by the tokenizer tests (test/tokenizer) and the engine's greedy/logit comparisons.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const oracleDir = join(repoRoot, 'tools', 'oracle');

/** The shared test model, referenced in place (never copied into the repo). */
export const stories260KPath = fileURLToPath(new URL('../../../shared/models/stories260K.gguf', import.meta.url));
const STORIES_SHA256 = '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d';

/** Path of stories260K when present and intact; undefined when absent; throws on a sha256 mismatch. */
export function stories260K(): string | undefined {
  if (!existsSync(stories260KPath)) return undefined;
  const sha = createHash('sha256').update(readFileSync(stories260KPath)).digest('hex');
  if (sha !== STORIES_SHA256) throw new Error(`${stories260KPath}: sha256 ${sha}, expected ${STORIES_SHA256}`);
  return stories260KPath;
}

function oracleInstalled(): boolean {
  return existsSync(join(oracleDir, 'node_modules', 'node-llama-cpp', 'package.json')) &&
    existsSync(join(oracleDir, 'node_modules', '@node-llama-cpp', 'linux-x64', 'package.json'));
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Makes sure tools/oracle/node_modules exists: runs `npm ci --prefix tools/oracle` once (its own
 * .npmrc omits optional GPU packages). Test files run in parallel forks, so a lock directory
 * serialises the install; a stale lock (older than 5 minutes) is taken over.
 */
export function ensureOracle(): void {
  if (oracleInstalled()) return;
  const lock = join(oracleDir, '.install-lock');
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (oracleInstalled()) return;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 300_000) rmSync(lock, { recursive: true, force: true });
      } catch {}
      sleep(500);
    }
  }
  try {
    if (oracleInstalled()) return;
    const r = spawnSync('npm', ['ci', '--prefix', oracleDir, '--no-audit', '--no-fund'], { encoding: 'utf8', timeout: 240_000 });
    if (r.status !== 0 || !oracleInstalled()) {
      throw new Error(`installing the llama.cpp oracle failed (npm ci --prefix tools/oracle): ${r.error?.message ?? ''}\n${r.stderr}`);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface OracleRequest {
  model?: string;
  /** Render real Jinja chat templates (no model needed). */
  renderTemplates?: Array<{ template: string; messages: Array<{ role: string; content: string }>; bos?: string; eos?: string; addGenerationPrompt?: boolean }>;
  contextSize?: number;
  tokenize?: { texts: string[]; special?: boolean };
  benchTokenize?: { text: string; iterations?: number; special?: boolean };
  generate?: {
    prompts: Array<{ text?: string; special?: boolean; ids?: number[] }>;
    maxTokens?: number;
    topLogprobs?: number;
    stopOnEog?: boolean;
    /** llama.cpp penalties over the last lastN tokens of prompt + generation (greedy otherwise). */
    penalties?: { repeat?: number; frequency?: number; presence?: number; lastN?: number };
    /** Sample with llama.cpp's chain (top-k → top-p → min-p → temperature → dist) instead of greedy. */
    sampling?: { temperature: number; topK?: number; topP?: number; minP?: number; seed?: number };
    /** Report every candidate left after the chain with its probability (`steps[i].probs`). */
    allProbabilities?: boolean;
  };
}

export interface OracleResponse {
  renderTemplates?: string[];
  model: string;
  bos: number | null;
  eos: number | null;
  addBos: boolean;
  tokenize?: Array<{ text: string; ids: number[]; detokenized: string }>;
  benchTokenize?: { ms: number; iterations: number; tokens: number };
  generate?: Array<{
    prompt: { text?: string; ids?: number[] };
    promptIds: number[];
    ids: number[];
    text: string;
    /** Per step: the topLogprobs most likely tokens (empty when not asked) and, with allProbabilities, every surviving candidate. */
    steps?: Array<{ top: Array<{ id: number; logprob: number }>; probs?: Array<[number, number]> }>;
  }>;
}

/** Runs llama.cpp (node-llama-cpp, CPU, 1 thread) on `request` and returns what it did. */
export function runOracle(request: OracleRequest): OracleResponse {
  ensureOracle();
  const dir = mkdtempSync(join(tmpdir(), 'abi-oracle-'));
  try {
    const reqPath = join(dir, 'request.json');
    const resPath = join(dir, 'response.json');
    writeFileSync(reqPath, JSON.stringify(request));
    const r = spawnSync(process.execPath, [join(oracleDir, 'oracle.mjs'), reqPath, resPath], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`oracle failed (status ${r.status}): ${r.stderr}`);
    return JSON.parse(readFileSync(resPath, 'utf8')) as OracleResponse;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
