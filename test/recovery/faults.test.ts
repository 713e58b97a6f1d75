/**
 * Every upstream fault of issue 4 against executeRoute with real backends over real HTTP: the fault
 * upstream speaks each provider's wire format and records request arrival times, so these tests
 * check what the caller receives, how many attempts were made and how far apart, and that the route
 * serves normally afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicBackend } from '../../lib/backends/anthropic.js';
import { OllamaBackend } from '../../lib/backends/ollama.js';
import { OpenAIBackend } from '../../lib/backends/openai.js';
import type { Backend, ChatRequest, Usage } from '../../lib/backends/types.js';
import { ApiError } from '../../lib/protocol/errors.js';
import { createRecoveryEmitter, type RecoveryEvents } from '../../lib/recovery/events.js';
import { executeRoute, type RecoveryRuntime } from '../../lib/recovery/execute.js';
import { createRecoveryRuntime } from '../../lib/recovery/index.js';
import type { RouteTarget, RoutedEvent } from '../../lib/recovery/types.js';
import type { RecoveryConfig } from '../../lib/config/sections/recovery.js';
import { startFakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeOllama } from '../support/fake-ollama.js';
import { openaiWire, startFaultUpstream, type FaultUpstream } from '../support/fault-upstream.js';

const TIMEOUTS = { connectMs: 1000, firstTokenMs: 400, idleMs: 400, totalMs: 5000 };
const FULL = 'Hello, world!';

const config: RecoveryConfig = {
  // Decorrelated jitter never waits less than baseDelayMs, which makes "never hammer" checkable.
  retry: { maxAttempts: 3, baseDelayMs: 60, maxDelayMs: 400, maxRetryAfterMs: 1500, jitter: 'decorrelated', deadlineMs: 10_000 },
  breaker: { consecutiveFailures: 1000, errorRate: 1, windowMs: 10_000, minRequests: 1000, openMs: 1000, openGrowth: 2, maxOpenMs: 8000, halfOpenProbes: 1 },
  session: { store: 'memory', ttlMs: 1000, detachedGraceMs: 1000, maxSessions: 10, ringBytes: 4096 },
  midStream: { nonContinuation: 'regenerate' },
};

let primaryUp: FaultUpstream;
let backupUp: FaultUpstream;
let anthropicUp: FaultUpstream;
let ollamaUp: FaultUpstream;
let primary: Backend;
let backup: Backend;
let claude: Backend;
let ollama: Backend;

beforeAll(async () => {
  primaryUp = await startFaultUpstream({ wire: openaiWire });
  backupUp = await startFaultUpstream({ wire: openaiWire });
  anthropicUp = await startFakeAnthropic();
  ollamaUp = await startFakeOllama();
  primary = new OpenAIBackend({ name: 'primary', baseUrl: `${primaryUp.origin}/v1`, timeouts: TIMEOUTS, continuation: false });
  backup = new OpenAIBackend({ name: 'backup', baseUrl: `${backupUp.origin}/v1`, timeouts: TIMEOUTS, continuation: false });
  claude = new AnthropicBackend('claude', { baseUrl: anthropicUp.origin, apiKey: 'k', timeouts: TIMEOUTS });
  ollama = new OllamaBackend('ollama', { baseUrl: ollamaUp.origin, timeouts: TIMEOUTS });
});

afterAll(async () => {
  for (const b of [primary, backup, claude, ollama]) await b?.close();
  for (const u of [primaryUp, backupUp, anthropicUp, ollamaUp]) await u?.close();
});

const target = (backend: Backend, model: string, contextLength?: number): RouteTarget => ({
  backend,
  model,
  timeouts: TIMEOUTS,
  ...(contextLength ? { contextLength } : {}),
});
const request: ChatRequest = { model: 'route', messages: [{ role: 'user', content: 'Say hello' }] };

interface Outcome {
  events: RoutedEvent[];
  text: string;
  error?: unknown;
  start?: string;
  usage: Usage[];
  finish?: string;
  recovery: { [K in keyof RecoveryEvents]?: Parameters<RecoveryEvents[K]>[0][] };
  ms: number;
}

async function run(
  targets: RouteTarget[],
  runtime: RecoveryRuntime = createRecoveryRuntime(config, ['primary', 'backup', 'claude', 'ollama']),
  req: ChatRequest = request,
): Promise<Outcome> {
  const events = createRecoveryEmitter();
  const recovery: Outcome['recovery'] = {};
  for (const name of ['retry', 'fallback', 'breaker:open', 'breaker:half-open', 'breaker:close', 'failover:mid-stream'] as const) {
    const list: unknown[] = [];
    (recovery as Record<string, unknown[]>)[name] = list;
    (events.on as (n: string, l: (e: unknown) => void) => void)(name, (e) => list.push(e));
  }
  const out: Outcome = { events: [], text: '', usage: [], recovery, ms: 0 };
  const t0 = performance.now();
  try {
    for await (const e of executeRoute(targets, req, { signal: AbortSignal.timeout(15_000), events, recovery: runtime })) {
      out.events.push(e);
      if (e.type === 'content') out.text += e.text;
      if (e.type === 'start') out.start ??= e.model;
      if (e.type === 'usage') out.usage.push(e.usage);
      if (e.type === 'finish') out.finish = e.reason;
    }
  } catch (error) {
    out.error = error;
  }
  out.ms = performance.now() - t0;
  return out;
}

/** Gaps in ms between consecutive requests to one upstream, from `from` on. */
const gaps = (up: FaultUpstream, from: number) => up.requests.slice(from).map((r, i, a) => (i === 0 ? 0 : r.arrivedAt - a[i - 1]!.arrivedAt)).slice(1);

