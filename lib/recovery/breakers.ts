import { BreakerCounters } from '../native/breaker-counters.js';
import { CircuitBreaker, type BreakerHealth, type CircuitBreakerOptions } from './circuit-breaker.js';
import type { RecoveryEmitter } from './events.js';

/** Buckets of the native error-rate window: windowMs is split into this many. */
const WINDOW_BUCKETS = 10;

export interface BreakerRegistryDeps {
  events?: RecoveryEmitter;
  /**
   * Counters to use, e.g. `BreakerCounters.attach(buffer)` in a worker_thread or `openShared(name)`
   * across node:cluster workers, so every worker sees one state per backend. Default: fresh in-process counters.
   */
  counters?: BreakerCounters;
  now?: () => number;
}

/** One CircuitBreaker per backend, each on its own slot (declaration order) of one native counters block. */
export class BreakerRegistry {
  readonly counters: BreakerCounters;
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(
    readonly backends: readonly string[],
    opts: CircuitBreakerOptions = {},
    deps: BreakerRegistryDeps = {},
  ) {
    const windowMs = opts.windowMs ?? 10_000;
    this.counters =
      deps.counters ??
      BreakerCounters.create({ slots: Math.max(1, backends.length), buckets: WINDOW_BUCKETS, bucketMs: Math.max(1, Math.ceil(windowMs / WINDOW_BUCKETS)) });
    backends.forEach((name, slot) => {
      this.breakers.set(name, new CircuitBreaker(name, this.counters, slot, opts, deps.events, deps.now));
    });
  }

  get(backend: string): CircuitBreaker | undefined {
    return this.breakers.get(backend);
  }

  /** Every breaker's state for /health. */
  health(): Record<string, BreakerHealth> {
    const out: Record<string, BreakerHealth> = {};
    for (const [name, b] of this.breakers) out[name] = b.health();
    return out;
  }
}
