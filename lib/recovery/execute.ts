import type { BackendEvent, ChatRequest } from '../backends/types.js';
import { ApiError, serviceUnavailable } from '../protocol/errors.js';
import { runAttempt } from './attempt.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import { prefixMismatch, streamCut } from './errors.js';
import type { RecoveryEmitter } from './events.js';
import { describeFailure, failureReason, type Failure } from './failure.js';
import { RetryPolicy } from './retry-policy.js';
import { sleep } from './sleep.js';
import { DeliveredText } from './delivered-text.js';
import type { RouteTarget, RoutedEvent } from './types.js';

export type { RouteTarget, RoutedEvent } from './types.js';

/** Minimal logger shape (pino satisfies it). */
export interface RecoveryLogger {
  warn(obj: object, msg: string): void;
}

/** Long-lived recovery machinery shared by all requests (built once from the `recovery` config). */
export interface RecoveryRuntime {
  retry: RetryPolicy;
  /** Breaker of a backend, when breakers are configured. */
  breakerFor?(backend: string): CircuitBreaker | undefined;
  /**
   * What a `continuation: false` target does after a mid-stream failure: regenerate and verify that
   * the already-sent prefix matches (true, default), or be skipped so the stream ends with an error (false).
   */
  regenerateOnFailover?: boolean;
  logger?: RecoveryLogger;
}

export interface ExecuteOptions {
  signal: AbortSignal;
  events?: RecoveryEmitter;
  /** Text already delivered to the caller by an earlier run: every target continues after it. */
  alreadySent?: string;
  /** Retry policy and breakers; without it: the default retry policy and no breakers. Timeouts come from each target. */
  recovery?: RecoveryRuntime;
}

const defaultRuntime: RecoveryRuntime = { retry: new RetryPolicy() };

/** Outcome of one attempt, as far as routing cares. */
type AttemptResult = { ok: true } | { ok: false; failure: Failure; newOutput: boolean };

/**
 * Streams a chat request through a route's targets in order, with retries, breakers, timeouts and
 * mid-stream failover (see docs/recovery.md for every case). The stream either completes with a
 * `finish` event or throws: a cut answer is never presented as complete.
 *
 * - `start` is emitted once, just before the first output, and names the backend that answers.
 * - `usage` is reported only from the attempt that completed the answer.
 * - After output was delivered, a failure continues on the next target that can continue (prefill
 *   for `continuation: true`, verified regeneration otherwise); if none can, the original failure is thrown.
 */
export async function* executeRoute(targets: RouteTarget[], request: ChatRequest, opts: ExecuteOptions): AsyncGenerator<RoutedEvent> {
  for await (const batch of executeRouteBatches(targets, request, opts)) yield* batch;
}

/**
 * executeRoute in batches: the events that came from one backend batch (one network read) are
 * yielded together, so the relay pays one async step per read instead of one per token. Same
 * events in the same order as executeRoute; a batch is never empty.
 */
