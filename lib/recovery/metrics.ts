import { Counter, Gauge, type Registry } from 'prom-client';
import type { BreakerRegistry } from './breakers.js';
import type { RecoveryEmitter } from './events.js';

const STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

/**
 * Prometheus metrics for recovery, fed by the recovery events: breaker state per backend (read at
 * scrape time from the shared counters, so every worker reports the same), transitions, retries,
 * fallbacks, mid-stream failovers and resumes.
 */
export function registerRecoveryMetrics(registry: Registry, events: RecoveryEmitter, breakers?: BreakerRegistry): void {
  if (breakers) {
    new Gauge({
      name: 'abi_breaker_state',
      help: 'Circuit breaker state per backend: 0 closed, 1 half-open, 2 open.',
      labelNames: ['backend'],
      registers: [registry],
      collect() {
        for (const [backend, h] of Object.entries(breakers.health())) this.set({ backend }, STATE_VALUE[h.state]);
      },
    });
  }
  const transitions = new Counter({
    name: 'abi_breaker_transitions_total',
    help: 'Circuit breaker transitions by backend and new state.',
    labelNames: ['backend', 'to'],
    registers: [registry],
  });
  const retries = new Counter({ name: 'abi_upstream_retries_total', help: 'Retries of an upstream attempt.', labelNames: ['backend', 'reason'], registers: [registry] });
  const fallbacks = new Counter({
    name: 'abi_upstream_fallbacks_total',
    help: 'Moves to the next route target before the first token.',
    labelNames: ['backend', 'reason'],
    registers: [registry],
  });
  const midStream = new Counter({
    name: 'abi_midstream_failovers_total',
    help: 'Streams that broke after output and continued (or ended) on another target.',
    labelNames: ['backend', 'mode'],
    registers: [registry],
  });
  const resumes = new Counter({ name: 'abi_stream_resumes_total', help: 'Client resumes of a stream session.', registers: [registry] });
  events.on('breaker:open', (e) => transitions.inc({ backend: e.backend, to: 'open' }));
  events.on('breaker:half-open', (e) => transitions.inc({ backend: e.backend, to: 'half-open' }));
  events.on('breaker:close', (e) => transitions.inc({ backend: e.backend, to: 'closed' }));
  events.on('retry', (e) => retries.inc({ backend: e.backend, reason: e.reason }));
  events.on('fallback', (e) => fallbacks.inc({ backend: e.backend, reason: e.reason.split(':')[0]! }));
  events.on('failover:mid-stream', (e) => midStream.inc({ backend: e.backend, mode: e.mode }));
  events.on('resume', () => resumes.inc());
}
