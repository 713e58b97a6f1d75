import type { Backend, BackendEvent, ChatRequest } from '../backends/types.js';
import { AttemptTimeoutError } from './errors.js';

/** Time limits enforced around one attempt, whatever the backend type. */
export interface AttemptTimeouts {
  /** From the start of the attempt to the first output (token, tool call, refusal or finish), in ms. */
  firstTokenMs?: number;
  /** Longest silence between events once output has started, in ms. */
  idleMs?: number;
  /** Whole attempt, in ms. */
  totalMs?: number;
}

const OUTPUT_TYPES: ReadonlySet<string> = new Set(['content', 'tool_calls', 'refusal', 'finish']);

/**
 * Pulls one backend stream with the timers armed. The backend gets an AbortSignal that fires on the
 * caller's abort or on a timeout; the pull itself also races the timers, so a backend that ignores
 * its signal cannot hold the request past a limit.
 */
export async function* runAttempt(
  backend: Backend,
  request: ChatRequest,
  callerSignal: AbortSignal,
  timeouts: AttemptTimeouts,
): AsyncGenerator<BackendEvent> {
  const controller = new AbortController();
  const onCallerAbort = () => controller.abort(callerSignal.reason);
  if (callerSignal.aborted) controller.abort(callerSignal.reason);
  else callerSignal.addEventListener('abort', onCallerAbort, { once: true });

  let fired: AttemptTimeoutError | undefined;
  let rejectTimer: ((e: AttemptTimeoutError) => void) | undefined;
  const timerFired = new Promise<never>((_, reject) => {
    rejectTimer = reject;
  });
  timerFired.catch(() => {});
  const fire = (error: AttemptTimeoutError) => {
    if (fired) return;
    fired = error;
    controller.abort(error);
    rejectTimer!(error);
  };

  let sawOutput = false;
  let phaseTimer: NodeJS.Timeout | undefined;
  const armPhase = () => {
    clearTimeout(phaseTimer);
    const ms = sawOutput ? timeouts.idleMs : timeouts.firstTokenMs;
    if (ms !== undefined && ms > 0) phaseTimer = setTimeout(() => fire(new AttemptTimeoutError(backend.name, sawOutput ? 'idle' : 'first_token', ms, sawOutput)), ms);
  };
  const totalTimer =
    timeouts.totalMs !== undefined && timeouts.totalMs > 0
      ? setTimeout(() => fire(new AttemptTimeoutError(backend.name, 'total', timeouts.totalMs!, sawOutput)), timeouts.totalMs)
      : undefined;
  armPhase();

  const iterator = backend.stream(request, controller.signal)[Symbol.asyncIterator]();
  try {
    for (;;) {
      let step: IteratorResult<BackendEvent>;
      try {
        step = await Promise.race([iterator.next(), timerFired]);
      } catch (error) {
        throw fired ?? error;
      }
      if (step.done) return;
      if (OUTPUT_TYPES.has(step.value.type)) sawOutput = true;
      // The first-token limit runs from the start of the attempt; once output flows every event restarts the idle limit.
      if (sawOutput) armPhase();
      yield step.value;
    }
  } finally {
    clearTimeout(phaseTimer);
    clearTimeout(totalTimer);
    callerSignal.removeEventListener('abort', onCallerAbort);
    if (!controller.signal.aborted) controller.abort(new Error('attempt finished'));
    // Do not await: a backend stuck in a read must not hold the caller; its signal is already aborted.
    void iterator.return?.(undefined)?.catch(() => {});
  }
}