/** The route answers a normal request completely afterwards. */
async function expectHealthy(targets: RouteTarget[], runtime?: RecoveryRuntime) {
  const o = await run(targets, runtime);
  expect(o.error).toBeUndefined();
  expect(o.text).toBe(FULL);
  expect(o.finish).toBe('stop');
}

describe('retries before the first token', () => {
  it('429 with Retry-After: waits that long on the same target, then answers', async () => {
    const n = primaryUp.requests.length;
    primaryUp.enqueue({ status: 429, retryAfter: '1', errorCode: 'rate_limit_exceeded' });
    const o = await run([target(primary, 'm429'), target(backup, 'm')]);
    expect(o.error).toBeUndefined();
    expect(o.text).toBe(FULL);
    expect(o.start).toBe('m429');
    expect(primaryUp.requests.length - n).toBe(2);
    expect(gaps(primaryUp, n)[0]).toBeGreaterThanOrEqual(990);
    expect(o.recovery.retry?.[0]).toMatchObject({ backend: 'primary', attempt: 1, reason: 'http_429' });
    await expectHealthy([target(primary, 'm')]);
  });

  it('429 with retry-after-ms is honoured to the millisecond scale', async () => {
    const n = primaryUp.requests.length;
    primaryUp.enqueue({ status: 429, retryAfterMs: '300' });
    const o = await run([target(primary, 'm')]);
    expect(o.text).toBe(FULL);
    expect(gaps(primaryUp, n)[0]).toBeGreaterThanOrEqual(295);
  });

  it('429 without a header still backs off (never hammers) and gives up after maxAttempts', async () => {
    const n = primaryUp.requests.length;
    primaryUp.enqueue({ status: 429 }, { status: 429 }, { status: 429 });
    const o = await run([target(primary, 'm')]);
    expect(primaryUp.requests.length - n).toBe(3);
    for (const g of gaps(primaryUp, n)) expect(g).toBeGreaterThanOrEqual(55);
    expect(o.text).toBe('');
    expect(o.error).toMatchObject({ kind: 'http', status: 429 });
    expect((o.error as { toApiError(): ApiError }).toApiError().status).toBe(429);
  });

  it('a Retry-After longer than maxRetryAfterMs fails over at once instead of waiting', async () => {
    const n = primaryUp.requests.length;
    const b = backupUp.requests.length;
    primaryUp.enqueue({ status: 429, retryAfter: '30' });
    const o = await run([target(primary, 'm'), target(backup, 'b')]);
    expect(o.text).toBe(FULL);
    expect(o.start).toBe('b');
    expect(primaryUp.requests.length - n).toBe(1);
    expect(backupUp.requests[b]!.arrivedAt - primaryUp.requests[n]!.arrivedAt).toBeLessThan(300);
    expect(o.recovery.fallback?.[0]).toMatchObject({ backend: 'primary', to: 'backup', reason: 'http_429:retry-after-too-long' });
    expect(o.events.filter((e) => e.type === 'failover')).toEqual([{ type: 'failover', from: 'primary', to: 'backup', reason: 'http_429' }]);
  });

  it('500 once: retried on the same target, which answers', async () => {
    const n = primaryUp.requests.length;
    primaryUp.enqueue({ status: 500 });
    const o = await run([target(primary, 'm'), target(backup, 'b')]);
    expect(o.text).toBe(FULL);
    expect(o.start).toBe('m');
    expect(primaryUp.requests.length - n).toBe(2);
    expect(gaps(primaryUp, n)[0]).toBeGreaterThanOrEqual(55);
  });

  it('503 always: maxAttempts on the primary, then the backup answers; only its usage is reported', async () => {
    const n = primaryUp.requests.length;
    primaryUp.enqueue({ status: 503 }, { status: 503 }, { status: 503 });
    backupUp.enqueue({ usage: { prompt: 11, completion: 4 } });
    const o = await run([target(primary, 'm'), target(backup, 'b')]);
    expect(o.text).toBe(FULL);
    expect(o.start).toBe('b');
    expect(o.events.filter((e) => e.type === 'start')).toHaveLength(1);
    expect(primaryUp.requests.length - n).toBe(3);
    expect(o.usage).toEqual([{ prompt_tokens: 11, completion_tokens: 4, total_tokens: 15 }]);
    expect(o.events.filter((e) => e.type === 'attempt').map((e) => (e as { backend: string }).backend)).toEqual(['primary', 'primary', 'primary', 'backup']);
  });

  it('503 always, chosen per request by a body field: bounded attempts, then a clean 503', async () => {
    const n = primaryUp.requests.length;
    const o = await run([target(primary, 'm')], undefined, { ...request, passthrough: { fault: { status: 503, retryAfterMs: '80' } } });
    expect(primaryUp.requests.length - n).toBe(3);
    for (const g of gaps(primaryUp, n)) expect(g).toBeGreaterThanOrEqual(75);
    expect(o.text).toBe('');
    expect((o.error as { toApiError(): ApiError }).toApiError().status).toBe(503);
    await expectHealthy([target(primary, 'm')]);
  });

  it('TCP reset before headers is a retryable connection failure', async () => {
    const n = primaryUp.requests.length;
    primaryUp.enqueue({ resetBeforeHeaders: true });
    const o = await run([target(primary, 'm')]);
    expect(o.text).toBe(FULL);
    expect(primaryUp.requests.length - n).toBe(2);
    expect(o.recovery.retry?.[0]?.reason).toBe('connect');
  });

  it('connection refused: retried with backoff, then the next target answers', async () => {
    const closed = await startFaultUpstream({ wire: openaiWire });
    await closed.close();
    const dead = new OpenAIBackend({ name: 'dead', baseUrl: `${closed.origin}/v1`, timeouts: TIMEOUTS, continuation: false });
    try {
      const o = await run([target(dead, 'x'), target(backup, 'b')]);
      expect(o.text).toBe(FULL);
      expect(o.start).toBe('b');
      expect(o.recovery.retry?.map((r) => r.reason)).toEqual(['connect', 'connect']);
      expect(o.recovery.retry?.every((r) => r.delayMs >= 60)).toBe(true);
    } finally {
      await dead.close();
    }
  });

  it('no response at all costs one first-token timeout, then fails over (no retry on the silent target)', async () => {
    const n = primaryUp.requests.length;
    primaryUp.enqueue({ hang: true });
    const o = await run([target(primary, 'm'), target(backup, 'b')]);
    expect(o.text).toBe(FULL);
    expect(o.start).toBe('b');
    expect(primaryUp.requests.length - n).toBe(1);
    expect(o.ms).toBeGreaterThanOrEqual(380);
    expect(o.ms).toBeLessThan(2000);
    await primaryUp.requests[n]!.closed;
    expect(primaryUp.requests[n]!.aborted).toBe(true);
  });

  it('a first token slower than firstTokenMs fails over; a slow one within the limit is waited for', async () => {
    primaryUp.enqueue({ firstTokenDelayMs: 800 });
    const slow = await run([target(primary, 'm'), target(backup, 'b')]);
    expect(slow.start).toBe('b');
    expect(slow.text).toBe(FULL);
    primaryUp.enqueue({ firstTokenDelayMs: 150 });
    const ok = await run([target(primary, 'm'), target(backup, 'b')]);
    expect(ok.start).toBe('m');
    expect(ok.text).toBe(FULL);
  });

  it('every target failing ends with a clean bounded error, never a partial success', async () => {
    primaryUp.enqueue({ status: 502 }, { status: 502 }, { status: 502 });
    backupUp.enqueue({ hang: true });
    const o = await run([target(primary, 'm'), target(backup, 'b')]);
    expect(o.text).toBe('');
    expect(o.finish).toBeUndefined();
    expect(o.error).toMatchObject({ kind: 'timeout' });
    expect((o.error as { toApiError(): ApiError }).toApiError().status).toBe(504);
    expect(o.ms).toBeLessThan(3000);
    await expectHealthy([target(primary, 'm'), target(backup, 'b')]);
  });
});

