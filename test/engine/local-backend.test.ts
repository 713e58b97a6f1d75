import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendError } from '../../lib/backends/errors.js';
import { LocalBackend, ModelReloadError, readLocalConfig } from '../../lib/backends/local.js';
import { createBackend } from '../../lib/backends/registry.js';
import type { Backend, BackendEvent, ChatRequest } from '../../lib/backends/types.js';
import { ConfigReader } from '../../lib/config/reader.js';
import type { BackendConfigBase } from '../../lib/config/sections/backends.js';
import { storiesPath, storiesSkipReason } from './support/model-path.js';

const skip = storiesSkipReason();
if (skip) console.warn(`skipping local backend tests: ${skip}`);

const base: BackendConfigBase = { type: 'local', timeouts: { connectMs: 1000, firstTokenMs: 1000, idleMs: 1000, totalMs: 1000 }, continuation: false };

function config(raw: Record<string, unknown>): ReturnType<typeof readLocalConfig> {
  const reader = new ConfigReader({ type: 'local', ...raw }, 'backends.local', { env: {} });
  reader.claim('type');
  const out = readLocalConfig(reader, base);
  reader.done();
  return out;
}

async function drain(backend: Backend, request: ChatRequest, signal = new AbortController().signal): Promise<BackendEvent[]> {
  const events: BackendEvent[] = [];
  for await (const e of backend.stream(request, signal)) events.push(e);
  return events;
}

