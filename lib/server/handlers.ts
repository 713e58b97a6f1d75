import type { IncomingMessage, ServerResponse } from 'node:http';
import { AbiStreamEncoder } from '../gateway/abi-encoder.js';
import { OpenAIStreamEncoder } from '../gateway/openai-encoder.js';
import { validateAbiRequest } from '../protocol/abi-events.js';
import { ChunkBuilder, CompletionAccumulator } from '../protocol/chunks.js';
import { ApiError, badRequest, gone, notFound, toApiError } from '../protocol/errors.js';
import { validateChatCompletionRequest } from '../protocol/openai.js';
import type { RequestInfo, ServerContext } from './context.js';
import { readJsonBody, requireObject } from './body.js';
import { sendError, sendJson } from './respond.js';
import { admitRequest, assertStreamCapacity, serveLiveStream, serveSessionReplay, startStream } from './streams.js';
import type { RouteContext } from './router.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, route: RouteContext & RequestInfo) => Promise<void>;

function setHeaders(res: ServerResponse, headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
}

/** POST /v1/chat/completions */
export function chatCompletions(ctx: ServerContext): Handler {
  return async (req, res, info) => {
    const { settings, gateway } = ctx.runtime();
    const body = await readJsonBody(req, settings);
    const v = validateChatCompletionRequest(body, settings);
    const targets = gateway.targets(v.model, v.backend);
    setHeaders(res, admitRequest(ctx, info, v.request.maxTokens));
    if (v.stream) {
      const encoder = new OpenAIStreamEncoder(v.model, v.includeUsage);
      const run = startStream(ctx, info, { format: 'openai', targets, request: v.request, encoder });
      await serveLiveStream(ctx, info, req, res, run);
      return;
    }
    assertStreamCapacity(ctx);
    const controller = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished) controller.abort(new ApiError('client went away', { status: 499, type: 'server_error', code: 'client_closed' }));
    };
    res.on('close', onClose);
    const acc = new CompletionAccumulator(new ChunkBuilder({ model: v.model }));
    let backend: string | undefined;
    const work = (async () => {
      const execution = gateway.execute(targets, v.request, controller.signal);
      try {
        for await (const batch of execution.events) {
          for (const ev of batch) {
            if (ev.type === 'attempt') backend = ev.backend;
            else if (ev.type !== 'failover') acc.add(ev);
          }
        }
      } finally {
        execution.release();
      }
    })();
    ctx.lifecycle.track({
      abortForShutdown: () =>
        controller.abort(new ApiError('The server is shutting down.', { status: 503, type: 'server_error', code: 'server_shutdown' })),
      finished: work.catch(() => {}),
    });
    try {
      await work;
    } catch (err) {
      const apiError = controller.signal.aborted && controller.signal.reason instanceof ApiError ? controller.signal.reason : toApiError(err);
      if (backend && apiError.status >= 500) ctx.metrics.upstreamError(backend, apiError.apiCode ?? String(apiError.status));
      throw apiError;
    }
    const completion = acc.toCompletion();
    if (backend && completion.usage) ctx.metrics.tokens(backend, completion.usage.completion_tokens);
    if (completion.usage) ctx.limiter.consume(info.principal, completion.usage.total_tokens);
    sendJson(res, 200, completion, backend ? { 'x-abi-backend': backend } : {});
  };
}

/** The model an ABI request runs: the one named, else the first configured model. */
async function abiModel(ctx: ServerContext, model: string | undefined): Promise<string> {
  if (model !== undefined) return model;
  const first = (await ctx.runtime().gateway.models())[0];
  if (!first) throw badRequest(`No 'model' was given and the server has no model to default to.`, 'model', 'missing_required_parameter');
  return first.id;
}

/** POST /api/stream: ABI events over SSE. */
export function abiStream(ctx: ServerContext): Handler {
  return async (req, res, info) => {
    const { settings, gateway } = ctx.runtime();
    const body = await readJsonBody(req, settings);
    const v = validateAbiRequest(body, settings);
    const model = await abiModel(ctx, v.model);
    v.request.model = model;
    const targets = gateway.targets(model, v.backend);
    setHeaders(res, admitRequest(ctx, info, v.request.maxTokens));
    const run = startStream(ctx, info, { format: 'abi', targets, request: v.request, encoder: new AbiStreamEncoder(info.requestId) });
    await serveLiveStream(ctx, info, req, res, run);
  };
}

/** Parses `Last-Event-ID` or `?after=`: the last seq the client holds (-1 = none). */
export function parseAfter(req: IncomingMessage, url: URL): number {
  const query = url.searchParams.get('after');
  const header = req.headers['last-event-id'];
  const raw = query ?? (typeof header === 'string' ? header : undefined);
  if (raw === undefined || raw === '') return -1;
  if (!/^-?\d{1,15}$/.test(raw.trim()) || Number(raw) < -1) {
    throw badRequest(`Invalid resume position ${JSON.stringify(raw.slice(0, 40))}: use the last event id received (an integer >= -1).`, 'after', 'invalid_value');
  }
  return Number(raw);
}

