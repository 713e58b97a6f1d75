/**
 * The node:http server `listen()` creates, and what a config reload can change on it while it
 * runs. Socket limits are properties Node reads when it uses them, so new values take effect at
 * once; the bound address cannot move without a new listener, so a changed `server.host` or
 * `server.port` is reported as needing a restart instead.
 */
import http from 'node:http';
import type { ServerSettings } from './settings.js';

/** The address a listener was started from, where the config chose it (not a `listen()` argument). */
export interface ConfiguredAddress {
  host?: string;
  port?: number;
}

/** A node:http server with the `server` section's socket limits. */
export function createHttpListener(s: ServerSettings): http.Server {
  return http.createServer({
    headersTimeout: s.headersTimeoutMs,
    requestTimeout: s.requestTimeoutMs,
    keepAliveTimeout: s.keepAliveTimeoutMs,
    maxHeaderSize: s.maxHeaderSize,
    // Timeouts are checked on this interval; the default (30 s) would let slow-loris linger long past the limit.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(s.headersTimeoutMs / 4))),
  });
}

/**
 * Applies a reloaded `server` section to a running listener and returns the keys it could not
 * apply (`server.host`, `server.port`). Node reads `headersTimeout`/`requestTimeout` at each
 * connection check, `keepAliveTimeout` after each response and `maxHeaderSize` when a connection
 * opens, so these apply to the next check, response or connection. The check interval stays the
 * one chosen at start.
 */
export function applyToListener(server: http.Server, s: ServerSettings, configured: ConfiguredAddress): string[] {
  server.headersTimeout = s.headersTimeoutMs;
  server.requestTimeout = s.requestTimeoutMs;
  server.keepAliveTimeout = s.keepAliveTimeoutMs;
  // Not in @types/node, but set from the constructor option and read for every new connection.
  (server as http.Server & { maxHeaderSize: number }).maxHeaderSize = s.maxHeaderSize;
  const restartRequired: string[] = [];
  if (configured.host !== undefined && configured.host !== s.host) restartRequired.push('server.host');
  if (configured.port !== undefined && configured.port !== s.port) restartRequired.push('server.port');
  return restartRequired;
}
