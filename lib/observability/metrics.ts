/**
 * Prometheus metrics for one server instance, on its own prom-client Registry (never the global one),
 * so several servers embedded in one process keep separate counts. Names and labels are stable API:
 * dashboards depend on them.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Latency buckets in seconds: sub-millisecond relay overhead up to slow upstream first tokens. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export type BreakerStateName = 'closed' | 'half-open' | 'open';
const BREAKER_STATE_VALUE: Record<BreakerStateName, number> = { closed: 0, 'half-open': 1, open: 2 };

export interface MetricsOptions {
  /** Registry to register on; default a fresh one. */
  registry?: Registry;
  /** Also collect Node process metrics (CPU, memory, event-loop lag, GC). Default false. */
  processMetrics?: boolean;
  /** Prefix for every metric name. Default `abi_`. */
  prefix?: string;
}

export function createMetrics(opts: MetricsOptions = {}) {
  const registry = opts.registry ?? new Registry();
  const p = opts.prefix ?? 'abi_';
  const registers = [registry];
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: p });

  const httpRequests = new Counter({
    name: `${p}http_requests_total`,
    help: 'HTTP requests by route pattern, method and response status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers,
  });
  const activeStreams = new Gauge({ name: `${p}active_streams`, help: 'Streams generating right now.', registers });
  const backendStreams = new Gauge({
    name: `${p}backend_active_streams`,
    help: 'Upstream generations in flight, per backend.',
    labelNames: ['backend'] as const,
    registers,
  });
  const timeToFirstToken = new Histogram({
    name: `${p}time_to_first_token_seconds`,
    help: 'Time from the start of a generation to its first output token, per backend.',
    labelNames: ['backend'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const interTokenLatency = new Histogram({
    name: `${p}inter_token_latency_seconds`,
    help: 'Time between consecutive output tokens of a stream, per backend.',
    labelNames: ['backend'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const tokensStreamed = new Counter({ name: `${p}tokens_streamed_total`, help: 'Output tokens relayed, per backend.', labelNames: ['backend'] as const, registers });
  const upstreamErrors = new Counter({
    name: `${p}upstream_errors_total`,
    help: 'Failed upstream attempts by backend and error type (connect, timeout, http_<status>, cut, provider code).',
    labelNames: ['backend', 'type'] as const,
    registers,
  });
  const malformedChunks = new Counter({
    name: `${p}upstream_malformed_chunks_total`,
    help: 'Unparseable upstream stream chunks skipped, per backend.',
    labelNames: ['backend'] as const,
    registers,
  });
  const breakerState = new Gauge({
    name: `${p}breaker_state`,
    help: 'Circuit breaker state per backend: 0 closed, 1 half-open, 2 open.',
    labelNames: ['backend'] as const,
    registers,
  });
  const breakerTransitions = new Counter({
    name: `${p}breaker_transitions_total`,
    help: 'Circuit breaker state changes per backend.',
    labelNames: ['backend', 'from', 'to'] as const,
    registers,
  });
  const retries = new Counter({ name: `${p}retries_total`, help: 'Retried upstream attempts, per backend and reason.', labelNames: ['backend', 'reason'] as const, registers });
  const failovers = new Counter({
    name: `${p}failovers_total`,
    help: 'Moves from one target to the next, by source, destination, reason and whether output had started (mid_stream).',
    labelNames: ['from', 'to', 'reason', 'mid_stream'] as const,
    registers,
  });
  const resumes = new Counter({ name: `${p}stream_resumes_total`, help: 'Streams resumed by clients (SSE Last-Event-ID or WebSocket resume).', registers });
  const rateLimited = new Counter({
    name: `${p}rate_limited_total`,
    help: 'Requests refused by rate limits, by limit kind (requests, tokens, streams).',
    labelNames: ['kind'] as const,
    registers,
  });
  const clientDisconnects = new Counter({
    name: `${p}client_disconnects_total`,
    help: 'Streams ended by the client side, by reason (closed, cancelled, too_slow).',
    labelNames: ['reason'] as const,
    registers,
  });

  return {
    registry,
    httpRequests,
    activeStreams,
    backendStreams,
    timeToFirstToken,
    interTokenLatency,
    tokensStreamed,
    upstreamErrors,
    malformedChunks,
    breakerState,
    breakerTransitions,
    retries,
    failovers,
    resumes,
    rateLimited,
    clientDisconnects,

    // Call-style helpers (the server's ServerMetrics shape).
    request: (route: string, method: string, status: number) => httpRequests.inc({ route, method, status: String(status) }),
    streamsActive: (n: number) => activeStreams.set(n),
    firstToken: (backend: string, seconds: number) => timeToFirstToken.observe({ backend }, seconds),
    interToken: (backend: string, seconds: number) => interTokenLatency.observe({ backend }, seconds),
    tokens: (backend: string, n: number) => tokensStreamed.inc({ backend }, n),
    upstreamError: (backend: string, type: string) => upstreamErrors.inc({ backend, type }),
    breaker: (backend: string, from: BreakerStateName, to: BreakerStateName) => {
      breakerState.set({ backend }, BREAKER_STATE_VALUE[to]);
      breakerTransitions.inc({ backend, from, to });
    },
    retry: (backend: string, reason: string) => retries.inc({ backend, reason }),
    failover: (from: string, to: string, reason: string, midStream: boolean) => failovers.inc({ from, to, reason, mid_stream: String(midStream) }),
    limited: (kind: string) => rateLimited.inc({ kind }),
    /** Prometheus text exposition and its content type. */
    render: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  };
}

export type AbiMetrics = ReturnType<typeof createMetrics>;
