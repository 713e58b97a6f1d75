/** Worker for circuit-breaker.test.ts: one CircuitBreaker over counters shared with the test thread. */
import { parentPort, workerData } from 'node:worker_threads';
import { BreakerCounters } from '../../lib/native/breaker-counters.js';
import { CircuitBreaker } from '../../lib/recovery/circuit-breaker.js';
import { createRecoveryEmitter } from '../../lib/recovery/events.js';

const { buffer, phase, now } = workerData as { buffer: SharedArrayBuffer; phase: 'fail' | 'probe'; now: number };
const counters = BreakerCounters.attach(buffer);
const events = createRecoveryEmitter();
let opened = 0;
events.on('breaker:open', () => opened++);
const breaker = new CircuitBreaker('shared', counters, 0, { consecutiveFailures: 5, minRequests: 1000, openMs: 5000, halfOpenProbes: 2 }, events, () => now);
let probes = 0;
if (phase === 'fail') {
  for (let i = 0; i < 50; i++) breaker.onFailure(false, 'failure', 'http_503');
} else {
  for (let i = 0; i < 50; i++) {
    const a = breaker.admit();
    if (a.admitted && a.probe) probes++;
  }
}
parentPort!.postMessage({ opened, probes });
