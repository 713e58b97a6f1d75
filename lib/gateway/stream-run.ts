import type { BackendEvent, Usage } from '../backends/types.js';
import { ApiError, badGateway, toApiError } from '../protocol/errors.js';
import type { RoutedEvent } from '../recovery/types.js';
import type { StreamSession } from '../sessions/types.js';

/** Output events of a backend (everything but `start`). */
export type OutputEvent = Exclude<BackendEvent, { type: 'start' }>;

/** `StreamEncoder.event` result: keep this content token as its text; `renderContent` builds its payload. */
export const COMPACT_CONTENT: unique symbol = Symbol('compact content');

/** Serialises one stream into session payloads in one wire format (OpenAI chunks or ABI events). */
export interface StreamEncoder {
  /** Payloads that open the answer of `model` (e.g. the role chunk). */
  start(model: string): string[];
  /**
   * The payload for one output event, if it has one (at most one: this runs once per token), or
   * COMPACT_CONTENT for a content event whose payload `renderContent` can build from its text.
   */
  event(event: OutputEvent): string | typeof COMPACT_CONTENT | undefined;
  /** The payload of a compact content token at `seq`; pure once the stream started. */
  renderContent(text: string, seq: number): string;
  /** Payloads that close a successful stream (usage chunk, `[DONE]`, `end`). */
  finish(): string[];
  /** The in-band error payload of a failed stream. */
  error(err: ApiError): string[];
}

/** Hooks for metrics and logs; every one optional. */
export interface RunObserver {
  attempt?(backend: string, model: string, attempt: number): void;
  failover?(from: string, to: string, reason: string): void;
  firstToken?(backend: string, ms: number): void;
  interToken?(backend: string, ms: number): void;
  end?(result: { ok: boolean; backend: string | undefined; tokens: number; usage?: Usage; error?: ApiError; durationMs: number }): void;
}

/** Which backend and model answer, known at the `start` event. */
export interface StartInfo {
  backend: string;
  model: string;
}

export interface StreamRunInit {
  /** Runs the route (executeRouteBatches) with the run's signal; `release` is called once the run stopped iterating. */
  execute(signal: AbortSignal): { events: AsyncIterable<RoutedEvent[]>; release: () => void };
  encoder: StreamEncoder;
  session: StreamSession;
  observer?: RunObserver;
}

const isOutput = (e: RoutedEvent): e is OutputEvent =>
  e.type === 'content' || e.type === 'refusal' || e.type === 'tool_calls' || e.type === 'finish' || e.type === 'usage';

/**
 * One streamed generation, decoupled from any client connection: it appends every event to its
 * session, and readers (the first response, resumes, WebSocket) follow the session at their own
 * pace. It ends on success, on an upstream failure (an in-band error payload, never a success
 * finish), when the session's generation signal fires (nobody attached past the grace period), on
 * cancel, or when a drain runs out of grace.
 */
export class StreamRun {
  readonly ready: Promise<StartInfo>;
  readonly finished: Promise<void>;
  private resolveReady!: (info: StartInfo) => void;
  private rejectReady!: (err: ApiError) => void;
  private readonly controller = new AbortController();
  private abortError: ApiError | undefined;
  private startInfo: StartInfo | undefined;
  private attemptBackend: string | undefined;
  private tokens = 0;
  private usage: Usage | undefined;
  private readerWaiters: (() => void)[] = [];
  private dataWaiters: (() => void)[] = [];
  private readonly hookedSignals = new WeakSet<AbortSignal>();

