import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ServerMetrics } from './context.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The server's Prometheus metrics on `registry` (a fresh one per server, so embedded servers do not collide). */
export function createServerMetrics(registry: Registry = new Registry()): ServerMetrics {
  const requests = new Counter({
    name: 'abi_http_requests_total',
    help: 'HTTP requests by route pattern, method and response status.',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const active = new Gauge({ name: 'abi_active_streams', help: 'Streams generating right now.', registers: [registry] });
  const ttft = new Histogram({
    name: 'abi_time_to_first_token_seconds',
    help: 'Time from the start of a generation to its first output token, per backend.',
    labelNames: ['backend'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const itl = new Histogram({
    name: 'abi_inter_token_latency_seconds',
    help: 'Time between consecutive output tokens of a stream, per backend.',
    labelNames: ['backend'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const tokens = new Counter({ name: 'abi_tokens_streamed_total', help: 'Output tokens relayed, per backend.', labelNames: ['backend'], registers: [registry] });
  const upstreamErrors = new Counter({
    name: 'abi_upstream_errors_total',
    help: 'Failed generations by backend and error type (the envelope code).',
    labelNames: ['backend', 'type'],
    registers: [registry],
  });
  return {
    request: (route, method, status) => requests.inc({ route, method, status: String(status) }),
    streamsActive: (n) => active.set(n),
    firstToken: (backend, s) => ttft.observe({ backend }, s),
    interToken: (backend, s) => itl.observe({ backend }, s),
    tokens: (backend, n) => tokens.inc({ backend }, n),
    upstreamError: (backend, type) => upstreamErrors.inc({ backend, type }),
    render: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  };
}
