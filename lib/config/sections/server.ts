/** `server`: listening address and every request/stream limit the server enforces. */
import type { ConfigSection } from '../registry.js';

export interface ServerConfig {
  /** Interface to bind. Default `127.0.0.1`. */
  host: string;
  /** Port to bind; 0 picks a free one. Default 8080. */
  port: number;
  /** Silence after which a stream gets a `: heartbeat` SSE comment / a WebSocket ping. Default 15000. */
  heartbeatMs: number;
  /** Streams generating at once over all clients; more get 429. Default 100. */
  maxConcurrentStreams: number;
  /** Concurrent streams on one WebSocket connection. Default 100. */
  maxStreamsPerConnection: number;
  /** On SIGTERM/SIGINT, how long active streams may finish before they are ended with an error. Default 30000. */
  shutdownGraceMs: number;
  /** Largest request body in bytes; larger gets 413. Default 1048576. */
  bodyLimitBytes: number;
  /** Time allowed to receive request headers (slow-loris). Default 10000. */
  headersTimeoutMs: number;
  /** Time allowed to receive a whole request. Default 60000. */
  requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this long. Default 5000. */
  keepAliveTimeoutMs: number;
  /** Largest total size of request headers in bytes; larger gets 431. Default 16384. */
  maxHeaderSize: number;
  /** Deepest JSON nesting accepted in a request body. Default 64. */
  maxJsonDepth: number;
  /** Most messages in one chat request. Default 2048. */
  maxMessages: number;
  /** Most characters across all messages of one request. Default 4194304. */
  maxTotalChars: number;
  /** Largest `max_tokens`/`max_completion_tokens` a client may ask for; absent = no gateway cap. */
  maxTokensCap?: number;
  /** Bytes queued to one slow client above which it is disconnected. Default 1048576. */
  maxBufferedBytesPerStream: number;
  /** A client that reads nothing for this long while data waits is disconnected. Default 30000. */
  slowClientTimeoutMs: number;
  /** Largest WebSocket message accepted, in bytes. Default 1048576. */
  wsMaxPayloadBytes: number;
}

const MS_MAX = 24 * 3600 * 1000;

export const serverSection: ConfigSection<ServerConfig> = {
  key: 'server',
  parse(input) {
    const r = input.object();
    const out: ServerConfig = {
      host: r.string('host', '127.0.0.1'),
      port: r.int('port', 8080, { min: 0, max: 65535 }),
      heartbeatMs: r.int('heartbeatMs', 15_000, { min: 100, max: MS_MAX }),
      maxConcurrentStreams: r.int('maxConcurrentStreams', 100, { min: 1, max: 1_000_000 }),
      maxStreamsPerConnection: r.int('maxStreamsPerConnection', 100, { min: 1, max: 1_000_000 }),
      shutdownGraceMs: r.int('shutdownGraceMs', 30_000, { min: 0, max: MS_MAX }),
      bodyLimitBytes: r.int('bodyLimitBytes', 1_048_576, { min: 1024, max: 1 << 30 }),
      headersTimeoutMs: r.int('headersTimeoutMs', 10_000, { min: 100, max: MS_MAX }),
      requestTimeoutMs: r.int('requestTimeoutMs', 60_000, { min: 100, max: MS_MAX }),
      keepAliveTimeoutMs: r.int('keepAliveTimeoutMs', 5_000, { min: 0, max: MS_MAX }),
      maxHeaderSize: r.int('maxHeaderSize', 16_384, { min: 1024, max: 1 << 20 }),
      maxJsonDepth: r.int('maxJsonDepth', 64, { min: 2, max: 10_000 }),
      maxMessages: r.int('maxMessages', 2048, { min: 1, max: 1_000_000 }),
      maxTotalChars: r.int('maxTotalChars', 4 * 1024 * 1024, { min: 1, max: 1 << 30 }),
      maxBufferedBytesPerStream: r.int('maxBufferedBytesPerStream', 1_048_576, { min: 1024, max: 1 << 30 }),
      slowClientTimeoutMs: r.int('slowClientTimeoutMs', 30_000, { min: 100, max: MS_MAX }),
      wsMaxPayloadBytes: r.int('wsMaxPayloadBytes', 1_048_576, { min: 1024, max: 1 << 30 }),
    };
    const cap = r.int('maxTokensCap', undefined, { min: 1, max: Number.MAX_SAFE_INTEGER });
    if (cap !== undefined) out.maxTokensCap = cap;
    if (out.headersTimeoutMs > out.requestTimeoutMs) r.fail('headersTimeoutMs', `must not exceed server.requestTimeoutMs (${out.requestTimeoutMs})`);
    r.done();
    return out;
  },
};
