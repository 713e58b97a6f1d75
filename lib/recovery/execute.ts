import type { ChatRequest } from '../backends/types.js';
import type { RecoveryEmitter } from './events.js';
import { describeFailure, failureReason } from './failure.js';
import { isOutputEvent, type RouteTarget, type RoutedEvent } from './types.js';

export type { RouteTarget, RoutedEvent } from './types.js';

export interface ExecuteOptions {
  signal: AbortSignal;
  events?: RecoveryEmitter;
  /** Text already delivered to the caller by an earlier run (resumed generation). */
  alreadySent?: string;
}

/** A stream ended without a finish event: a cut answer, never a success. */
export class StreamCutError extends Error {
  readonly code = 'ABI_ERR_BACKEND';
  readonly kind = 'cut';
  readonly retryable = true;
  constructor(
    readonly backend: string,
    readonly afterFirstToken: boolean,
  ) {
    super(`stream from backend '${backend}' ended without a finish reason`);
    this.name = 'StreamCutError';
  }
}

/**
 * Streams a chat request through a route's targets in order. Before the first output event any
 * failure moves on to the next target; after it the failure is rethrown, so a cut answer is never
 * presented as complete. The `start` event is held back until the first output so that it names
 * the backend that actually answers.
 */
export async function* executeRoute(
  targets: RouteTarget[],
  request: ChatRequest,
  opts: ExecuteOptions,
): AsyncGenerator<RoutedEvent> {
  let lastError: unknown;
  for (let i = 0; i < targets.length; i++) {
    const target = targets[i]!;
    const name = target.backend.name;
    yield { type: 'attempt', backend: name, model: target.model, attempt: i + 1 };
    let pendingStart: RoutedEvent | undefined;
    let sentOutput = false;
    let finished = false;
    try {
      const req: ChatRequest = { ...request, model: target.model };
      if (opts.alreadySent) req.prefill = opts.alreadySent;
      for await (const event of target.backend.stream(req, opts.signal)) {
        if (event.type === 'start') {
          pendingStart = event;
          continue;
        }
        if (pendingStart) {
          yield pendingStart;
          pendingStart = undefined;
        }
        if (isOutputEvent(event)) sentOutput = true;
        if (event.type === 'finish') finished = true;
        yield event;
      }
      if (!finished) throw new StreamCutError(name, sentOutput);
      return;
    } catch (error) {
      if (opts.signal.aborted) throw error;
      const failure = describeFailure(error);
      if (sentOutput || failure.providerCode === 'content_policy_violation') throw error;
      lastError = error;
      const next = targets[i + 1];
      if (next) {
        const reason = failureReason(failure);
        opts.events?.emit('fallback', { backend: name, attempt: i + 1, reason, to: next.backend.name });
        yield { type: 'failover', from: name, to: next.backend.name, reason };
      }
    }
  }
  throw lastError ?? new Error('route has no targets');
}