/** GET /v1/streams/:id: replay after the client's last event, then follow live. */
export function resumeStream(ctx: ServerContext): Handler {
  return async (req, res, info) => {
    const id = info.params.id!;
    const session = ctx.sessions.get(id);
    if (!session || (session.meta.principal !== info.principalId && session.meta.principal !== undefined)) {
      if (!session && ctx.sessions.wasHere(id)) throw gone(`Stream '${id}' has expired; its events are no longer kept.`, 'stream_expired');
      throw notFound(`No stream with id '${id}'.`, 'stream_not_found', 'id');
    }
    const after = parseAfter(req, info.url);
    if (after >= session.nextSeq) {
      throw badRequest(`Resume position ${after} is beyond the stream's last event (${session.nextSeq - 1}).`, 'after', 'invalid_value');
    }
    try {
      session.read(after);
    } catch (err) {
      throw gone(`Events after ${after} of stream '${id}' are no longer kept: ${(err as Error).message}`, 'stream_events_gone');
    }
    info.log.info({ stream_id: id, after }, 'stream resumed');
    await serveSessionReplay(ctx, info, res, session, after);
  };
}

/** GET /v1/models */
export function models(ctx: ServerContext): Handler {
  return async (_req, res) => {
    const ids = await ctx.runtime().gateway.models();
    sendJson(res, 200, { object: 'list', data: ids.map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.owned_by })) });
  };
}

/** GET /health */
export function health(ctx: ServerContext): Handler {
  return async (_req, res) => {
    const draining = !ctx.lifecycle.accepting;
    const backends = ctx.runtime().gateway.health();
    sendJson(
      res,
      draining ? 503 : 200,
      {
        status: draining ? 'draining' : 'ok',
        active_streams: ctx.runs.size,
        sessions: ctx.sessions.size,
        uptime_seconds: Math.floor((Date.now() - ctx.startedAt) / 1000),
        // True when some backend (the local engine) reports a loaded model.
        model_loaded: Object.values(backends).some((b) => b.model_loaded === true),
        backends,
      },
      draining ? { connection: 'close' } : {},
    );
  };
}

/** GET /metrics */
export function metrics(ctx: ServerContext): Handler {
  return async (_req, res) => {
    const { contentType, body } = await ctx.metrics.render();
    res.writeHead(200, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  };
}

/** A backend that can swap its model file in place (the local engine). */
interface ModelReloadable {
  reloadModel(modelPath: string): Promise<{ model: string; path: string; drained: boolean }>;
}

/** `{backend, modelPath}`: swaps one backend's model; the old model keeps serving if the new one fails. */
async function reloadModel(ctx: ServerContext, res: ServerResponse, body: Record<string, unknown>): Promise<void> {
  const { backend: name, modelPath } = body;
  if (typeof name !== 'string' || name === '') throw badRequest(`'backend' must name a configured backend.`, 'backend', 'invalid_value');
  if (typeof modelPath !== 'string' || modelPath === '') throw badRequest(`'modelPath' must be a path to a model file.`, 'modelPath', 'invalid_value');
  const backend = ctx.runtime().gateway.backends.get(name) as (Partial<ModelReloadable> & object) | undefined;
  if (!backend) throw notFound(`No backend named '${name}'.`, 'backend_not_found', 'backend');
  if (typeof backend.reloadModel !== 'function') {
    throw badRequest(`Backend '${name}' cannot reload a model; reload the config file instead (POST /admin/reload without a body).`, 'backend', 'not_reloadable');
  }
  try {
    const result = await backend.reloadModel(modelPath);
    sendJson(res, 200, { status: 'reloaded', backend: name, ...result });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ABI_ERR_MODEL_RELOAD') throw badRequest((err as Error).message, 'modelPath', 'model_reload_failed');
    throw err;
  }
}

/**
 * POST /admin/reload. Without a body: re-reads the config file; a config that fails validation is
 * refused (400) and the old one keeps serving. With `{backend, modelPath}`: reloads that backend's model.
 */
export function adminReload(ctx: ServerContext): Handler {
  return async (req, res, info) => {
    const hasBody = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined;
    if (hasBody) {
      const body = requireObject(await readJsonBody(req, ctx.runtime().settings));
      if (body.backend !== undefined || body.modelPath !== undefined) {
        await reloadModel(ctx, res, body);
        info.log.info({ backend: body.backend }, 'model reloaded');
        return;
      }
    }
    let restartRequired: string[];
    try {
      ({ restartRequired } = await ctx.reload());
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      ctx.events.emit('reload', { ok: false, error: message });
      info.log.warn({ err_message: message }, 'config reload refused');
      if (err instanceof ApiError) throw err;
      sendError(res, badRequest(`The new configuration was refused; the previous one keeps serving. ${message}`, (err as { key?: string }).key ?? null, 'invalid_config'));
      return;
    }
    ctx.events.emit('reload', { ok: true, restartRequired });
    info.log.info('config reloaded');
    sendJson(res, 200, { status: 'reloaded', restart_required: restartRequired });
  };
}
