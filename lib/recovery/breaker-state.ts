/** Breaker states, same strings as the native counters use. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** What the breaker needs from the native counters (lib/native/breaker-counters.ts implements it). */
export interface BreakerSnapshotLike {
  state: BreakerState;
  openedAtMs: number;
  openings: number;
  consecutiveFailures: number;
  window: { success: number; failure: number; timeout: number };
  probesInFlight: number;
}

export interface BreakerCountersLike {
  record(slot: number, outcome: 'success' | 'failure' | 'timeout', nowMs: number): void;
  snapshot(slot: number, nowMs: number): BreakerSnapshotLike;
  transition(slot: number, from: BreakerState, to: BreakerState, nowMs: number): boolean;
  tryAcquireProbe(slot: number, maxProbes: number): boolean;
  releaseProbe(slot: number): void;
}