describe('rejections on the merits', () => {
  it('context_length_exceeded: not retried, skips targets no larger than the failed one, tries unknown sizes', async () => {
    const n = primaryUp.requests.length;
    const b = backupUp.requests.length;
    const c = anthropicUp.requests.length;
    primaryUp.enqueue({ status: 400, errorCode: 'context_length_exceeded', errorMessage: "This model's maximum context length is 8192 tokens." });
    const o = await run([target(primary, 'small', 8192), target(backup, 'same', 8192), target(claude, 'unknown-size')]);
    expect(o.text).toBe(FULL);
    expect(o.start).toBe('unknown-size');
    expect(primaryUp.requests.length - n).toBe(1);
    expect(backupUp.requests.length - b).toBe(0);
    expect(anthropicUp.requests.length - c).toBe(1);
  });

  it('context_length_exceeded with no larger target left is returned as a 400', async () => {
    primaryUp.enqueue({ status: 400, errorCode: 'context_length_exceeded', errorMessage: 'too long' });
    const o = await run([target(primary, 'small', 8192), target(backup, 'smaller', 4096)]);
    const api = (o.error as { toApiError(): ApiError }).toApiError();
    expect(api.status).toBe(400);
    expect(api.apiCode).toBe('context_length_exceeded');
  });

  it('content_policy_violation is returned to the caller with the provider reason, never routed around', async () => {
    const b = backupUp.requests.length;
    primaryUp.enqueue({ status: 400, errorCode: 'content_policy_violation', errorMessage: 'Your request was rejected as a result of our safety system.' });
    const o = await run([target(primary, 'm'), target(backup, 'b')]);
    expect(o.error).toBeInstanceOf(ApiError);
    expect((o.error as ApiError).status).toBe(400);
    expect((o.error as ApiError).apiCode).toBe('content_policy_violation');
    expect((o.error as ApiError).message).toContain('safety system');
    expect(backupUp.requests.length - b).toBe(0);
  });
});

