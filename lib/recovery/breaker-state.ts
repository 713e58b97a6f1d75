/** Breaker states, same strings as the native counters use. */
export type BreakerState = 'closed' | 'open' | 'half-open';
