/** Starts a real createAbiServer on 127.0.0.1:0 for a test, with its log lines captured as JSON. */
import { Writable } from 'node:stream';
import pino from 'pino';
import { createBackend } from '../../lib/backends/registry.js';
import { loadConfig } from '../../lib/config/index.js';
import { createAbiServer, type AbiServer, type AbiServerConfig, type AbiServerOptions } from '../../lib/server/index.js';

export interface TestServer {
  server: AbiServer;
  url: string;
  port: number;
  /** Parsed pino lines written so far. */
  logs: any[];
  close(): Promise<void>;
}

export function captureLogger(): { logger: pino.Logger; logs: any[]; raw: () => string } {
  const logs: any[] = [];
  let raw = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw += chunk.toString();
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), logs, raw: () => raw };
}

export async function startTestServer(config: AbiServerConfig, options: AbiServerOptions = {}): Promise<TestServer> {
  const { logger, logs } = captureLogger();
  const server = createAbiServer(config, { logger, ...options });
  const addr = await server.listen(0, '127.0.0.1');
  return { server, url: addr.url, port: addr.port, logs, close: () => server.close() };
}

/** Validates a raw config object with the real loader and starts a server with the real backend registry. */
export async function startFromConfig(raw: Record<string, unknown>, options: AbiServerOptions = {}): Promise<TestServer> {
  const config = (await loadConfig(raw, { env: process.env })) as unknown as AbiServerConfig;
  return startTestServer(config, { createBackend: (name, entry) => createBackend(name, entry as never), ...options });
}

/** A config with one openai-type backend per upstream (named a, b, …) and no routes (all backends in order). */
export function upstreamConfig(baseUrls: string[], extra: Record<string, any> = {}): Record<string, unknown> {
  const backends: Record<string, unknown> = {};
  baseUrls.forEach((baseUrl, i) => {
    backends[String.fromCharCode(97 + i)] = { type: 'openai', baseUrl, ...(extra.backend ?? {}) };
  });
  const { backend: _b, ...rest } = extra;
  return {
    auth: { tokens: ['test-token-1'], apiKeysFile: '/nonexistent/abi-keys.json' },
    backends,
    ...rest,
  };
}