describe('bad upstream data', () => {
  it('an unparseable chunk is skipped; the answer is complete and clean', async () => {
    primaryUp.enqueue({ malformedAfterTokens: 2 });
    const o = await run([target(primary, 'm')]);
    expect(o.error).toBeUndefined();
    expect(o.text).toBe(FULL);
  });

  it('finish without [DONE] is finalised as a complete answer', async () => {
    primaryUp.enqueue({ noDone: true });
    const o = await run([target(primary, 'm')]);
    expect(o.error).toBeUndefined();
    expect(o.finish).toBe('stop');
    expect(o.text).toBe(FULL);
  });

  it('EOF without a finish reason is a cut stream: continued elsewhere, never reported as success', async () => {
    primaryUp.enqueue({ finishReason: null, noDone: true });
    const o = await run([target(primary, 'm'), target(claude, 'c')]);
    expect(o.error).toBeUndefined();
    expect(o.text).toBe(FULL);
    expect(o.recovery['failover:mid-stream']?.[0]).toMatchObject({ backend: 'primary', reason: 'cut', mode: 'prefill' });
  });
});

describe('mid-stream failover', () => {
  it('a cut after 2 tokens continues on a continuation target with the delivered text as prefill', async () => {
    const c = anthropicUp.requests.length;
    primaryUp.enqueue({ cutAfterTokens: 2 });
    const o = await run([target(primary, 'm'), target(claude, 'c')]);
    expect(o.error).toBeUndefined();
    expect(o.text).toBe(FULL);
    expect(anthropicUp.requests[c]!.prefill).toBe('Hello,');
    expect(o.events.filter((e) => e.type === 'start')).toHaveLength(1);
    expect(o.recovery['failover:mid-stream']).toEqual([
      { backend: 'primary', attempt: 1, reason: 'cut', to: 'claude', deliveredChars: 6, mode: 'prefill' },
    ]);
  });

  it('a stream that breaks after the pre-output deadline has passed is still continued', async () => {
    primaryUp.enqueue({ delayMs: 150, cutAfterTokens: 3 });
    const rt = createRecoveryRuntime({ ...config, retry: { ...config.retry, deadlineMs: 200 } }, ['primary', 'claude']);
    const o = await run([target(primary, 'm'), target(claude, 'c')], rt);
    expect(o.ms).toBeGreaterThan(250);
    expect(o.error).toBeUndefined();
    expect(o.text).toBe(FULL);
  });

  it('a stall past idleMs continues the same way', async () => {
    primaryUp.enqueue({ stallAfterTokens: 1 });
    const o = await run([target(primary, 'm'), target(claude, 'c')]);
    expect(o.text).toBe(FULL);
    expect(o.recovery['failover:mid-stream']?.[0]?.reason).toBe('timeout');
    expect(o.ms).toBeLessThan(3000);
  });

  it('an in-band upstream error event continues the same way', async () => {
    primaryUp.enqueue({ errorAfterTokens: 3 });
    const o = await run([target(primary, 'm'), target(claude, 'c')]);
    expect(o.text).toBe(FULL);
  });

  it('a continuation:false target regenerates; the delivered prefix is verified and not re-sent, and it gets no prefill', async () => {
    const n = ollamaUp.requests.length;
    primaryUp.enqueue({ cutAfterTokens: 2 });
    const o = await run([target(primary, 'm'), target(ollama, 'llama')]);
    expect(o.error).toBeUndefined();
    expect(o.text).toBe(FULL);
    expect(ollamaUp.requests[n]!.prefill).toBeUndefined();
    expect(o.recovery['failover:mid-stream']?.[0]?.mode).toBe('regenerate');
  });

  it('a regeneration that differs ends with an error naming the original failure; no foreign text leaks', async () => {
    primaryUp.enqueue({ cutAfterTokens: 2 });
    ollamaUp.enqueue({ tokens: ['Good', 'bye'] });
    const o = await run([target(primary, 'm'), target(ollama, 'llama')]);
    expect(o.text).toBe('Hello,');
    expect(o.finish).toBeUndefined();
    expect(o.error).toMatchObject({ kind: 'cut', backend: 'primary' });
  });

  it('with nonContinuation "error", a continuation:false target is skipped and the stream ends with the original error', async () => {
    const n = ollamaUp.requests.length;
    primaryUp.enqueue({ cutAfterTokens: 2 });
    const rt = createRecoveryRuntime({ ...config, midStream: { nonContinuation: 'error' } }, ['primary', 'ollama']);
    const o = await run([target(primary, 'm'), target(ollama, 'llama')], rt);
    expect(o.text).toBe('Hello,');
    expect(o.error).toMatchObject({ kind: 'cut' });
    expect(ollamaUp.requests.length - n).toBe(0);
  });

  it('a target that rejects prefills does not hide the original failure', async () => {
    primaryUp.enqueue({ cutAfterTokens: 2 });
    anthropicUp.enqueue({ rejectPrefill: true });
    const o = await run([target(primary, 'm'), target(claude, 'c')]);
    expect(o.text).toBe('Hello,');
    expect(o.error).toMatchObject({ kind: 'cut', backend: 'primary' });
    expect((o.error as { toApiError(): ApiError }).toApiError().apiCode).toBe('upstream_cut');
  });

  it('a target that rejects prefills is passed over for the next one that continues', async () => {
    primaryUp.enqueue({ cutAfterTokens: 1 });
    anthropicUp.enqueue({ rejectPrefill: true });
    const o = await run([target(primary, 'm'), target(claude, 'c'), target(ollama, 'llama')]);
    expect(o.error).toBeUndefined();
    expect(o.text).toBe(FULL);
  });
});

