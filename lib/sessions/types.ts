/**
 * Stream sessions: every event a stream sends is appended with a sequence number so that a client
 * that lost its connection can resume (SSE `Last-Event-ID`, `?after=`, WS `resume`) and receive
 * each event exactly once.
 */

export interface SessionRecord {
  /** 0, 1, 2, … in append order; the SSE `id:`. */
  seq: number;
  /** The serialised event, exactly as appended. */
  payload: string;
}

export type SessionStatus = 'open' | 'done' | 'error';

export interface StreamSession {
  readonly id: string;
  /** Caller-defined data stored with the session (model, format, principal id, …). */
  readonly meta: Readonly<Record<string, unknown>>;
  /** Appends one event; returns its seq. Throws once the session is finished. */
  append(payload: string): number;
  /**
   * Appends a content token kept as its text alone; readers get the session's `renderContent(text, seq)`.
   * Only when the session was created with `renderContent` (see `compactContent`).
   */
  appendContent(text: string): number;
  /** True when the session was created with a content renderer. */
  readonly compactContent: boolean;
  /** Marks the end of generation; wakes every waiter. */
  finish(status: 'done' | 'error'): void;
  /** Records with seq > afterSeq (-1 = from the start). Throws SessionGoneError if some were already evicted. */
  read(afterSeq: number): SessionRecord[];
  /** Resolves when a record after afterSeq exists, the session finishes, or the signal aborts. */
  wait(afterSeq: number, signal: AbortSignal): Promise<void>;
  /** A client is reading this stream; pass the client's last seen seq when it is a resume (emits `resume`). */
  attach(afterSeq?: number): void;
  /** A client went away; when none is left, generation is aborted after `detachedGraceMs`. */
  detach(): void;
  /** True once finish() was called. */
  readonly done: boolean;
  readonly status: SessionStatus;
  /**
   * True while the producer leads the most recent read() by the ring's high-water mark (half the
   * ring): the producer should pause until a reader catches up instead of overwriting unread events.
   */
  readonly aboveHighWater: boolean;
  /** seq the next append gets (= number of records appended so far). */
  readonly nextSeq: number;
  /**
   * Aborted when generation must stop: the detached grace expired, the TTL passed, or the store
   * evicted the session. Pass it (combined with others) to the generation's AbortSignal.
   */
  readonly generationSignal: AbortSignal;
}

export interface CreateSessionOptions {
  /** Use this id (must be unique); one is generated when absent. */
  id?: string;
  meta?: Record<string, unknown>;
  /**
   * Builds the payload of a content token appended with `appendContent` (a pure function of its
   * text and seq). Lets the store keep tokens compact instead of their full wire payloads.
   */
  renderContent?: (text: string, seq: number) => string;
}

/** Where sessions live. The memory store is one implementation; a shared store can be added behind this interface. */
export interface SessionStore {
  create(opts?: CreateSessionOptions): StreamSession;
  get(id: string): StreamSession | undefined;
  /** True when a session with this id existed and has expired or been evicted (410 rather than 404). */
  wasHere(id: string): boolean;
  /** Live sessions. */
  readonly size: number;
  /** Aborts every generation and frees every session. */
  close(): Promise<void>;
}
