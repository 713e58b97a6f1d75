import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ChatRequest } from '../backends/types.js';
import { StreamRun, type StreamEncoder, type StartInfo } from '../gateway/stream-run.js';
import { rateLimited } from '../protocol/errors.js';
import { rateLimitError } from '../security/rate-limiter.js';
import type { RouteTarget } from '../recovery/types.js';
import type { StreamSession } from '../sessions/types.js';
import type { RequestInfo, ServerContext } from './context.js';
import { sendError } from './respond.js';
import { pumpSessionToSse, type SessionFollower } from './session-pump.js';
import { SseWriter } from './sse-writer.js';

export interface StartStreamOptions {
  format: 'openai' | 'abi';
  targets: RouteTarget[];
  request: ChatRequest;
  encoder: StreamEncoder;
  /** Client-chosen stream id (WebSocket `request.id`); generated when absent. */
  streamId?: string;
  /** True for streams started over WebSocket (their payloads already carry the stream id). */
  ws?: boolean;
}

/** Refuses a new generation when the global limit is reached (429 with Retry-After). */
export function assertStreamCapacity(ctx: ServerContext): void {
  const { maxConcurrentStreams } = ctx.runtime().settings;
  if (ctx.runs.size >= maxConcurrentStreams) {
    throw rateLimited(`The server is at its limit of ${maxConcurrentStreams} concurrent streams; retry shortly.`, {
      retryAfterSec: 1,
      code: 'too_many_streams',
    });
  }
}

/**
 * Applies the principal's request and token limits (429 with Retry-After and x-ratelimit-* when
 * over) and returns the x-ratelimit-* headers for the response.
 */
export function admitRequest(ctx: ServerContext, info: RequestInfo, maxTokens: number | undefined): Record<string, string> {
  const decision = ctx.limiter.check(info.principal, maxTokens !== undefined ? { tokens: maxTokens } : {});
  if (!decision.allowed) throw rateLimitError(decision);
  return decision.headers;
}

/**
 * Starts one generation into a new session. The run is tracked for the global limit, /health and
 * drain; metrics and events are reported as it goes.
 */
export function startStream(ctx: ServerContext, info: RequestInfo, opts: StartStreamOptions): StreamRun {
  assertStreamCapacity(ctx);
  const runtime = ctx.runtime();
  const session = ctx.sessions.create({
    ...(opts.streamId !== undefined ? { id: opts.streamId } : {}),
    meta: { format: opts.format, model: opts.request.model, principal: info.principalId, ws: opts.ws === true },
    renderContent: (text, seq) => opts.encoder.renderContent(text, seq),
  });
  // Made on first use: most streams log nothing below the configured level, and a pino child with
  // redaction costs a few microseconds per stream.
  let streamLog: Logger | undefined;
  const log = (): Logger => (streamLog ??= info.log.child({ stream_id: session.id }));
  const run: StreamRun = new StreamRun({
    session,
    encoder: opts.encoder,
    execute: (signal) => runtime.gateway.execute(opts.targets, opts.request, signal),
    observer: {
      attempt: (backend, model, attempt) => {
        if (ctx.logger.isLevelEnabled('debug')) log().debug({ backend, model, attempt }, 'upstream attempt');
      },
      failover: (from, to, reason) => log().warn({ from, to, reason }, 'failover'),
      firstToken: (backend, ms) => {
        ctx.metrics.firstToken(backend, ms / 1000);
        ctx.limiter.consume(info.principal, 1);
      },
      interToken: (backend, ms) => {
        ctx.metrics.interToken(backend, ms / 1000);
        ctx.limiter.consume(info.principal, 1);
      },
      end: ({ ok, backend, tokens, usage, error, durationMs }) => {
        // Deltas were charged one each as they streamed; the upstream's count settles the rest (prompt included).
        if (usage && usage.total_tokens > tokens) ctx.limiter.consume(info.principal, usage.total_tokens - tokens);
        ctx.runs.delete(session.id);
        ctx.metrics.streamsActive(ctx.runs.size);
        if (backend) ctx.metrics.tokens(backend, tokens);
        ctx.events.emit('stream:end', { requestId: info.requestId, streamId: session.id, ok, backend, tokens, durationMs });
        if (ok) {
          if (ctx.logger.isLevelEnabled('info')) log().info({ backend, tokens, duration_ms: Math.round(durationMs) }, 'stream finished');
          return;
        }
        if (error) {
          if (backend && error.status >= 500) ctx.metrics.upstreamError(backend, error.apiCode ?? String(error.status));
          log().warn({ backend, tokens, status: error.status, code: error.apiCode, err_message: error.message }, 'stream failed');
          ctx.events.emit('stream:error', {
            requestId: info.requestId,
            streamId: session.id,
            status: error.status,
            code: error.apiCode,
            message: error.message,
          });
        }
      },
    },
  });
  ctx.runs.set(session.id, run);
  ctx.metrics.streamsActive(ctx.runs.size);
  ctx.lifecycle.track(run);
  ctx.events.emit('stream:start', { requestId: info.requestId, streamId: session.id, format: opts.format });
  return run;
}

