/**
 * Prometheus metrics for one server instance, on its own prom-client Registry (never the global one),
 * so several servers embedded in one process keep separate counts. Names and labels are stable API:
 * dashboards depend on them. Recovery registers its breaker, retry, fallback and resume metrics on
 * the same registry (lib/recovery), so those names are not defined here.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { TokenHistogram } from './token-histogram.js';

/** Latency buckets in seconds: sub-millisecond relay overhead up to slow upstream first tokens. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

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
  // One observation per token: TokenHistogram, not prom-client's Histogram (see token-histogram.ts).
  const timeToFirstToken = new TokenHistogram(
    `${p}time_to_first_token_seconds`,
    'Time from the start of a generation to its first output token, per backend.',
    'backend',
    LATENCY_BUCKETS,
    registers,
  );
  const interTokenLatency = new TokenHistogram(
    `${p}inter_token_latency_seconds`,
    'Time between consecutive output tokens of a stream, per backend.',
    'backend',
    LATENCY_BUCKETS,
    registers,
  );
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
    rateLimited,
    clientDisconnects,

    // Call-style helpers (the server's ServerMetrics shape).
    request: (route: string, method: string, status: number) => httpRequests.inc({ route, method, status: String(status) }),
    streamsActive: (n: number) => activeStreams.set(n),
    firstToken: (backend: string, seconds: number) => timeToFirstToken.observe(backend, seconds),
    interToken: (backend: string, seconds: number) => interTokenLatency.observe(backend, seconds),
    tokens: (backend: string, n: number) => tokensStreamed.inc({ backend }, n),
    upstreamError: (backend: string, type: string) => upstreamErrors.inc({ backend, type }),
    limited: (kind: string) => rateLimited.inc({ kind }),
    /** Prometheus text exposition and its content type. */
    render: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  };
}

export type AbiMetrics = ReturnType<typeof createMetrics>;
