/**
 * Breaker counters: per-backend circuit-breaker state and a sliding outcome window in shared memory,
 * updated lock-free by native std::atomic_ref operations (layout in native/breaker/breaker_counters.hpp).
 * Share them between worker_threads with `attach(buffer)` and between processes (node:cluster) with
 * `openShared(name)`. Policy (thresholds, open duration) is not here; it belongs to lib/recovery/.
 */
import { AbiError, InvalidArgumentError, SharedLayoutError } from '../errors.js';
import { loadBinding } from './binding.js';

export type BreakerState = 'closed' | 'open' | 'half-open';
export type BreakerOutcome = 'success' | 'failure' | 'timeout';

export interface BreakerSnapshot {
  state: BreakerState;
  /** When the slot last went open (ms, the caller's clock); 0 if never. */
  openedAtMs: number;
  /** Transitions to open since the slot was last closed. */
  openings: number;
  /** Failures and timeouts since the last success. */
  consecutiveFailures: number;
  /** Outcomes in the last `buckets` buckets of `bucketMs` each. */
  window: { success: number; failure: number; timeout: number };
  probesInFlight: number;
}

export interface BreakerCountersOptions {
  /** Number of independent breakers (e.g. one per backend), 1..65536. */
  slots: number;
  /** Buckets in the sliding window. Default 10. */
  buckets?: number;
  /** Width of one bucket in ms; the window spans buckets × bucketMs. Default 1000. */
  bucketMs?: number;
}

interface NativeCounters {
  record(slot: number, outcome: number, nowMs: number): void;
  snapshot(slot: number, nowMs: number): Float64Array;
  transition(slot: number, from: number, to: number, nowMs: number): boolean;
  tryAcquireProbe(slot: number, maxProbes: number): boolean;
  releaseProbe(slot: number): void;
  layout(): { slots: number; buckets: number; bucketMs: number; bytes: number };
  close(): void;
}

interface BreakerBinding {
  Counters: {
    new (kind: 'sab', view: BigInt64Array): NativeCounters;
    new (kind: 'shm', name: string, slots: number, buckets: number, bucketMs: number): NativeCounters;
  };
  bytesFor(slots: number, buckets: number): number;
  init(view: BigInt64Array, slots: number, buckets: number, bucketMs: number): void;
  unlinkShared(name: string): boolean;
}

const STATES: readonly BreakerState[] = ['closed', 'open', 'half-open'];
const OUTCOMES: Readonly<Record<BreakerOutcome, number>> = { success: 0, failure: 1, timeout: 2 };
/** POSIX shm names: one leading slash, then a portable file name. */
const SHM_NAME = /^\/?[A-Za-z0-9._-]{1,200}$/;

function breakerBinding(): BreakerBinding {
  return loadBinding().breaker as BreakerBinding;
}

function rethrow(err: unknown): never {
  const code = (err as { code?: string }).code;
  const message = (err as Error).message;
  if (code === 'ABI_ERR_SHM_LAYOUT') throw new SharedLayoutError(message);
  if (code === 'ABI_ERR_INVALID_ARG') throw new InvalidArgumentError(message);
  if (code) throw new AbiError(message, code, { cause: err });
  throw err;
}

function shapeOf(opts: BreakerCountersOptions): [number, number, number] {
  const slots = opts.slots;
  const buckets = opts.buckets ?? 10;
  const bucketMs = opts.bucketMs ?? 1000;
  if (!Number.isInteger(slots) || slots < 1 || slots > 65536) {
    throw new InvalidArgumentError(`breaker counters: slots must be an integer in [1, 65536], got ${slots}`);
  }
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 1024) {
    throw new InvalidArgumentError(`breaker counters: buckets must be an integer in [1, 1024], got ${buckets}`);
  }
  if (!Number.isInteger(bucketMs) || bucketMs < 1 || bucketMs > 2 ** 31) {
    throw new InvalidArgumentError(`breaker counters: bucketMs must be a positive integer, got ${bucketMs}`);
  }
  return [slots, buckets, bucketMs];
}

function checkNow(nowMs: number): void {
  if (!Number.isFinite(nowMs) || nowMs < 0 || nowMs >= 2 ** 47) {
    throw new InvalidArgumentError(`breaker counters: nowMs must be a time in ms in [0, 2^47), got ${nowMs}`);
  }
}

function normaliseShmName(name: string): string {
  if (typeof name !== 'string' || !SHM_NAME.test(name) || /^\/?\.\.?$/.test(name)) {
    throw new InvalidArgumentError(
      `breaker counters: shm name must be 1-200 of [A-Za-z0-9._-] with an optional leading '/', got ${JSON.stringify(name)}`,
    );
  }
  return name.startsWith('/') ? name : `/${name}`;
}

