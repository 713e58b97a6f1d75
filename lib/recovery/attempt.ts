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
 * Pulls one backend stream with the timers armed, one batch of events at a time (the backend's own
 * batches when it has `streamBatches`, else one event per batch). The backend gets an AbortSignal
 * that fires on the caller's abort or on a timeout; each pull also races the timers, so a backend
 * that ignores its signal cannot hold the request past a limit.
 */
export async function* runAttempt(
  backend: Backend,
  request: ChatRequest,
  callerSignal: AbortSignal,
  timeouts: AttemptTimeouts,
): AsyncGenerator<BackendEvent[]> {
  const controller = new AbortController();
  const onCallerAbort = () => controller.abort(callerSignal.reason);
  if (callerSignal.aborted) controller.abort(callerSignal.reason);
  else callerSignal.addEventListener('abort', onCallerAbort, { once: true });

  let fired: AttemptTimeoutError | undefined;
  /** Rejects the pull in progress; a fresh one per pull (racing one long-lived promise would pile reactions onto it). */
  let rejectPull: ((e: AttemptTimeoutError) => void) | undefined;
  const fire = (error: AttemptTimeoutError) => {
    if (fired) return;
    fired = error;
    controller.abort(error);
    rejectPull?.(error);
  };

  let sawOutput = false;
  let phaseTimer: NodeJS.Timeout | undefined;
  const armPhase = () => {
    clearTimeout(phaseTimer);
    const ms = sawOutput ? timeouts.idleMs : timeouts.firstTokenMs;
    phaseTimer =
      ms !== undefined && ms > 0 ? setTimeout(() => fire(new AttemptTimeoutError(backend.name, sawOutput ? 'idle' : 'first_token', ms, sawOutput)), ms) : undefined;
  };
  const totalTimer =
    timeouts.totalMs !== undefined && timeouts.totalMs > 0
      ? setTimeout(() => fire(new AttemptTimeoutError(backend.name, 'total', timeouts.totalMs!, sawOutput)), timeouts.totalMs)
      : undefined;
  armPhase();

  const batched = backend.streamBatches !== undefined;
  const iterator = (batched ? backend.streamBatches!(request, controller.signal) : backend.stream(request, controller.signal))[Symbol.asyncIterator]() as AsyncIterator<
    BackendEvent | BackendEvent[]
  >;
  const pull = (): Promise<IteratorResult<BackendEvent | BackendEvent[]>> =>
    new Promise((resolve, reject) => {
      if (fired) return reject(fired);
      rejectPull = reject;
      iterator.next().then(resolve, reject);
    });
  let backendDone = false;
  try {
    for (;;) {
      let step: IteratorResult<BackendEvent | BackendEvent[]>;
      try {
        step = await pull();
      } catch (error) {
        throw fired ?? error;
      }
      if (step.done) {
        backendDone = true;
        return;
      }
      const batch = batched ? (step.value as BackendEvent[]) : [step.value as BackendEvent];
      if (!sawOutput) {
        sawOutput = batch.some((e) => OUTPUT_TYPES.has(e.type));
        if (sawOutput) armPhase();
      } else {
        // Output flows: every batch restarts the idle limit.
        phaseTimer?.refresh();
      }
      yield batch;
    }
  } finally {
    clearTimeout(phaseTimer);
    clearTimeout(totalTimer);
    callerSignal.removeEventListener('abort', onCallerAbort);
    if (!backendDone) {
      // The caller stopped early or the attempt failed: the backend must stop too. (A backend that
      // finished needs no abort, and building the reason's Error per attempt is not free.)
      if (!controller.signal.aborted) controller.abort(new Error('attempt finished'));
      // Do not await: a backend stuck in a read must not hold the caller; its signal is already aborted.
      void iterator.return?.(undefined)?.catch(() => {});
    }
  }
}
