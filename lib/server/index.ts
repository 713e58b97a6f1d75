/**
 * createAbiServer: the HTTP + WebSocket front door. Usable stand-alone (`listen`/`close`) or embedded
 * in an existing node:http, Express or Fastify server through `handler(req, res)` and
 * `upgrade(req, socket, head)`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import pino, { type Logger } from 'pino';
import { createBackend } from '../backends/registry.js';
import type { Backend } from '../backends/types.js';
import { loadConfig, type BackendConfig } from '../config/index.js';
import { Gateway } from '../gateway/gateway.js';
import type { RouteRule } from '../gateway/routing.js';
import { ApiError, badRequest, notFound, serviceUnavailable, toApiError } from '../protocol/errors.js';
import { createMetrics } from '../observability/metrics.js';
import { createLogger } from '../observability/logger.js';
import type { AttemptTimeouts } from '../recovery/attempt.js';
import { createRecoveryEmitter, createRecoveryRuntime, registerRecoveryMetrics, type BreakerRegistry, type RecoveryEmitter } from '../recovery/index.js';
import type { RecoveryConfig } from '../config/sections/recovery.js';
import { createAuthenticator, type AuthConfig } from '../security/authenticator.js';
import { applySecurityHeaders, handleCors, type CorsConfig, type SecurityHeadersConfig } from '../security/http-hardening.js';
import { RateLimiter, type RateLimitConfig } from '../security/rate-limiter.js';
import type { Principal } from '../security/types.js';
import { createSessionStore, type SessionConfig, type SessionStore } from '../sessions/index.js';
import type { ReloadResult, RequestInfo, Runtime, ServerContext, ServerMetrics } from './context.js';
import { createServerEmitter, type AbiServerEmitter } from './events.js';
import * as handlers from './handlers.js';
import { Lifecycle, type LifecycleState } from './lifecycle.js';
import { applyToListener, createHttpListener, type ConfiguredAddress } from './listener.js';
import { sendError } from './respond.js';
import { endSocketWithError } from './raw-headers.js';
import { Router } from './router.js';
import { resolveServerSettings, type ServerSettings } from './settings.js';
import type { WsEndpoint } from './ws.js';
import { WS_PATH } from './ws-path.js';

export type { AbiServerEvents, AbiServerEmitter } from './events.js';
/** Re-exported so an embedding application can validate its config file without deep imports. */
export { loadConfig } from '../config/index.js';
export type { ServerSettings } from './settings.js';
export type { ReloadResult } from './context.js';

/** One `backends.<name>` entry as the server reads it (the backend module reads the rest). */
export interface BackendConfigLike {
  type: string;
  timeouts?: AttemptTimeouts & { connectMs?: number };
  [key: string]: unknown;
}

/** The parts of the (validated) config the server uses. */
export interface AbiServerConfig {
  server?: Partial<ServerSettings>;
  auth?: AuthConfig;
  backends?: Record<string, BackendConfigLike>;
  routes?: RouteRule[];
  /** Retry, breaker, session and mid-stream settings; absent = recovery's defaults, no breakers. */
  recovery?: RecoveryConfig | { session?: Partial<SessionConfig> };
  rateLimits?: RateLimitConfig;
  securityHeaders?: SecurityHeadersConfig;
  cors?: CorsConfig;
  [section: string]: unknown;
}

export interface AbiServerOptions {
  /** Config file behind this server: POST /admin/reload re-reads it with `loadConfig`. */
  configPath?: string;
  /** Loads and validates a config file for reload; default the package's `loadConfig`. */
  loadConfig?: (path: string) => Promise<AbiServerConfig>;
  /** Builds a backend from its config entry; default the built-in backend types (openai, anthropic, ollama, …). */
  createBackend?: (name: string, config: BackendConfigLike) => Backend | Promise<Backend>;
  /** Structured logger; default pino at `info` on stderr. */
  logger?: Logger;
  /** Metrics sink; default protocol's metrics on a fresh prom-client registry, served at /metrics. */
  metrics?: ServerMetrics;
  /** Receives retry, fallback, breaker, failover and resume events; default a fresh emitter. */
  recoveryEvents?: RecoveryEmitter;
  /** Session store; default the memory store from `recovery.session`. */
  sessions?: SessionStore;
}

export interface ListenAddress {
  host: string;
  port: number;
  url: string;
}