export class BreakerCounters {
  /** The SharedArrayBuffer for worker_threads (`attach`); null for a shm segment. */
  readonly buffer: SharedArrayBuffer | null;
  readonly slots: number;
  readonly buckets: number;
  readonly bucketMs: number;
  readonly #native: NativeCounters;

  private constructor(native: NativeCounters, buffer: SharedArrayBuffer | null) {
    this.#native = native;
    this.buffer = buffer;
    const layout = native.layout();
    this.slots = layout.slots;
    this.buckets = layout.buckets;
    this.bucketMs = layout.bucketMs;
  }

  /** Fresh counters in a new SharedArrayBuffer, every slot closed. */
  static create(opts: BreakerCountersOptions): BreakerCounters {
    const [slots, buckets, bucketMs] = shapeOf(opts);
    const b = breakerBinding();
    const buffer = new SharedArrayBuffer(b.bytesFor(slots, buckets));
    const view = new BigInt64Array(buffer);
    b.init(view, slots, buckets, bucketMs);
    return new BreakerCounters(new b.Counters('sab', view), buffer);
  }

  /** The same counters from another worker_thread. */
  static attach(buffer: SharedArrayBuffer): BreakerCounters {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength % 8 !== 0) {
      throw new InvalidArgumentError('breaker counters: attach expects the SharedArrayBuffer of a BreakerCounters');
    }
    try {
      return new BreakerCounters(new (breakerBinding().Counters)('sab', new BigInt64Array(buffer)), buffer);
    } catch (err) {
      rethrow(err);
    }
  }

  /**
   * Opens (creating if needed) the named POSIX shared-memory segment, for processes of one host
   * (node:cluster). Throws SharedLayoutError (ABI_ERR_SHM_LAYOUT) when it exists with another shape or
   * layout version. The segment outlives the processes until `unlinkShared(name)`.
   */
  static openShared(name: string, opts: BreakerCountersOptions): BreakerCounters {
    const shmName = normaliseShmName(name);
    const [slots, buckets, bucketMs] = shapeOf(opts);
    try {
      return new BreakerCounters(new (breakerBinding().Counters)('shm', shmName, slots, buckets, bucketMs), null);
    } catch (err) {
      rethrow(err);
    }
  }

  /** Removes the named segment (processes that have it open keep their mapping). False if it did not exist. */
  static unlinkShared(name: string): boolean {
    try {
      return breakerBinding().unlinkShared(normaliseShmName(name));
    } catch (err) {
      rethrow(err);
    }
  }

  /** Counts one outcome in the current bucket; a success resets consecutiveFailures, failure/timeout add one. */
  record(slot: number, outcome: BreakerOutcome, nowMs: number): void {
    const code = OUTCOMES[outcome];
    if (code === undefined) throw new InvalidArgumentError(`breaker counters: unknown outcome ${String(outcome)}`);
    checkNow(nowMs);
    try {
      this.#native.record(slot, code, nowMs);
    } catch (err) {
      rethrow(err);
    }
  }

  snapshot(slot: number, nowMs: number): BreakerSnapshot {
    let v: Float64Array;
    checkNow(nowMs);
    try {
      v = this.#native.snapshot(slot, nowMs);
    } catch (err) {
      rethrow(err);
    }
    return {
      state: STATES[v[0]!] ?? 'closed',
      openedAtMs: v[1]!,
      openings: v[2]!,
      consecutiveFailures: v[3]!,
      probesInFlight: v[4]!,
      window: { success: v[5]!, failure: v[6]!, timeout: v[7]! },
    };
  }

  /**
   * Compare-and-swap from → to; true for exactly one of any concurrent callers. → open stamps openedAt
   * and counts an opening; → closed resets consecutiveFailures and openings; every transition resets
   * the probes in flight.
   */
  transition(slot: number, from: BreakerState, to: BreakerState, nowMs: number): boolean {
    const f = STATES.indexOf(from);
    const t = STATES.indexOf(to);
    if (f < 0 || t < 0) throw new InvalidArgumentError(`breaker counters: bad transition ${from} -> ${to}`);
    checkNow(nowMs);
    try {
      return this.#native.transition(slot, f, t, nowMs);
    } catch (err) {
      rethrow(err);
    }
  }

  /** In half-open only: true for at most maxProbes concurrent callers until they releaseProbe(). */
  tryAcquireProbe(slot: number, maxProbes: number): boolean {
    try {
      return this.#native.tryAcquireProbe(slot, maxProbes);
    } catch (err) {
      rethrow(err);
    }
  }

  /** Returns a probe taken by tryAcquireProbe (a no-op once a transition has reset the probes). */
  releaseProbe(slot: number): void {
    try {
      this.#native.releaseProbe(slot);
    } catch (err) {
      rethrow(err);
    }
  }

  /** Unmaps a shm segment now (finalisation would do it later); further calls throw. */
  close(): void {
    this.#native.close();
  }
}