const chat = (content: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({ model: 'stories260K', messages: [{ role: 'user', content }], temperature: 0, ...extra });

describe.skipIf(skip)('local backend', () => {
  let dir: string;
  let backend: LocalBackend;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'abi-local-'));
    copyFileSync(storiesPath, join(dir, 'stories-a.gguf'));
    copyFileSync(storiesPath, join(dir, 'stories-b.gguf'));
    backend = createBackend('local', config({ modelPath: 'stories-a.gguf', modelsDir: dir, contextLength: 256, threads: 1, maxQueue: 1, drainTimeoutMs: 2000 })) as LocalBackend;
  });
  afterAll(async () => {
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('validates its config keys with clear errors', () => {
    expect(() => config({})).toThrow(/backends\.local\.modelPath.*required/);
    expect(() => config({ modelPath: 'x', threads: 0 })).toThrow(/backends\.local\.threads/);
    expect(() => config({ modelPath: 'x', bogus: 1 })).toThrow(/bogus/);
    expect(config({ modelPath: 'x' })).toMatchObject({ maxQueue: 8, queueTimeoutMs: 30000, continuation: true, maxContextLength: 4096 });
  });

  it('streams a chat completion with start, content, finish and usage', async () => {
    expect(backend.continuation).toBe(true);
    expect(backend.models()).toEqual(['stories-a']);
    expect(backend.health()).toMatchObject({ model_loaded: true, model: 'stories-a', demo: false });
    const events = await drain(backend, chat('Once upon a time', { maxTokens: 12 }));
    expect(events[0]).toEqual({ type: 'start', model: 'stories-a' });
    const text = events.filter((e) => e.type === 'content').map((e) => (e as { text: string }).text).join('');
    expect(text.length).toBeGreaterThan(0);
    expect(events.at(-2)).toEqual({ type: 'finish', reason: 'length' });
    const usage = events.at(-1) as Extract<BackendEvent, { type: 'usage' }>;
    expect(usage.usage.completion_tokens).toBe(12);
    expect(usage.usage.prompt_tokens).toBeGreaterThan(3);
    expect(usage.usage.total_tokens).toBe(usage.usage.prompt_tokens + 12);
  });

  it('continues an assistant prefill and honours stop strings', async () => {
    const plain = await drain(backend, chat('Tell a story', { maxTokens: 30 }));
    const full = plain.filter((e) => e.type === 'content').map((e) => (e as { text: string }).text).join('');
    const cut = full.slice(0, 10);
    const continued = await drain(backend, chat('Tell a story', { maxTokens: 20, prefill: cut }));
    const rest = continued.filter((e) => e.type === 'content').map((e) => (e as { text: string }).text).join('');
    // Greedy decoding continues the same answer: prefill + continuation reproduces the original.
    expect((cut + rest).slice(0, 40)).toBe(full.slice(0, 40));
    const word = full.trim().split(/\s+/)[2]!;
    const stopped = await drain(backend, chat('Tell a story', { maxTokens: 30, stop: [word] }));
    expect(stopped.filter((e) => e.type === 'content').map((e) => (e as { text: string }).text).join('')).not.toContain(word);
    expect(stopped).toContainEqual({ type: 'finish', reason: 'stop' });
  });

  it('reports OpenAI-shaped logprobs when the request asks for them', async () => {
    const events = await drain(backend, chat('Once upon a time', { maxTokens: 5, passthrough: { logprobs: true, top_logprobs: 2 } }));
    const withLogprobs = events.filter((e) => e.type === 'content' && e.logprobs !== undefined) as Array<Extract<BackendEvent, { type: 'content' }>>;
    expect(withLogprobs).toHaveLength(5);
    for (const e of withLogprobs) {
      const [entry] = (e.logprobs as { content: Array<{ token: string; logprob: number; top_logprobs: Array<{ token: string; logprob: number }> }> }).content;
      expect(entry!.logprob).toBeLessThanOrEqual(0);
      expect(entry!.top_logprobs).toHaveLength(2);
      expect(entry!.top_logprobs[0]!.logprob).toBeCloseTo(entry!.logprob, 5); // greedy: the chosen token is the top one
    }
  });

  it('maps a full queue to a retryable 503 with Retry-After and a long prompt to 400', async () => {
    const idle = async (): Promise<void> => {
      for (let i = 0; i < 300 && (backend.health().generating || backend.health().queued !== 0); i++) await new Promise((r) => setTimeout(r, 10));
    };
    await idle();
    const ac = new AbortController();
    const long = backend.stream(chat('Once', { maxTokens: 250, temperature: 1, seed: 1 }), ac.signal)[Symbol.asyncIterator]();
    await long.next(); // start
    await long.next(); // first content: the long generation is now running, the queue is empty
    const queued = backend.stream(chat('Once', { maxTokens: 1 }), ac.signal)[Symbol.asyncIterator]();
    const queuedFirst = queued.next();
    let busy: unknown;
    try {
      await drain(backend, chat('Once', { maxTokens: 1 }));
    } catch (err) {
      busy = err;
    }
    ac.abort();
    await queuedFirst.catch(() => undefined);
    await long.return?.();
    await queued.return?.();
    expect(busy).toBeInstanceOf(BackendError);
    expect(busy).toMatchObject({ kind: 'http', status: 503, retryable: true, providerCode: 'engine_busy' });
    expect((busy as BackendError).retryAfterMs).toBeGreaterThan(0);
    const api = (busy as BackendError).toApiError();
    expect(api.status).toBe(503);
    await idle();
    let tooLong: unknown;
    try {
      await drain(backend, chat('Once upon a time '.repeat(200), { maxTokens: 1 }));
    } catch (err) {
      tooLong = err;
    }
    expect(tooLong).toMatchObject({ status: 400, providerCode: 'context_length_exceeded', retryable: false });
  });

  it('reloads a model from the models directory, draining the old one', async () => {
    const ac = new AbortController();
    const running = drain(backend, chat('Once', { maxTokens: 40 }), ac.signal);
    const swapped = await backend.reloadModel('stories-b.gguf');
    expect(swapped).toMatchObject({ model: 'stories-b', drained: true });
    expect((await running).at(-2)).toEqual({ type: 'finish', reason: 'length' });
    expect(backend.models()).toEqual(['stories-b']);
    expect((await drain(backend, chat('Once', { maxTokens: 3 })))[0]).toEqual({ type: 'start', model: 'stories-b' });
  });

  it('keeps the old model when the new one is bad or outside the models directory', async () => {
    writeFileSync(join(dir, 'broken.gguf'), Buffer.from('GGUF\x03\x00\x00\x00'));
    await expect(backend.reloadModel('broken.gguf')).rejects.toThrow(ModelReloadError);
    await expect(backend.reloadModel('broken.gguf')).rejects.toThrow(/previous one keeps serving.*broken\.gguf.*truncated/);
    await expect(backend.reloadModel('../etc/passwd')).rejects.toMatchObject({ code: expect.stringMatching(/PATH|CONFINE/) });
    await expect(backend.reloadModel(storiesPath)).rejects.toThrow(/outside the models directory/);
    expect(backend.health()).toMatchObject({ model_loaded: true, model: 'stories-b' });
    expect((await drain(backend, chat('Once', { maxTokens: 2 })))[0]).toEqual({ type: 'start', model: 'stories-b' });
  });
});