export interface AbiServer {
  /** Typed events: request:start/end, stream:start/end/error, client:slow, reload, shutdown. */
  readonly events: AbiServerEmitter;
  /** Resolves when auth and backends are set up; rejects when the config cannot be used. */
  ready(): Promise<void>;
  /** Starts a node:http server on `port` (default config `server.port`; 0 = free port) and `host`. */
  listen(port?: number, host?: string): Promise<ListenAddress>;
  /** Address bound by `listen`, or null. */
  address(): ListenAddress | null;
  /**
   * `(req, res)` request handler for node:http, Express and Fastify (see docs/embedding.md). Reads the
   * body itself; takes `req.body` instead when a JSON body parser already consumed the stream.
   */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** `upgrade` handler serving the WebSocket endpoint at /api/stream/ws. */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Graceful drain (see `shutdownGraceMs`), then closes everything. Safe to call twice. */
  close(): Promise<void>;
  /**
   * Re-reads the config file and swaps backends, routes, auth and limits, and applies the socket
   * limits to the listener `listen()` started; throws if invalid. Resolves with the settings that
   * need a restart (see docs/configuration.md).
   */
  reload(): Promise<ReloadResult>;
  readonly state: LifecycleState;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_-]+)+\/?$|^\/$/;
/** Placeholder until the WebSocket handshake authenticates. */
const ANONYMOUS: Principal = { id: 'anonymous', kind: 'anonymous', scopes: [] };

/** Full recovery settings (retry and breaker) as opposed to a bare `{ session }` override. */
function isFullRecovery(r: AbiServerConfig['recovery']): r is RecoveryConfig {
  return r !== undefined && 'retry' in r && 'breaker' in r;
}

async function buildRuntime(
  config: AbiServerConfig,
  options: AbiServerOptions,
  logger: Logger,
  events: RecoveryEmitter,
  onMalformedChunks: (backend: string, n: number) => void,
): Promise<Runtime> {
  const settings = resolveServerSettings(config.server);
  const auth = await createAuthenticator(config.auth ?? {}, { logger });
  const backends = new Map<string, Backend>();
  const timeouts = new Map<string, AttemptTimeouts>();
  const build =
    options.createBackend ??
    ((name: string, entry: BackendConfigLike) => createBackend(name, entry as unknown as BackendConfig, { logger, onMalformedChunks }));
  for (const [name, entry] of Object.entries(config.backends ?? {})) {
    backends.set(name, await build(name, entry));
    if (entry.timeouts) timeouts.set(name, entry.timeouts);
  }
  const recovery = isFullRecovery(config.recovery)
    ? createRecoveryRuntime(config.recovery, [...backends.keys()], { events, logger })
    : undefined;
  const gateway = new Gateway({
    backends,
    routes: config.routes ?? [],
    timeouts,
    events,
    ...(recovery ? { recovery, breakerHealth: () => recovery.breakers.health() } : {}),
  });
  return { settings, auth, gateway, securityHeaders: config.securityHeaders ?? {}, cors: config.cors ?? {}, ...(recovery ? { breakers: recovery.breakers } : {}) };
}

/** Recovery events become log lines (recovery's own metrics count them). */
function logRecovery(events: RecoveryEmitter, logger: Logger): void {
  events.on('retry', (e) => logger.info({ backend: e.backend, attempt: e.attempt, reason: e.reason, delay_ms: e.delayMs }, 'upstream retry'));
  events.on('fallback', (e) => logger.info({ backend: e.backend, to: e.to, reason: e.reason }, 'fallback'));
  events.on('failover:mid-stream', (e) =>
    logger.warn({ backend: e.backend, to: e.to, reason: e.reason, mode: e.mode, delivered_chars: e.deliveredChars }, 'mid-stream failover'),
  );
  for (const name of ['breaker:open', 'breaker:half-open', 'breaker:close'] as const) {
    events.on(name, (e) => logger.warn({ backend: e.backend, from: e.from, to: e.to, reason: e.reason }, 'breaker transition'));
  }
}

