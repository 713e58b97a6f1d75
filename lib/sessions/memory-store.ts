import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import type { RecoveryEmitter } from '../recovery/events.js';
import { requireInteger } from '../recovery/validate.js';
import { SessionClosedError, SessionGoneError, SessionLimitError } from './errors.js';
import { ReplayGap, ReplayLog } from './replay-log.js';
import type { CreateSessionOptions, SessionRecord, SessionStatus, SessionStore, StreamSession } from './types.js';

export interface MemorySessionStoreOptions {
  /** How long a finished session stays resumable, in ms (default 300000). */
  ttlMs?: number;
  /** How long generation continues after the last client detached, in ms (default 30000). */
  detachedGraceMs?: number;
  /** Most sessions held at once; the oldest finished one is evicted to make room (default 10000). */
  maxSessions?: number;
  /**
   * Replay buffer per session: most bytes of events kept for resume (default 131072). Memory grows
   * with what a stream sent, up to this; older events are dropped beyond it (the newest always stays).
   */
  ringBytes?: number;
  /** Receives `resume` events. */
  events?: RecoveryEmitter;
}

/**
 * Sessions in this process, one ReplayLog of event strings per stream. Finished sessions
 * stay readable for ttlMs; ids of expired ones are remembered (bounded) so a late resume gets 410.
 */
export class MemorySessionStore implements SessionStore {
  readonly ttlMs: number;
  readonly detachedGraceMs: number;
  readonly maxSessions: number;
  readonly ringBytes: number;
  private readonly sessions = new Map<string, MemorySession>();
  /** Ids that were here, oldest first, bounded by maxSessions. */
  private readonly departed = new Set<string>();
  private readonly events: RecoveryEmitter | undefined;

  constructor(opts: MemorySessionStoreOptions = {}) {
    const o = 'MemorySessionStore';
    this.ttlMs = requireInteger(o, 'ttlMs', opts.ttlMs ?? 300_000, 1);
    this.detachedGraceMs = requireInteger(o, 'detachedGraceMs', opts.detachedGraceMs ?? 30_000, 0);
    this.maxSessions = requireInteger(o, 'maxSessions', opts.maxSessions ?? 10_000, 1);
    this.ringBytes = requireInteger(o, 'ringBytes', opts.ringBytes ?? 131_072, 256, 2 ** 30);
    this.events = opts.events;
  }

  get size(): number {
    return this.sessions.size;
  }

  create(opts: CreateSessionOptions = {}): StreamSession {
    const id = opts.id ?? randomUUID();
    if (this.sessions.has(id)) throw new InvalidArgumentError(`session id ${id} is already in use`);
    if (this.sessions.size >= this.maxSessions) this.evictOldestFinished();
    const log = new ReplayLog(this.ringBytes, Math.floor(this.ringBytes / 2), opts.renderContent);
    const session = new MemorySession(id, Object.freeze({ ...opts.meta }), log, this);
    this.sessions.set(id, session);
    this.departed.delete(id);
    return session;
  }

  get(id: string): StreamSession | undefined {
    return this.sessions.get(id);
  }

  wasHere(id: string): boolean {
    return this.departed.has(id);
  }

  async close(): Promise<void> {
    for (const s of [...this.sessions.values()]) this.remove(s, 'store closed');
  }

  /** @internal */
  remove(session: MemorySession, why: string): void {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    session.dispose(why);
    this.departed.add(session.id);
    if (this.departed.size > this.maxSessions) this.departed.delete(this.departed.values().next().value!);
  }

  /** @internal */
  emitResume(session: MemorySession, afterSeq: number): void {
    const backend = typeof session.meta.backend === 'string' ? session.meta.backend : 'unknown';
    this.events?.emit('resume', { backend, attempt: 0, reason: 'client_resume', streamId: session.id, afterSeq });
  }

  private evictOldestFinished(): void {
    // Map iteration is insertion order: the first finished one is the oldest.
    for (const s of this.sessions.values()) {
      if (s.done) {
        this.remove(s, 'evicted for room');
        return;
      }
    }
    throw new SessionLimitError(this.maxSessions);
  }
}

/** How long after aborting an abandoned generation the store finishes its session itself. */
const ABANDON_FINISH_MS = 1000;

class MemorySession implements StreamSession {
  private readonly controller = new AbortController();
  private attached = 0;
  private graceTimer: NodeJS.Timeout | undefined;
  private ttlTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  private finalStatus: SessionStatus = 'open';
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly id: string,
    readonly meta: Readonly<Record<string, unknown>>,
    private readonly log: ReplayLog,
    private readonly store: MemorySessionStore,
  ) {}

  get done(): boolean {
    return this.finalStatus !== 'open';
  }
  get status(): SessionStatus {
    return this.finalStatus;
  }
  get nextSeq(): number {
    return this.log.nextSeq;
  }
  get aboveHighWater(): boolean {
    return !this.disposed && this.log.aboveHighWater;
  }
  get generationSignal(): AbortSignal {
    return this.controller.signal;
  }

  get compactContent(): boolean {
    return this.log.compactContent;
  }

  append(payload: string): number {
    if (this.done || this.disposed) throw new SessionClosedError(this.id);
    const seq = this.log.append(payload);
    this.wakeAll();
    return seq;
  }

  appendContent(text: string): number {
    if (this.done || this.disposed) throw new SessionClosedError(this.id);
    const seq = this.log.appendContent(text);
    this.wakeAll();
    return seq;
  }

  finish(status: 'done' | 'error'): void {
    if (this.done) return;
    this.finalStatus = status;
    this.wakeAll();
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.ttlTimer = setTimeout(() => this.store.remove(this, 'ttl expired'), this.store.ttlMs);
    this.ttlTimer.unref();
  }

  read(afterSeq: number): SessionRecord[] {
    if (this.disposed) throw new SessionGoneError(this.id, afterSeq + 1, -1);
    try {
      return this.log.read(afterSeq);
    } catch (err) {
      if (err instanceof ReplayGap) throw new SessionGoneError(this.id, err.requestedSeq, err.oldestSeq);
      throw err;
    }
  }

  async wait(afterSeq: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.disposed || this.done || this.log.nextSeq > afterSeq + 1) return;
    await new Promise<void>((resolve) => {
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private wakeAll(): void {
    if (this.waiters.size === 0) return;
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }

  attach(afterSeq?: number): void {
    this.attached++;
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    if (afterSeq !== undefined) this.store.emitResume(this, afterSeq);
  }

  detach(): void {
    if (this.attached > 0) this.attached--;
    if (this.attached > 0 || this.done || this.graceTimer) return;
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined;
      if (this.attached > 0 || this.done) return;
      this.controller.abort(new Error(`stream ${this.id}: no client for ${this.store.detachedGraceMs} ms`));
      // The generation's owner normally appends its error event and finishes the session on abort;
      // finishing it here too (a moment later) guarantees the TTL starts even if the owner never does.
      this.graceTimer = setTimeout(() => this.finish('error'), ABANDON_FINISH_MS);
      this.graceTimer.unref();
    }, this.store.detachedGraceMs);
    this.graceTimer.unref();
  }

  /** @internal */
  dispose(why: string): void {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.graceTimer);
    clearTimeout(this.ttlTimer);
    // A finished generation has nothing left to stop.
    if (!this.done && !this.controller.signal.aborted) this.controller.abort(new Error(`stream ${this.id}: ${why}`));
    if (!this.done) this.finalStatus = 'error';
    this.log.clear();
    this.wakeAll();
  }
}
