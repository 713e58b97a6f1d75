/**
 * What the provider backend tests (anthropic, ollama) share: a backend wired to a fresh fault upstream
 * and closed after each test, a logger that keeps its warnings, and helpers to drain a stream or catch
 * the BackendError it ends with.
 */
import { afterEach, expect } from 'vitest';
import { BackendError } from '../../lib/backends/errors.js';
import type { Backend, BackendEvent, ChatRequest } from '../../lib/backends/types.js';
import type { FaultUpstream } from './fault-upstream.js';

/** What a provider backend is given to report with: a logger and the malformed-chunk counter hook. */
export interface RecordingDeps {
  logger: { warn(obj: object, msg: string): void };
  onMalformedChunks: (backend: string, count: number) => void;
}

export interface BackendUnderTest<B extends Backend> {
  fake: FaultUpstream;
  backend: B;
  /** Objects the backend logged with `warn`. */
  warnings: object[];
  /** Unparseable chunks the backend reported skipping, summed. */
  malformed: () => number;
}

/**
 * Returns `setup(fakeOptions, backendOptions)`: starts the fake with `startFake`, builds the backend on its
 * origin with `makeBackend` and recording deps, and registers both to be closed after the current test.
 */
export function backendSetup<FakeOptions, BackendOptions, B extends Backend>(
  startFake: (opts: FakeOptions) => Promise<FaultUpstream>,
  makeBackend: (origin: string, deps: RecordingDeps, opts: BackendOptions) => B,
): (fakeOptions?: FakeOptions, backendOptions?: BackendOptions) => Promise<BackendUnderTest<B>> {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });
  return async (fakeOptions = {} as FakeOptions, backendOptions = {} as BackendOptions) => {
    const fake = await startFake(fakeOptions);
    const warnings: object[] = [];
    let malformed = 0;
    const deps: RecordingDeps = { logger: { warn: (o) => warnings.push(o) }, onMalformedChunks: (_backend, n) => (malformed += n) };
    const backend = makeBackend(fake.origin, deps, backendOptions);
    cleanup.push(() => backend.close(), () => fake.close());
    return { fake, backend, warnings, malformed: () => malformed };
  };
}

export async function collect(stream: AsyncIterable<BackendEvent>): Promise<BackendEvent[]> {
  const out: BackendEvent[] = [];
  for await (const e of stream) out.push(e);
  return out;
}

/** Drains a stream that must fail with a BackendError; returns the error and the events before it. */
export async function failure(stream: AsyncIterable<BackendEvent>): Promise<{ error: BackendError; events: BackendEvent[] }> {
  const events: BackendEvent[] = [];
  try {
    for await (const e of stream) events.push(e);
  } catch (error) {
    expect(error).toBeInstanceOf(BackendError);
    return { error: error as BackendError, events };
  }
  throw new Error('stream did not fail');
}

/** The content text of a stream's events, joined. */
export const text = (events: BackendEvent[]): string => events.flatMap((e) => (e.type === 'content' ? [e.text] : [])).join('');

/** A signal that never fires. */
export const signal = (): AbortSignal => new AbortController().signal;

/** `req(extra)` for one model: a system and a user message, plus `extra`. */
export function requestFor(model: string): (extra?: Partial<ChatRequest>) => ChatRequest {
  return (extra = {}) => ({
    model,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Say hello' },
    ],
    ...extra,
  });
}