/**
 * Serves a run's session as the live SSE response of the request that started it. The HTTP status
 * is decided as late as it can be: when the first output arrives (200, with `x-abi-backend`), or
 * when the run fails before any output (the error's own status and envelope, e.g. 429, 502, 504).
 * If neither happened within one heartbeat interval the 200 is sent anyway so that heartbeats keep
 * proxies from cutting a slow first token; a later failure then arrives in-band.
 */
export async function serveLiveStream(ctx: ServerContext, info: RequestInfo, req: IncomingMessage, res: ServerResponse, run: StreamRun): Promise<void> {
  const { settings } = ctx.runtime();
  const session = run.session;
  const writer = sessionWriter(ctx, info, res, session);
  session.attach();
  try {
    const started = await raceStart(run, settings.heartbeatMs, writer.closedSignal);
    if (started === 'failed') {
      sendError(res, await run.ready.catch((e: unknown) => e), { 'x-abi-stream-id': session.id });
      return;
    }
    if (writer.closed) return;
    const headers: Record<string, string> = { 'x-abi-stream-id': session.id };
    if (started !== 'pending') headers['x-abi-backend'] = started.backend;
    writer.open(headers, started === 'pending');
    await pumpSessionToSse(session, writer, -1, overrunLogger(info, session), followerOf(ctx, session));
  } finally {
    session.detach();
  }
}

/** Serves an existing session from `afterSeq` as SSE (resume). */
export async function serveSessionReplay(
  ctx: ServerContext,
  info: RequestInfo,
  res: ServerResponse,
  session: StreamSession,
  afterSeq: number,
): Promise<void> {
  const writer = sessionWriter(ctx, info, res, session);
  session.attach(afterSeq);
  try {
    // Replayed events follow at once, unless the client is already up to date: then say hello now.
    writer.open({ 'x-abi-stream-id': session.id }, afterSeq >= session.nextSeq - 1);
    await pumpSessionToSse(session, writer, afterSeq, overrunLogger(info, session), followerOf(ctx, session));
  } finally {
    session.detach();
  }
}

/**
 * Follows a session through its run when it is generating in this process (a plain promise wake-up
 * per append), and through the session's own wait otherwise.
 */
export function followerOf(ctx: ServerContext, session: StreamSession): SessionFollower {
  return {
    wait: (afterSeq, signal) => {
      const run = ctx.runs.get(session.id);
      return run ? run.waitForData(afterSeq, signal) : session.wait(afterSeq, signal);
    },
    onRead: () => ctx.runs.get(session.id)?.readerAdvanced(),
  };
}

/** An SSE writer for one client of `session`, with the server's heartbeat and slow-client limits. */
function sessionWriter(ctx: ServerContext, info: RequestInfo, res: ServerResponse, session: StreamSession): SseWriter {
  const { settings } = ctx.runtime();
  return new SseWriter(
    res,
    {
      heartbeatMs: settings.heartbeatMs,
      slowClientTimeoutMs: settings.slowClientTimeoutMs,
      maxBufferedBytes: settings.maxBufferedBytesPerStream,
    },
    (reason, detail) => reportSlowClient(ctx, info, session, reason, detail),
  );
}

function overrunLogger(info: RequestInfo, session: StreamSession): (detail: string) => void {
  return (detail) => info.log.warn({ stream_id: session.id, detail }, 'reader overrun');
}

function reportSlowClient(ctx: ServerContext, info: RequestInfo, session: StreamSession, reason: string, detail: string): void {
  info.log.warn({ stream_id: session.id, reason, detail }, 'disconnecting slow client');
  ctx.events.emit('client:slow', { requestId: info.requestId, streamId: session.id, reason, detail });
}

/** Waits for the run's first output, its failure, `ms`, or the client leaving. */
async function raceStart(run: StreamRun, ms: number, closed: AbortSignal): Promise<StartInfo | 'failed' | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  let onClose: (() => void) | undefined;
  try {
    return await Promise.race([
      run.ready.then(
        (info) => info,
        () => 'failed' as const,
      ),
      new Promise<'pending'>((resolve) => {
        timer = setTimeout(() => resolve('pending'), ms > 0 ? ms : 2 ** 31 - 1);
        onClose = () => resolve('pending');
        closed.addEventListener('abort', onClose, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onClose) closed.removeEventListener('abort', onClose);
  }
}