export function createAbiServer(config: AbiServerConfig, options: AbiServerOptions = {}): AbiServer {
  const logger = options.logger ?? createLogger({ destination: pino.destination(2) });
  const events = createServerEmitter();
  const lifecycle = new Lifecycle();
  const recoveryEvents = options.recoveryEvents ?? createRecoveryEmitter();
  logRecovery(recoveryEvents, logger);
  let runtime: Runtime | undefined;
  let metrics: ServerMetrics;
  let countMalformed: (backend: string, n: number) => void = () => {};
  if (options.metrics) metrics = options.metrics;
  else {
    const m = createMetrics();
    // Breaker gauges are read at scrape time from whichever config generation is current.
    const currentBreakers = { health: () => runtime?.breakers?.health() ?? {} } as unknown as BreakerRegistry;
    registerRecoveryMetrics(m.registry, recoveryEvents, currentBreakers);
    countMalformed = (backend, n) => m.malformedChunks.inc({ backend }, n);
    metrics = m;
  }
  const sessions = options.sessions ?? createSessionStore(config.recovery?.session ?? {}, { events: recoveryEvents });
  const limiter = RateLimiter.create(config.rateLimits ?? {});
  let httpServer: Server | undefined;
  let bound: ListenAddress | null = null;
  let configuredAddress: ConfiguredAddress = {};
  let closing: Promise<void> | undefined;
  let openResponses = 0;
  let idleResponses: (() => void) | undefined;

  const initialized = buildRuntime(config, options, logger, recoveryEvents, countMalformed).then((rt) => {
    runtime = rt;
  });
  initialized.catch(() => {});

  const ctx: ServerContext = {
    runtime: () => {
      if (!runtime) throw serviceUnavailable('The server is still starting.', { code: 'starting', retryAfterSec: 1 });
      return runtime;
    },
    lifecycle,
    sessions,
    logger,
    events,
    metrics,
    runs: new Map(),
    startedAt: Date.now(),
    limiter,
    reload: async () => {
      if (!options.configPath) {
        throw badRequest('This server was not started from a config file, so there is nothing to reload.', null, 'no_config_file');
      }
      const nextConfig = options.loadConfig
        ? await options.loadConfig(options.configPath)
        : (loadConfig(options.configPath) as unknown as AbiServerConfig);
      const next = await buildRuntime(nextConfig, options, logger, recoveryEvents, countMalformed);
      const previous = runtime;
      runtime = next;
      limiter.updateConfig(nextConfig.rateLimits ?? {});
      // Streams already running keep their backends; those close once the last one ended.
      void previous?.gateway.close();
      // Embedded, the application's own server owns the socket and its limits.
      const restartRequired = httpServer ? applyToListener(httpServer, next.settings, configuredAddress) : [];
      if (restartRequired.length > 0) {
        logger.warn({ restart_required: restartRequired, listening: bound?.url }, 'reloaded settings that take effect only after a restart; serving on');
      }
      return { restartRequired };
    },
  };

  const router = new Router<RequestInfo>()
    .add('POST', '/v1/chat/completions', handlers.chatCompletions(ctx))
    .add('GET', '/v1/models', handlers.models(ctx))
    .add('GET', '/v1/streams/:id', handlers.resumeStream(ctx))
    .add('POST', '/api/stream', handlers.abiStream(ctx))
    .add('GET', '/health', handlers.health(ctx))
    .add('GET', '/metrics', handlers.metrics(ctx))
    .add('POST', '/admin/reload', handlers.adminReload(ctx));
  // The WebSocket path answers plain HTTP GETs with a clear error instead of a 404.
  router.add('GET', WS_PATH, async () => {
    throw badRequest('This endpoint speaks WebSocket: send an Upgrade request.', null, 'upgrade_required');
  });

  // The WebSocket endpoint (and the ws package, ~10 MB resident) is loaded on the first upgrade.
  let ws: WsEndpoint | undefined;
  let wsLoading: Promise<WsEndpoint> | undefined;
  const wsEndpoint = (): Promise<WsEndpoint> =>
    (wsLoading ??= import('./ws.js').then((m) => (ws = new m.WsEndpoint(ctx))));

  function requestIdOf(req: IncomingMessage): string {
    const given = req.headers['x-request-id'];
    return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  }

  /**
   * The request's path, and its URL parsed on first use. A plain path (non-empty segments of
   * letters, digits, `_` and `-`; no query, dot segments or escapes) is its own normalized pathname,
   * so the common request skips the WHATWG URL parser; anything else goes through it.
   */
  function pathOf(req: IncomingMessage): { path: string; readonly url: URL } {
    const raw = req.url ?? '/';
    let url: URL | undefined;
    const parse = (): URL => (url ??= new URL(raw.startsWith('/') ? raw : `/${raw}`, 'http://abi.invalid'));
    return {
      path: PLAIN_PATH.test(raw) ? raw : parse().pathname,
      get url() {
        return parse();
      },
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const began = performance.now();
    const requestId = requestIdOf(req);
    const method = req.method ?? 'GET';
    let path = '/';
    let routeLabel = 'unmatched';
    // The request's child logger is made on first use: a pino child (with redaction) costs
    // microseconds, and most requests log only their end line, written through the parent.
    let requestLog: Logger | undefined;
    const log = (): Logger => (requestLog ??= logger.child({ request_id: requestId }));
    res.setHeader('x-request-id', requestId);
    openResponses++;
    res.on('close', () => {
      const durationMs = performance.now() - began;
      const aborted = !res.writableFinished;
      metrics.request(routeLabel, method, res.statusCode);
      events.emit('request:end', { requestId, method, path, status: res.statusCode, durationMs, aborted });
      if (logger.isLevelEnabled('info')) {
        logger.info({ request_id: requestId, method, path, status: res.statusCode, duration_ms: Math.round(durationMs), aborted }, 'request end');
      }
      if (--openResponses === 0) idleResponses?.();
    });
    try {
      const parsed = pathOf(req);
      path = parsed.path;
      events.emit('request:start', { requestId, method, path });
      await initialized;
      const rt = ctx.runtime();
      applySecurityHeaders(res, rt.securityHeaders);
      if (handleCors(req, res, rt.cors)) return;
      if (!lifecycle.accepting) {
        res.setHeader('connection', 'close');
        if (path !== '/health') throw serviceUnavailable('The server is shutting down and accepts no new requests.', { code: 'draining', retryAfterSec: 1 });
      }
      const match = router.match(method, path);
      routeLabel = match.pattern;
      const principal = await rt.auth.authorize(req, path);
      await match.handler(req, res, {
        params: match.params,
        get url() {
          return parsed.url;
        },
        requestId,
        principalId: principal.id,
        principal,
        get log() {
          return log();
        },
      });
    } catch (err) {
      const apiError = toApiError(err);
      if (apiError.status === 500) log().error({ err: apiError.cause ?? err }, 'internal error');
      if (res.headersSent) res.destroy();
      else sendError(res, apiError);
    }
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void handle(req, res);
  };

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const requestId = requestIdOf(req);
    const log = logger.child({ request_id: requestId });
    void (async () => {
      try {
        await initialized;
        const { path } = pathOf(req);
        if (path !== WS_PATH) {
          endSocketWithError(socket, notFound(`No WebSocket endpoint at ${path.slice(0, 200)}.`, 'route_not_found'));
          return;
        }
        await (await wsEndpoint()).handleUpgrade(req, socket, head, { requestId, principalId: ANONYMOUS.id, principal: ANONYMOUS, log });
      } catch (err) {
        log.error({ err }, 'upgrade failed');
        socket.destroy();
      }
    })();
  };

  /** Malformed HTTP, oversized headers and slow-loris timeouts: answer in the envelope, then close. */
  function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const message =
      status === 431 ? 'Request headers are larger than the server accepts.' : status === 408 ? 'The request was not received in time.' : 'Malformed HTTP request.';
    const code = status === 408 ? 'request_timeout' : status === 431 ? 'headers_too_large' : 'bad_request';
    logger.warn({ code: err.code, status }, 'client error');
    endSocketWithError(socket, new ApiError(message, { status, type: 'invalid_request_error', code }));
  }

  async function listen(port?: number, host?: string): Promise<ListenAddress> {
    await initialized;
    if (httpServer) throw new Error('createAbiServer: listen() was already called');
    const s = runtime!.settings;
    const server = createHttpListener(s);
    // Only an address the config chose can be changed by reloading the config.
    configuredAddress = { ...(host === undefined ? { host: s.host } : {}), ...(port === undefined ? { port: s.port } : {}) };
    server.on('request', handler);
    server.on('upgrade', upgrade);
    server.on('clientError', onClientError);
    server.on('connection', (socket: Socket) => socket.setNoDelay(true));
    httpServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port ?? s.port, host ?? s.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address() as AddressInfo;
    const shownHost = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    bound = { host: a.address, port: a.port, url: `http://${shownHost}:${a.port}` };
    return bound;
  }

  async function shutdown(): Promise<void> {
    const graceMs = runtime?.settings.shutdownGraceMs ?? 0;
    events.emit('shutdown', { phase: 'draining', activeStreams: ctx.runs.size });
    logger.info({ active_streams: ctx.runs.size, grace_ms: graceMs }, 'draining');
    // Stop listening but keep open keep-alive connections: requests on them get 503 "draining"
    // (with Connection: close), so a load balancer sees /health turn 503 instead of a reset.
    // http.Server.close() would also drop idle connections and stop the timeout checks at once.
    if (httpServer) net.Server.prototype.close.call(httpServer);
    await lifecycle.drain(graceMs);
    // Let the last readers write their final events before the connections go.
    if (openResponses > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        idleResponses = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    ws?.close();
    httpServer?.closeAllConnections();
    httpServer?.close();
    await sessions.close();
    await runtime?.gateway.close();
    events.emit('shutdown', { phase: 'closed', activeStreams: ctx.runs.size });
    logger.info('closed');
  }

  return {
    events,
    ready: () => initialized,
    listen,
    address: () => bound,
    handler,
    upgrade,
    close: () => (closing ??= shutdown()),
    reload: () => ctx.reload(),
    get state() {
      return lifecycle.state;
    },
  };
}
