/**
 * The `server` config section as the server uses it, every value resolved. The config loader
 * validates the section; this only fills in defaults for keys it leaves out, so the server also
 * works with a hand-built config object when embedded.
 */
export interface ServerSettings {
  /** Interface to bind (default 127.0.0.1). */
  host: string;
  /** Port to bind; 0 picks a free one (default 8080). */
  port: number;
  /** Silence after which a stream gets a `: heartbeat` comment / a WebSocket ping (default 15000). */
  heartbeatMs: number;
  /** Streams generating at once, over all clients; more get 429 with Retry-After (default 100). */
  maxConcurrentStreams: number;
  /** Concurrent streams on one WebSocket connection; more get an `error` with code `rate_limited` (default 100). */
  maxStreamsPerConnection: number;
  /** How long a drain lets active streams finish before they are ended with an error event (default 30000). */
  shutdownGraceMs: number;
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimitBytes: number;
  /** Time allowed to receive the request headers (default 10000); against slow-loris. */
  headersTimeoutMs: number;
  /** Time allowed to receive a whole request, headers and body (default 60000). */
  requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this long (default 5000). */
  keepAliveTimeoutMs: number;
  /** Largest total size of request headers in bytes (default 16384); larger gets 431. */
  maxHeaderSize: number;
  /** Deepest JSON nesting accepted in a request body (default 64). */
  maxJsonDepth: number;
  /** Most messages in one chat request (default 2048). */
  maxMessages: number;
  /** Most characters across all messages of one request (default 4 Mi). */
  maxTotalChars: number;
  /** Largest `max_tokens` a client may ask for; absent = no gateway cap. */
  maxTokensCap?: number;
  /** Bytes queued to one client above which it is disconnected as too slow (default 1 MiB). */
  maxBufferedBytesPerStream: number;
  /** A client that reads nothing for this long while data waits is disconnected (default 30000). */
  slowClientTimeoutMs: number;
  /** Largest WebSocket message accepted, in bytes (default 1 MiB). */
  wsMaxPayloadBytes: number;
}

export const SERVER_DEFAULTS: ServerSettings = {
  host: '127.0.0.1',
  port: 8080,
  heartbeatMs: 15_000,
  maxConcurrentStreams: 100,
  maxStreamsPerConnection: 100,
  shutdownGraceMs: 30_000,
  bodyLimitBytes: 1_048_576,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderSize: 16_384,
  maxJsonDepth: 64,
  maxMessages: 2048,
  maxTotalChars: 4 * 1024 * 1024,
  maxBufferedBytesPerStream: 1_048_576,
  slowClientTimeoutMs: 30_000,
  wsMaxPayloadBytes: 1_048_576,
};

export function resolveServerSettings(section: Partial<ServerSettings> | undefined): ServerSettings {
  const out = { ...SERVER_DEFAULTS };
  for (const key of Object.keys(SERVER_DEFAULTS) as (keyof ServerSettings)[]) {
    const v = section?.[key];
    if (v !== undefined && v !== null) (out as Record<string, unknown>)[key] = v;
  }
  return out;
}
