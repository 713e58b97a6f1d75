/**
 * Protocol hot paths, each against a baseline measured in the same run:
 * 1. chunk serialisation: ChunkBuilder.content() vs building the chunk object and JSON.stringify'ing it;
 * 2. upstream parsing: tokens/s through OpenAIBackend.stream() vs reading the same SSE bytes raw with
 *    undici (no parsing at all), and vs raw undici + eventsource-parser + JSON.parse per event (the
 *    least any SSE client does), from the fake OpenAI upstream on 127.0.0.1.
 * Writes bench/results/protocol.json.
 */
import { writeFileSync } from 'node:fs';
import { createParser } from 'eventsource-parser';
import { request } from 'undici';
import { OpenAIBackend } from '../lib/backends/openai.js';
import { ChunkBuilder } from '../lib/protocol/chunks.js';
import { startFakeOpenAI } from '../test/support/fake-openai.js';

const TOKENS = ['Hello', ' world', ',', ' the', ' quick', ' brown', ' fox', ' "quoted"', ' line\n', ' ünïcödé'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeNs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0);
}

function benchChunks(n: number) {
  const id = 'chatcmpl-abcdefghijklmnopqrstuvwx';
  const created = 1767225600;
  const model = 'gpt-4o-mini';
  let sink = 0;
  const builder = new ChunkBuilder({ model, id, created, includeUsage: true });
  const viaBuilder = () => {
    for (let i = 0; i < n; i++) sink += builder.content(TOKENS[i % TOKENS.length]!).length;
  };
  const viaObject = () => {
    for (let i = 0; i < n; i++) {
      sink += JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        choices: [{ index: 0, delta: { content: TOKENS[i % TOKENS.length]! }, logprobs: null, finish_reason: null }],
        usage: null,
      }).length;
    }
  };
  // Same bytes, or the comparison means nothing.
  const a = builder.content(TOKENS[7]!);
  const b = JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta: { content: TOKENS[7]! }, logprobs: null, finish_reason: null }], usage: null });
  if (a !== b) throw new Error(`chunk mismatch:\n${a}\n${b}`);
  viaBuilder();
  viaObject();
  const builderNs: number[] = [];
  const objectNs: number[] = [];
  for (let r = 0; r < 7; r++) {
    builderNs.push(timeNs(viaBuilder) / n);
    objectNs.push(timeNs(viaObject) / n);
  }
  if (sink === 0) throw new Error('unreachable');
  return { chunks: n, builderNsPerChunk: median(builderNs), objectStringifyNsPerChunk: median(objectNs) };
}

async function benchParse(tokens: number, rounds: number) {
  const fake = await startFakeOpenAI({ scenario: { tokenCount: tokens } });
  const backend = new OpenAIBackend({
    name: 'bench',
    baseUrl: fake.baseUrl,
    timeouts: { connectMs: 5000, firstTokenMs: 60_000, idleMs: 60_000, totalMs: 600_000 },
    continuation: false,
  });
  const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_usage: true } });
  const rawRates: number[] = [];
  const parsedRates: number[] = [];
  const backendRates: number[] = [];
  const backendCpuUsPerToken: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now();
      const res = await request(`${fake.baseUrl}/chat/completions`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      let bytes = 0;
      for await (const c of res.body) bytes += (c as Buffer).length;
      rawRates.push(tokens / ((performance.now() - t0) / 1000));
      if (bytes === 0) throw new Error('empty body');

      t0 = performance.now();
      const res2 = await request(`${fake.baseUrl}/chat/completions`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      let events = 0;
      const parser = createParser({
        onEvent: (e) => {
          if (e.data !== '[DONE]') events += (JSON.parse(e.data) as { choices: unknown[] }).choices.length;
        },
      });
      const text = new TextDecoder();
      for await (const c of res2.body) parser.feed(text.decode(c as Buffer, { stream: true }));
      parsedRates.push(tokens / ((performance.now() - t0) / 1000));
      if (events < tokens) throw new Error('parser baseline saw too few events');

      t0 = performance.now();
      const cpu0 = process.cpuUsage();
      let n = 0;
      for await (const e of backend.stream({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, new AbortController().signal)) if (e.type === 'content') n++;
      const cpu = process.cpuUsage(cpu0);
      backendRates.push(n / ((performance.now() - t0) / 1000));
      // The fake upstream runs in this process too: this CPU figure includes producing the tokens.
      backendCpuUsPerToken.push((cpu.user + cpu.system) / n);
      if (n !== tokens) throw new Error(`expected ${tokens} tokens, got ${n}`);
    }
  } finally {
    await backend.close();
    await fake.close();
  }
  return {
    tokensPerRound: tokens,
    rounds,
    rawUndiciTokensPerSec: Math.round(median(rawRates)),
    undiciSseParserJsonParseTokensPerSec: Math.round(median(parsedRates)),
    openaiBackendTokensPerSec: Math.round(median(backendRates)),
    openaiBackendCpuUsPerTokenInclUpstream: Number(median(backendCpuUsPerToken).toFixed(2)),
  };
}

export default async function main(): Promise<void> {
  console.log('chunk serialisation (200k content chunks, median of 7)…');
  const chunks = benchChunks(200_000);
  console.log(`  ChunkBuilder.content: ${chunks.builderNsPerChunk.toFixed(0)} ns/chunk; object + JSON.stringify: ${chunks.objectStringifyNsPerChunk.toFixed(0)} ns/chunk`);
  console.log('upstream SSE parsing (20k tokens per round, median of 5)…');
  const parse = await benchParse(20_000, 5);
  console.log(`  raw undici read: ${parse.rawUndiciTokensPerSec} tokens/s; + eventsource-parser + JSON.parse: ${parse.undiciSseParserJsonParseTokensPerSec} tokens/s; OpenAIBackend.stream: ${parse.openaiBackendTokensPerSec} tokens/s; ${parse.openaiBackendCpuUsPerTokenInclUpstream} µs CPU/token (incl. fake upstream)`);
  const result = { date: new Date().toISOString(), node: process.version, command: 'npm run bench -- protocol', chunks, parse };
  writeFileSync(new URL('./results/protocol.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
}