  constructor(private readonly init: StreamRunInit) {
    this.ready = new Promise<StartInfo>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {});
    this.finished = this.run();
  }

  get session(): StreamSession {
    return this.init.session;
  }

  /** Backend that answers, once known. */
  get backend(): string | undefined {
    return this.startInfo?.backend;
  }

  /** Stops generation; the stream's readers get `reason` as its in-band error. */
  abort(reason: ApiError): void {
    if (this.controller.signal.aborted) return;
    this.abortError = reason;
    this.controller.abort(reason);
  }

  abortForShutdown(): void {
    this.abort(
      new ApiError('The server is shutting down; this stream was stopped before it finished.', {
        status: 503,
        type: 'server_error',
        code: 'server_shutdown',
      }),
    );
  }

  private async run(): Promise<void> {
    const { session, encoder, observer } = this.init;
    // One signal for the upstream: this run's own aborts, plus the session's (grace expired, evicted).
    // Forwarded by hand: AbortSignal.any keeps its sources alive on Node 20.
    const signal = this.controller.signal;
    const forward = (): void => this.controller.abort(session.generationSignal.reason);
    if (session.generationSignal.aborted) forward();
    else session.generationSignal.addEventListener('abort', forward, { once: true });
    const began = performance.now();
    let lastTokenAt = 0;
    const execution = this.init.execute(signal);
    try {
      for await (const batch of execution.events) {
        let appended = false;
        for (const event of batch) {
          if (event.type === 'attempt') {
            this.attemptBackend = event.backend;
            observer?.attempt?.(event.backend, event.model, event.attempt);
            continue;
          }
          if (event.type === 'failover') {
            observer?.failover?.(event.from, event.to, event.reason);
            continue;
          }
          if (event.type === 'start') {
            this.begin(event.model);
            continue;
          }
          if (!isOutput(event)) continue;
          // A backend that yields output without a start still answers with the requested model.
          if (!this.startInfo) this.begin(session.meta.model as string);
          if (event.type === 'content' || event.type === 'tool_calls' || event.type === 'refusal') {
            const now = performance.now();
            const backend = this.startInfo!.backend;
            if (this.tokens === 0) observer?.firstToken?.(backend, now - began);
            else observer?.interToken?.(backend, now - lastTokenAt);
            lastTokenAt = now;
            this.tokens++;
          }
          if (event.type === 'usage') this.usage = event.usage;
          const payload = encoder.event(event);
          if (payload === COMPACT_CONTENT) {
            const text = (event as { text: string }).text;
            if (session.compactContent) session.appendContent(text);
            else session.append(encoder.renderContent(text, session.nextSeq));
            appended = true;
          } else if (payload !== undefined) {
            session.append(payload);
            appended = true;
          }
          // Checked per event, not per batch: a batch may be larger than the session's buffer, and
          // events a reader has not seen must never be dropped to make room.
          if (appended && session.aboveHighWater) {
            this.wakeData();
            appended = false;
            await this.waitForReaders(signal);
          }
        }
        // One wake-up per batch: readers then write the whole batch in one socket write.
        if (appended) this.wakeData();
      }
      if (signal.aborted) throw signal.reason;
      if (!this.startInfo) this.begin(session.meta.model as string);
      this.appendAll(encoder.finish());
      session.finish('done');
      this.wakeData();
      observer?.end?.({
        ok: true,
        backend: this.startInfo?.backend,
        tokens: this.tokens,
        ...(this.usage ? { usage: this.usage } : {}),
        durationMs: performance.now() - began,
      });
    } catch (err) {
      const apiError = this.failureOf(err, signal);
      this.rejectReady(apiError);
      try {
        this.appendAll(encoder.error(apiError));
        session.finish('error');
      } catch {
        // The store already evicted the session: nobody is left to tell.
      }
      this.wakeData();
      observer?.end?.({
        ok: false,
        backend: this.startInfo?.backend ?? this.attemptBackend,
        tokens: this.tokens,
        error: apiError,
        durationMs: performance.now() - began,
      });
    } finally {
      execution.release();
      session.generationSignal.removeEventListener('abort', forward);
    }
  }

  /**
   * Resolves when the session has a record after `afterSeq`, is finished, or `signal` aborts.
   * In-process readers wait here rather than on the ring's Atomics.waitAsync, whose wake-ups get
   * slower with every waiter in the process (tens of ms at 100 streams, measured).
   */
  waitForData(afterSeq: number, signal: AbortSignal): Promise<void> {
    const session = this.init.session;
    if (session.nextSeq > afterSeq + 1 || session.done || signal.aborted) return Promise.resolve();
    // One abort listener per reader signal for the run's life, not one added and removed per wait
    // (EventTarget listeners cost microseconds, and a reader waits once per token): an abort wakes
    // every waiter, and a reader woken for nothing looks again and waits again.
    if (!this.hookedSignals.has(signal)) {
      this.hookedSignals.add(signal);
      signal.addEventListener('abort', this.wakeData, { once: true });
    }
    return new Promise((resolve) => this.dataWaiters.push(resolve));
  }

  private readonly wakeData = (): void => {
    if (this.dataWaiters.length === 0) return;
    const waiters = this.dataWaiters;
    this.dataWaiters = [];
    for (const w of waiters) w();
  };

  /** A reader took records from the session: a paused generation may go on. */
  readerAdvanced(): void {
    const waiters = this.readerWaiters;
    this.readerWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Backpressure: while the producer leads the readers by the ring's high-water mark, stop pulling
   * from the upstream (its TCP window then fills and it slows down) instead of overwriting events a
   * reader has not seen yet. A reader's next read, or the end of the run, releases it.
   */
  private async waitForReaders(signal: AbortSignal): Promise<void> {
    while (this.init.session.aboveHighWater && !signal.aborted) {
      await new Promise<void>((resolve) => {
        // The listener goes when the reader wakes us: a fast stream pauses thousands of times.
        const wake = (): void => {
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.readerWaiters.push(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
  }

  private begin(model: string): void {
    this.startInfo = { backend: this.attemptBackend ?? 'unknown', model };
    this.appendAll(this.init.encoder.start(model));
    this.resolveReady(this.startInfo);
  }

  private failureOf(err: unknown, signal: AbortSignal): ApiError {
    if (this.abortError) return this.abortError;
    if (signal.aborted && signal.reason instanceof ApiError) return signal.reason;
    if (signal.aborted) {
      return new ApiError('The stream was abandoned: no client stayed attached within the detached grace period.', {
        status: 499,
        type: 'server_error',
        code: 'stream_abandoned',
      });
    }
    if ((err as { kind?: unknown } | null)?.kind === 'cut' && !(err instanceof ApiError)) {
      // executeRoute's StreamCutError: the upstream closed without a finish reason.
      return badGateway('The upstream stream ended before it finished; the answer is incomplete.', 'upstream_cut', err);
    }
    return toApiError(err);
  }

  private appendAll(payloads: string[]): void {
    if (payloads.length === 0) return;
    for (const p of payloads) this.init.session.append(p);
    this.wakeData();
  }
}
