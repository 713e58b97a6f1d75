import { Agent, errors as undiciErrors, request } from 'undici';
import { BackendError, classifyHttpError } from '../backends/errors.js';

/**
 * The HTTP transport of the anthropic and ollama backends: one keep-alive undici pool per backend,
 * connect timeout from the backend's `timeouts.connectMs`, and every failure turned into a
 * BackendError of the right kind (connect, timeout, http, cut, aborted) without credentials in it.
 */
export interface UpstreamHttpOptions {
  backend: string;
  /** TCP+TLS connect limit in ms (default 10000). */
  connectMs?: number;
  /** Upper bound on waiting for response headers and between body chunks, in ms (default 300000). */
  readLimitMs?: number;
  /** Credential values to scrub from upstream error text (called only when an error is built). */
  secrets?: () => readonly string[];
  /** Pool size per origin (default 128). */
  connections?: number;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Body chunks; iterating throws a `cut` BackendError when the connection breaks mid-body. */
  body: AsyncIterable<Buffer>;
}

export class UpstreamHttp {
  private readonly agent: Agent;
  private readonly backend: string;
  private readonly secrets: () => readonly string[];

  constructor(opts: UpstreamHttpOptions) {
    this.backend = opts.backend;
    this.secrets = opts.secrets ?? (() => []);
    const read = opts.readLimitMs ?? 300_000;
    this.agent = new Agent({
      connectTimeout: opts.connectMs ?? 10_000,
      headersTimeout: read,
      bodyTimeout: read,
      connections: opts.connections ?? 128,
      keepAliveTimeout: 30_000,
    });
  }

  /** POSTs JSON; resolves with a 2xx response or throws the classified BackendError. */
  async postJson(url: string, headers: Record<string, string>, body: unknown, signal: AbortSignal): Promise<UpstreamResponse> {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
        dispatcher: this.agent,
        signal,
      });
    } catch (err) {
      throw this.transportError(err, signal, false);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      let text = '';
      try {
        text = await res.body.text();
      } catch {}
      throw classifyHttpError(res.statusCode, res.headers, text, { backend: this.backend, secrets: this.secrets() });
    }
    return { status: res.statusCode, headers: res.headers, body: this.guardBody(res.body, signal) };
  }

  /** Body chunks with socket failures mapped to a `cut` BackendError; the body is destroyed when iteration stops. */
  private async *guardBody(upstream: AsyncIterable<unknown> & { destroyed: boolean; destroy(): void }, signal: AbortSignal): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of upstream) yield chunk as Buffer;
    } catch (err) {
      throw this.transportError(err, signal, true);
    } finally {
      if (!upstream.destroyed) upstream.destroy();
    }
  }

  /** Maps an undici/socket failure: before headers a connect error, during the body a cut. */
  transportError(err: unknown, signal: AbortSignal, inBody: boolean): BackendError {
    if (err instanceof BackendError) return err;
    const e = err as { code?: string; name?: string; message?: string };
    const backend = this.backend;
    if (signal.aborted || e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED') {
      return new BackendError(`request to backend '${backend}' was aborted`, { kind: 'aborted', backend, cause: err });
    }
    if (err instanceof undiciErrors.ConnectTimeoutError || e.code === 'UND_ERR_CONNECT_TIMEOUT') {
      return new BackendError(`backend '${backend}': connect timed out`, { kind: 'timeout', backend, cause: err });
    }
    if (e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') {
      return new BackendError(`backend '${backend}': read timed out`, { kind: 'timeout', backend, cause: err });
    }
    const detail = e.code ?? e.name ?? 'error';
    if (inBody) return new BackendError(`backend '${backend}': connection lost mid-stream (${detail})`, { kind: 'cut', backend, cause: err });
    return new BackendError(`backend '${backend}': connection failed (${detail})`, { kind: 'connect', backend, cause: err });
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** Splits a byte stream into UTF-8 lines (LF or CRLF), never splitting a multi-byte character. */
export async function* utf8Lines(body: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  for await (const chunk of body) {
    pending += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      yield line.endsWith('\r') ? line.slice(0, -1) : line;
    }
  }
  pending += decoder.decode();
  if (pending) yield pending;
}