describe('circuit breaker', () => {
  const breakerConfig: RecoveryConfig = {
    ...config,
    retry: { ...config.retry, maxAttempts: 1 },
    breaker: { consecutiveFailures: 2, errorRate: 0.9, windowMs: 10_000, minRequests: 50, openMs: 500, openGrowth: 2, maxOpenMs: 4000, halfOpenProbes: 1 },
  };

  it('a backend down for a while: opens, is skipped, probes after openMs, closes when it recovers', async () => {
    const emitter = createRecoveryEmitter();
    const transitions: string[] = [];
    for (const name of ['breaker:open', 'breaker:half-open', 'breaker:close'] as const) {
      emitter.on(name, (e) => transitions.push(`${e.backend}:${e.from}->${e.to}`));
    }
    const rt = createRecoveryRuntime(breakerConfig, ['primary', 'backup'], { events: emitter });
    const events = rt.breakers;
    const route = [target(primary, 'm'), target(backup, 'b')];
    primaryUp.downFor(700);
    const n = primaryUp.requests.length;
    const first = await run(route, rt);
    const second = await run(route, rt);
    expect(first.start).toBe('b');
    expect(second.start).toBe('b');
    expect(events.health().primary!.state).toBe('open');
    const whileOpen = primaryUp.requests.length;
    const third = await run(route, rt);
    expect(third.start).toBe('b');
    expect(primaryUp.requests.length).toBe(whileOpen); // skipped, not hammered
    expect(whileOpen - n).toBe(2);
    await new Promise((r) => setTimeout(r, 750)); // open period (500 ms) over and the upstream is back
    const probe = await run(route, rt);
    expect(probe.start).toBe('m');
    expect(events.health().primary!.state).toBe('closed');
    expect(transitions).toEqual(['primary:closed->open', 'primary:open->half-open', 'primary:half-open->closed']);
  });

  it('a probe whose caller gives up releases its slot, so the next request can probe', async () => {
    const rt = createRecoveryRuntime(breakerConfig, ['primary']);
    primaryUp.enqueue({ status: 503 }, { status: 503 });
    await run([target(primary, 'm')], rt);
    await run([target(primary, 'm')], rt);
    expect(rt.breakers.health().primary!.state).toBe('open');
    await new Promise((r) => setTimeout(r, 550));
    primaryUp.enqueue({ hang: true });
    const caller = new AbortController();
    const probing = (async () => {
      for await (const _e of executeRoute([target(primary, 'm')], request, { signal: caller.signal, recovery: rt }));
    })();
    await new Promise((r) => setTimeout(r, 100));
    expect(rt.breakers.health().primary!.probesInFlight).toBe(1);
    caller.abort(new Error('client went away'));
    await expect(probing).rejects.toThrow('client went away');
    expect(rt.breakers.health().primary).toMatchObject({ state: 'half-open', probesInFlight: 0 });
    await expectHealthy([target(primary, 'm')], rt);
    expect(rt.breakers.health().primary!.state).toBe('closed');
  });

  it('every target open → 503 with Retry-After until the earliest probe', async () => {
    const rt = createRecoveryRuntime(breakerConfig, ['primary', 'backup']);
    primaryUp.downFor(400);
    backupUp.downFor(400);
    const route = [target(primary, 'm'), target(backup, 'b')];
    await run(route, rt);
    await run(route, rt);
    const n = primaryUp.requests.length + backupUp.requests.length;
    const o = await run(route, rt);
    expect(primaryUp.requests.length + backupUp.requests.length).toBe(n);
    expect(o.error).toBeInstanceOf(ApiError);
    expect((o.error as ApiError).status).toBe(503);
    expect((o.error as ApiError).headers?.['retry-after']).toBe('1');
    await new Promise((r) => setTimeout(r, 550));
    await expectHealthy(route, rt);
  });
});
