import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { TokenRing, TokenRingGoneError } from '../native/token-ring.js';
import type { RecoveryEmitter } from '../recovery/events.js';
import { requireInteger } from '../recovery/validate.js';
import { SessionClosedError, SessionGoneError, SessionLimitError } from './errors.js';
import type { CreateSessionOptions, SessionRecord, SessionStatus, SessionStore, StreamSession } from './types.js';

export interface MemorySessionStoreOptions {
  /** How long a finished session stays resumable, in ms (default 300000). */
  ttlMs?: number;
  /** How long generation continues after the last client detached, in ms (default 30000). */
  detachedGraceMs?: number;
  /** Most sessions held at once; the oldest finished one is evicted to make room (default 10000). */
  maxSessions?: number;
  /** Replay buffer per session in bytes, a power of two (default 131072). A session holds up to 1.5 × this (ring, seq index, read buffer). */
  ringBytes?: number;
  /** Receives `resume` events. */
  events?: RecoveryEmitter;
}

/**
 * Sessions in this process, one native TokenRing (SharedArrayBuffer) per stream. Finished sessions
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
    if ((this.ringBytes & (this.ringBytes - 1)) !== 0) throw new InvalidArgumentError(`${o}: ringBytes must be a power of two, got ${this.ringBytes}`);
    this.events = opts.events;
  }

  get size(): number {
    return this.sessions.size;
  }

  create(opts: CreateSessionOptions = {}): StreamSession {
    const id = opts.id ?? randomUUID();
    if (this.sessions.has(id)) throw new InvalidArgumentError(`session id ${id} is already in use`);
    if (this.sessions.size >= this.maxSessions) this.evictOldestFinished();
    const ring = TokenRing.create({ capacityBytes: this.ringBytes });
    const session = new MemorySession(id, Object.freeze({ ...opts.meta }), ring, this);
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
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly id: string,
    readonly meta: Readonly<Record<string, unknown>>,
    private readonly ring: TokenRing,
    private readonly store: MemorySessionStore,
  ) {}

  get done(): boolean {
    return this.ring.closed;
  }
  get status(): SessionStatus {
    return this.ring.status;
  }
  get nextSeq(): number {
    return this.ring.nextSeq;
  }
  get aboveHighWater(): boolean {
    return !this.disposed && this.ring.aboveHighWater;
  }
  get generationSignal(): AbortSignal {
    return this.controller.signal;
  }

  append(payload: string): number {
    if (this.ring.closed || this.disposed) throw new SessionClosedError(this.id);
    const seq = this.ring.push(payload);
    this.wakeAll();
    return seq;
  }

  finish(status: 'done' | 'error'): void {
    if (this.ring.closed) return;
    this.ring.close(status);
    this.wakeAll();
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.ttlTimer = setTimeout(() => this.store.remove(this, 'ttl expired'), this.store.ttlMs);
    this.ttlTimer.unref();
  }

  read(afterSeq: number): SessionRecord[] {
    if (this.disposed) throw new SessionGoneError(this.id, afterSeq + 1, -1);
    try {
      return this.ring.read(afterSeq).map((r) => ({ seq: r.seq, payload: r.text() }));
    } catch (err) {
      if (err instanceof TokenRingGoneError) throw new SessionGoneError(this.id, afterSeq + 1, err.oldestSeq);
      throw err;
    }
  }

  async wait(afterSeq: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.disposed || this.ring.closed || this.ring.nextSeq > afterSeq + 1) return;
    // The producer is append() on this thread, so a plain promise list wakes readers in O(1) each;
    // parking in Atomics.waitAsync costs O(waiters) per notify in V8 (tens of ms at 1000 streams).
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
    if (this.attached > 0 || this.ring.closed || this.graceTimer) return;
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined;
      if (this.attached > 0 || this.ring.closed) return;
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
    if (!this.controller.signal.aborted) this.controller.abort(new Error(`stream ${this.id}: ${why}`));
    if (!this.ring.closed) this.ring.close('error');
    this.wakeAll();
  }
}