export async function* executeRouteBatches(targets: RouteTarget[], request: ChatRequest, opts: ExecuteOptions): AsyncGenerator<RoutedEvent[]> {
  const rt = opts.recovery ?? defaultRuntime;
  const regenerate = rt.regenerateOnFailover ?? true;
  // Budget for reaching output: restarted when a stream breaks mid-way, so a long answer can still be continued.
  let deadline = Date.now() + rt.retry.deadlineMs;
  const delivered = new DeliveredText(opts.alreadySent);
  let deliveredToolCalls = false;
  let startSent = false;
  let pendingStartModel: string | undefined;
  let attemptNo = 0;
  let lastFailure: Failure | undefined;
  /** The failure that broke the stream after output was delivered; the final error names it. */
  let midStreamFailure: Failure | undefined;
  /** After context_length_exceeded on a target of known size: skip targets no larger. */
  let contextCeiling: number | undefined;
  let earliestProbeMs = Number.POSITIVE_INFINITY;

  for (let t = 0; t < targets.length; t++) {
    const target = targets[t]!;
    const name = target.backend.name;
    const next = targets[t + 1]?.backend.name ?? 'none';
    const midStream = delivered.length > 0 || deliveredToolCalls;

    if (contextCeiling !== undefined && target.contextLength !== undefined && target.contextLength <= contextCeiling) continue;
    let mode: 'fresh' | 'prefill' | 'regenerate' = 'fresh';
    if (midStream) {
      if (deliveredToolCalls) continue;
      if (target.backend.continuation) mode = 'prefill';
      else if (regenerate) mode = 'regenerate';
      else continue;
    }

    const breaker = rt.breakerFor?.(name);
    const backoff = rt.retry.backoff.start();
    for (let onTarget = 1; ; onTarget++) {
      if (opts.signal.aborted) throw opts.signal.reason;
      if (Date.now() >= deadline) break;
      const admission = breaker ? breaker.admit() : { admitted: true as const, probe: false };
      if (!admission.admitted) {
        earliestProbeMs = Math.min(earliestProbeMs, admission.retryInMs);
        break;
      }
      attemptNo++;
      const ticket = new BreakerTicket(breaker, admission.probe);
      const req: ChatRequest = { ...request, model: target.model };
      delete req.prefill;
      if (mode === 'prefill') req.prefill = delivered.toString();

      const pendingUsage: BackendEvent[] = [];
      let verified = mode === 'regenerate' ? 0 : delivered.length;
      let newOutput = false;
      let finished = false;
      let result: AttemptResult | undefined;
      try {
        yield [{ type: 'attempt', backend: name, model: target.model, attempt: attemptNo }];
        try {
          for await (const batch of runAttempt(target.backend, req, opts.signal, target.timeouts ?? {})) {
            const outBatch: RoutedEvent[] = [];
            let batchError: unknown;
            try {
              for (const event of batch) {
                if (event.type === 'start') {
                  if (!startSent) pendingStartModel = event.model;
                  continue;
                }
                if (event.type === 'usage') {
                  pendingUsage.push(event);
                  continue;
                }
                let out: BackendEvent | undefined = event;
                if (verified < delivered.length) {
                  // Regeneration: what overlaps the delivered text must match it exactly and is not re-sent.
                  if (event.type !== 'content') throw prefixMismatch(name);
                  const overlap = Math.min(event.text.length, delivered.length - verified);
                  if (event.text.slice(0, overlap) !== delivered.slice(verified, verified + overlap)) throw prefixMismatch(name);
                  verified += overlap;
                  out = overlap < event.text.length ? { type: 'content', text: event.text.slice(overlap) } : undefined;
                }
                if (!out) continue;
                if (!startSent) {
                  startSent = true;
                  outBatch.push({ type: 'start', model: pendingStartModel ?? target.model });
                }
                if (out.type === 'content') {
                  delivered.append(out.text);
                  verified = delivered.length;
                  newOutput = true;
                } else if (out.type === 'tool_calls') {
                  deliveredToolCalls = true;
                  newOutput = true;
                } else if (out.type === 'refusal') {
                  newOutput = true;
                } else if (out.type === 'finish') {
                  finished = true;
                }
                outBatch.push(out);
              }
            } catch (error) {
              batchError = error;
            }
            // What was accepted before a failure in the same batch is delivered first, as one by one.
            if (outBatch.length > 0) yield outBatch;
            if (batchError !== undefined) throw batchError;
          }
          result = finished ? { ok: true } : { ok: false, failure: describeFailure(streamCut(name, newOutput || midStream)), newOutput };
        } catch (error) {
          if (opts.signal.aborted) throw opts.signal.reason ?? error;
          // A failure after the finish reason arrived loses nothing the caller needs: finalise the answer.
          result = finished ? { ok: true } : { ok: false, failure: describeFailure(error), newOutput };
        }
      } finally {
        // The caller aborted or stopped reading: a half-open probe slot must not stay taken.
        if (!result) {
          if (finished) ticket.success();
          else ticket.release();
        }
      }

      if (result.ok) {
        ticket.success();
        if (pendingUsage.length > 0) yield pendingUsage;
        return;
      }
      const failure = result.failure;
      const reason = failureReason(failure);
      lastFailure = failure;
      if (failure.retryable || failure.kind === 'cut') ticket.failure(failure.kind === 'timeout' ? 'timeout' : 'failure', reason);
      else ticket.success(); // it answered; the request was rejected on its merits
      rt.logger?.warn({ backend: name, attempt: attemptNo, reason, err: failure.message }, 'upstream attempt failed');

      if (failure.providerCode === 'content_policy_violation' && !midStream && !result.newOutput) {
        throw new ApiError(`The provider rejected the request under its content policy: ${failure.providerMessage ?? failure.message}`, {
          status: 400,
          type: 'invalid_request_error',
          code: 'content_policy_violation',
          cause: failure.error,
        });
      }
      if (result.newOutput || (midStream && !midStreamFailure)) {
        midStreamFailure ??= failure;
        deadline = Date.now() + rt.retry.deadlineMs;
        const successor = nextContinuer(targets, t + 1, regenerate, deliveredToolCalls);
        opts.events?.emit('failover:mid-stream', {
          backend: name,
          attempt: attemptNo,
          reason,
          to: successor.name,
          deliveredChars: delivered.length,
          mode: successor.mode,
        });
        yield [{ type: 'failover', from: name, to: successor.name, reason }];
        break;
      }
      if (failure.providerCode === 'context_length_exceeded') {
        if (target.contextLength !== undefined) contextCeiling = Math.max(contextCeiling ?? 0, target.contextLength);
        opts.events?.emit('fallback', { backend: name, attempt: attemptNo, reason, to: next });
        yield [{ type: 'failover', from: name, to: next, reason }];
        break;
      }
      if (midStream) {
        // A continuing target failed: move on, but the original failure stays the one reported.
        opts.events?.emit('fallback', { backend: name, attempt: attemptNo, reason, to: next });
        yield [{ type: 'failover', from: name, to: next, reason }];
        break;
      }
      const decision = rt.retry.decide(failure, onTarget, backoff, deadline - Date.now());
      if (decision.action === 'retry') {
        opts.events?.emit('retry', { backend: name, attempt: attemptNo, reason, delayMs: decision.delayMs });
        await sleep(decision.delayMs, opts.signal);
        continue;
      }
      opts.events?.emit('fallback', { backend: name, attempt: attemptNo, reason: `${reason}:${decision.reason}`, to: next });
      yield [{ type: 'failover', from: name, to: next, reason }];
      break;
    }
  }

  if (midStreamFailure) throw midStreamFailure.error;
  if (attemptNo === 0 && Number.isFinite(earliestProbeMs)) {
    throw serviceUnavailable('Every backend of this route is unavailable (circuit breaker open).', {
      retryAfterSec: Math.max(1, Math.ceil(earliestProbeMs / 1000)),
      code: 'backends_unavailable',
    });
  }
  if (lastFailure) throw lastFailure.error;
  throw serviceUnavailable('No backend of this route could take the request.', { code: 'backends_unavailable' });
}

/** One admitted attempt's breaker outcome, reported exactly once. */
class BreakerTicket {
  private settled = false;
  constructor(
    private readonly breaker: CircuitBreaker | undefined,
    private readonly probe: boolean,
  ) {}
  success(): void {
    if (this.settle()) this.breaker?.onSuccess(this.probe);
  }
  failure(outcome: 'failure' | 'timeout', reason: string): void {
    if (this.settle()) this.breaker?.onFailure(this.probe, outcome, reason);
  }
  release(): void {
    if (this.settle()) this.breaker?.releaseUnused(this.probe);
  }
  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    return true;
  }
}

/** The next target able to continue a broken stream, and how it would. */
function nextContinuer(
  targets: RouteTarget[],
  from: number,
  regenerate: boolean,
  toolCalls: boolean,
): { name: string; mode: 'prefill' | 'regenerate' | 'none' } {
  if (!toolCalls) {
    for (let i = from; i < targets.length; i++) {
      const backend = targets[i]!.backend;
      if (backend.continuation) return { name: backend.name, mode: 'prefill' };
      if (regenerate) return { name: backend.name, mode: 'regenerate' };
    }
  }
  return { name: 'none', mode: 'none' };
}
