import type { Logger } from 'pino';
import type { Gateway } from '../gateway/gateway.js';
import type { BreakerRegistry } from '../recovery/breakers.js';
import type { StreamRun } from '../gateway/stream-run.js';
import type { SecurityAuthenticator } from '../security/authenticator.js';
import type { CorsConfig, SecurityHeadersConfig } from '../security/http-hardening.js';
import type { RateLimiter } from '../security/rate-limiter.js';
import type { Principal } from '../security/types.js';
import type { SessionStore } from '../sessions/types.js';
import type { AbiServerEmitter } from './events.js';
import type { Lifecycle } from './lifecycle.js';
import type { ServerSettings } from './settings.js';

/** One config generation: swapped as a whole by /admin/reload. */
export interface Runtime {
  settings: ServerSettings;
  auth: SecurityAuthenticator;
  gateway: Gateway;
  securityHeaders: SecurityHeadersConfig;
  cors: CorsConfig;
  /** Circuit breakers of this generation's backends (absent without recovery settings). */
  breakers?: BreakerRegistry;
}

/** Metric hooks the server reports to (prom-client behind them). */
export interface ServerMetrics {
  request(route: string, method: string, status: number): void;
  streamsActive(n: number): void;
  firstToken(backend: string, seconds: number): void;
  interToken(backend: string, seconds: number): void;
  tokens(backend: string, n: number): void;
  upstreamError(backend: string, type: string): void;
  /** Prometheus text exposition and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

/** What every handler shares. */
export interface ServerContext {
  runtime(): Runtime;
  lifecycle: Lifecycle;
  sessions: SessionStore;
  logger: Logger;
  events: AbiServerEmitter;
  metrics: ServerMetrics;
  /** Generations in flight (for the global limit and /health). */
  runs: Map<string, StreamRun>;
  startedAt: number;
  /** Per-principal request and token limits (state survives reloads). */
  limiter: RateLimiter;
  /** Re-reads the config file and swaps the runtime; throws when the new config is invalid. */
  reload(): Promise<ReloadResult>;
}

/** What a config reload could not apply while running. */
export interface ReloadResult {
  /** Config keys (`server.host`, `server.port`) whose new values take effect only after a restart. */
  restartRequired: string[];
}

/** Per-request data handlers receive. */
export interface RequestInfo {
  requestId: string;
  /** Authenticated principal id ('anonymous' without auth). */
  principalId: string;
  principal: Principal;
  log: Logger;
}
