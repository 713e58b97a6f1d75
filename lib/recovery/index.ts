/**
 * Recovery: retries, circuit breakers, timeouts, fallbacks and mid-stream failover around backends.
 * The server builds one runtime from the `recovery` config and passes it to every executeRoute call.
 */
import type { RecoveryConfig } from '../config/sections/recovery.js';
import type { BreakerCounters } from '../native/breaker-counters.js';
import { ExponentialBackoff } from './backoff.js';
import { BreakerRegistry } from './breakers.js';
import type { RecoveryEmitter } from './events.js';
import type { RecoveryLogger, RecoveryRuntime } from './execute.js';
import { RetryPolicy } from './retry-policy.js';

export { executeRoute, executeRouteBatches, type ExecuteOptions, type RecoveryRuntime, type RecoveryLogger } from './execute.js';
export type { RouteTarget, RoutedEvent } from './types.js';
export { createRecoveryEmitter, type RecoveryEmitter, type RecoveryEvents } from './events.js';
export { BreakerRegistry } from './breakers.js';
export { CircuitBreaker, type BreakerHealth, type CircuitBreakerOptions } from './circuit-breaker.js';
export { ExponentialBackoff } from './backoff.js';
export { RetryPolicy } from './retry-policy.js';
export { registerRecoveryMetrics } from './metrics.js';

export interface RecoveryRuntimeWithBreakers extends RecoveryRuntime {
  breakers: BreakerRegistry;
}

/** Builds the shared recovery runtime for the configured backends (breaker slots in this order). */
export function createRecoveryRuntime(
  config: RecoveryConfig,
  backendNames: readonly string[],
  deps: { events?: RecoveryEmitter; logger?: RecoveryLogger; counters?: BreakerCounters } = {},
): RecoveryRuntimeWithBreakers {
  const backoff = new ExponentialBackoff({ baseDelayMs: config.retry.baseDelayMs, maxDelayMs: config.retry.maxDelayMs, jitter: config.retry.jitter });
  const retry = new RetryPolicy({
    maxAttempts: config.retry.maxAttempts,
    backoff,
    maxRetryAfterMs: config.retry.maxRetryAfterMs,
    deadlineMs: config.retry.deadlineMs,
  });
  const breakers = new BreakerRegistry(backendNames, config.breaker, { events: deps.events, counters: deps.counters });
  return {
    retry,
    breakers,
    breakerFor: (name) => breakers.get(name),
    regenerateOnFailover: config.midStream.nonContinuation === 'regenerate',
    ...(deps.logger ? { logger: deps.logger } : {}),
  };
}
