import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { AbiStreamEncoder } from '../gateway/abi-encoder.js';
import { abiError, validateWsClientMessage } from '../protocol/abi-events.js';
import { ApiError, badRequest, gone, notFound, rateLimited, serviceUnavailable, toApiError } from '../protocol/errors.js';
import { parseJsonBody } from '../protocol/json.js';
import type { Principal } from '../security/types.js';
import type { StreamSession } from '../sessions/types.js';
import type { RequestInfo, ServerContext } from './context.js';
import { nextMacrotask } from './session-pump.js';
import { endSocketWithError } from './raw-headers.js';
import { admitRequest, followerOf, startStream } from './streams.js';
import { WsPacer, type WsCutReason } from './ws-pacer.js';
import { WS_PATH } from './ws-path.js';

/** Browsers cannot set headers on a WebSocket: they offer `bearer.<token>` as a subprotocol instead. */
const BEARER_PROTOCOL = 'bearer.';

/** The token of a `bearer.<token>` subprotocol offer, if any. */
function bearerFromProtocols(header: string | undefined): string | undefined {
  for (const p of (header ?? '').split(',')) {
    const t = p.trim();
    if (t.startsWith(BEARER_PROTOCOL) && t.length > BEARER_PROTOCOL.length) return t.slice(BEARER_PROTOCOL.length);
  }
  return undefined;
}

/** One stream followed on a connection: the pump stops when `stop` aborts. */
interface WsStream {
  session: StreamSession;
  stop: AbortController;
}

/** One open connection: its streams and the pacing they share. */
interface WsConnection {
  streams: Map<string, WsStream>;
  pacer: WsPacer;
}

/** A `noServer` WebSocket server: holds only options, so a new one per payload limit costs nothing. */
function createWss(maxPayload: number): WebSocketServer {
  return new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload,
    perMessageDeflate: false,
    // Prefer an application protocol the client offered next to its bearer token, so the token is not echoed back.
    handleProtocols: (protocols) => {
      const list = [...protocols];
      return list.find((p) => !p.startsWith(BEARER_PROTOCOL)) ?? list[0] ?? false;
    },
  });
}

/**
 * `GET /api/stream/ws`: several ABI streams multiplexed over one WebSocket, with cancel and resume.
 * Each stream's events are its session's records, sent with the stream `id` and its `seq`, paced
 * by the connection's socket as SSE is (see WsPacer): a client slower than the configured floor
 * is disconnected with close code 1008, a log line and a `client:slow` event.
 * Settings are read when they are used, so after a reload new connections get the new payload
 * limit and pacing, and the next ping comes after the new heartbeat.
 */
export class WsEndpoint {
  private wss: WebSocketServer;
  private pinger: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly connections = new Map<WebSocket, WsConnection>();
  private readonly alive = new WeakSet<WebSocket>();

  constructor(private readonly ctx: ServerContext) {
    this.wss = createWss(ctx.runtime().settings.wsMaxPayloadBytes);
    this.schedulePing();
  }

  /** The WebSocket server for a new connection: one with the current payload limit. */
  private server(): WebSocketServer {
    const { wsMaxPayloadBytes } = this.ctx.runtime().settings;
    if (this.wss.options.maxPayload !== wsMaxPayloadBytes) this.wss = createWss(wsMaxPayloadBytes);
    return this.wss;
  }

  private schedulePing(): void {
    if (this.closed) return;
    this.pinger = setTimeout(
      () => {
        this.pingAll();
        this.schedulePing();
      },
      Math.max(1000, this.ctx.runtime().settings.heartbeatMs),
    );
    this.pinger.unref();
  }

  /** Node 'upgrade' handler: authenticates, then completes the handshake or answers with an HTTP error. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, info: RequestInfo): Promise<void> {
    socket.on('error', () => {});
    try {
      if (!this.ctx.lifecycle.accepting) throw serviceUnavailable('The server is shutting down.', { code: 'draining', retryAfterSec: 1 });
      const principal = await this.authenticate(req);
      this.server().handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, socket, { ...info, principalId: principal.id, principal }));
    } catch (err) {
      endSocketWithError(socket, err);
    }
  }

  private async authenticate(req: IncomingMessage): Promise<Principal> {
    const auth = this.ctx.runtime().auth;
    const token = req.headers.authorization ? undefined : bearerFromProtocols(req.headers['sec-websocket-protocol']);
    return token !== undefined ? auth.authenticateToken(token) : auth.authorize(req, WS_PATH);
  }

  /** Closes every connection (after drain has ended their streams). */
  close(): void {
    this.closed = true;
    clearTimeout(this.pinger);
    for (const ws of this.connections.keys()) ws.close(1001, 'server shutting down');
  }

  private pingAll(): void {
    for (const [ws, conn] of this.connections) {
      // A ping cannot reach a client that is not reading: the slow-client floor decides for those.
      if (conn.pacer.blocked) {
        conn.pacer.watchBlocked();
        continue;
      }
      if (!this.alive.has(ws)) {
        ws.terminate();
        continue;
      }
      this.alive.delete(ws);
      ws.ping();
    }
  }

  private onConnection(ws: WebSocket, socket: Duplex, info: RequestInfo): void {
    const log = info.log.child({ ws: true });
    const { maxBufferedBytesPerStream, slowClientTimeoutMs } = this.ctx.runtime().settings;
    const pacer = new WsPacer(ws, socket, { maxBufferedBytes: maxBufferedBytesPerStream, slowClientTimeoutMs }, (reason, detail, streamId) =>
      this.reportSlowClient(info, reason, detail, streamId),
    );
    const conn: WsConnection = { streams: new Map(), pacer };
    const { streams } = conn;
    this.connections.set(ws, conn);
    this.alive.add(ws);
    ws.on('pong', () => this.alive.add(ws));
    ws.on('message', (data, isBinary) => {
      this.alive.add(ws);
      void this.onMessage(ws, conn, info, data, isBinary).catch((err: unknown) => {
        log.error({ err_message: (err as Error).message }, 'websocket message handling failed');
      });
    });
    ws.on('close', () => {
      this.connections.delete(ws);
      for (const s of streams.values()) {
        s.stop.abort();
        s.session.detach();
      }
      streams.clear();
    });
    ws.on('error', (err) => log.warn({ err_message: err.message }, 'websocket error'));
  }

  private reportSlowClient(info: RequestInfo, reason: WsCutReason, detail: string, streamId: string): void {
    info.log.warn({ stream_id: streamId, reason, detail, ws: true }, 'disconnecting slow client');
    this.ctx.events.emit('client:slow', { requestId: info.requestId, streamId, reason, detail });
  }

  private sendError(ws: WebSocket, id: string | undefined, err: unknown, requestId: string): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(abiError(requestId, toApiError(err).toEnvelope(), id));
  }

  private async onMessage(ws: WebSocket, conn: WsConnection, info: RequestInfo, data: RawData, isBinary: boolean): Promise<void> {
    const { streams } = conn;
    const settings = this.ctx.runtime().settings;
    let id: string | undefined;
    try {
      if (isBinary) throw badRequest('Send JSON text messages, not binary ones.', null, 'invalid_message');
      const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      const parsed = parseJsonBody(raw, { maxDepth: settings.maxJsonDepth });
      const maybeId = (parsed as { id?: unknown } | null)?.id;
      if (typeof maybeId === 'string') id = maybeId;
      // The settings carry the validation limits (maxMessages, maxTotalChars, maxTokensCap) under the same names.
      const msg = validateWsClientMessage(parsed, settings);
      if (msg.type === 'cancel') {
        const run = this.ctx.runs.get(msg.id);
        if (!streams.has(msg.id) || !run) throw notFound(`No running stream '${msg.id}' on this connection.`, 'stream_not_found', 'id');
        run.abort(new ApiError('The stream was cancelled by the client.', { status: 499, type: 'invalid_request_error', code: 'cancelled' }));
        return;
      }
      if (streams.has(msg.id ?? '')) throw badRequest(`Stream '${msg.id}' is already active on this connection.`, 'id', 'duplicate_id');
      if (streams.size >= settings.maxStreamsPerConnection) {
        throw rateLimited(`This connection already has ${settings.maxStreamsPerConnection} active streams (the limit).`, { code: 'rate_limited' });
      }
      if (msg.type === 'resume') {
        const session = this.ctx.sessions.get(msg.id);
        if (!session || session.meta.principal !== info.principalId) {
          if (!session && this.ctx.sessions.wasHere(msg.id)) throw gone(`Stream '${msg.id}' has expired.`, 'stream_expired');
          throw notFound(`No stream with id '${msg.id}'.`, 'stream_not_found', 'id');
        }
        try {
          session.read(msg.after);
        } catch (err) {
          throw gone(`Events after ${msg.after} of stream '${msg.id}' are no longer kept: ${(err as Error).message}`, 'stream_events_gone');
        }
        this.follow(conn, session, msg.after, info, true);
        return;
      }
      if (!this.ctx.lifecycle.accepting) throw serviceUnavailable('The server is shutting down.', { code: 'draining' });
      const { gateway } = this.ctx.runtime();
      const model = msg.model ?? (await gateway.models())[0]?.id;
      if (!model) throw badRequest(`No 'model' was given and the server has no model to default to.`, 'model', 'missing_required_parameter');
      msg.request.model = model;
      const targets = gateway.targets(model, msg.backend);
      admitRequest(this.ctx, info, msg.request.maxTokens);
      const streamId = msg.id ?? `ws_${info.requestId}_${streams.size}_${Date.now().toString(36)}`;
      if (this.ctx.sessions.get(streamId)) throw badRequest(`Stream id '${streamId}' is already in use.`, 'id', 'duplicate_id');
      const run = startStream(this.ctx, info, {
        format: 'abi',
        targets,
        request: msg.request,
        encoder: new AbiStreamEncoder(info.requestId, streamId),
        streamId,
        ws: true,
      });
      this.follow(conn, run.session, -1, info);
    } catch (err) {
      this.sendError(ws, id, err, info.requestId);
    }
  }

  private follow(conn: WsConnection, session: StreamSession, after: number, info: RequestInfo, resume = false): void {
    const entry: WsStream = { session, stop: new AbortController() };
    conn.streams.set(session.id, entry);
    if (resume) session.attach(after);
    else session.attach();
    void this.pump(conn.pacer, entry, after, info).finally(() => {
      if (conn.streams.get(session.id) === entry) {
        conn.streams.delete(session.id);
        session.detach();
      }
    });
  }

  /** Sends a session's records from `after` until it ends, the client cancels or the connection closes. */
  private async pump(pacer: WsPacer, entry: WsStream, after: number, info: RequestInfo): Promise<void> {
    const { session, stop } = entry;
    const frame = wsFramer(session);
    const follow = followerOf(this.ctx, session);
    for (;;) {
      if (stop.signal.aborted || pacer.closed) return;
      const wasDone = session.done;
      let records;
      try {
        records = session.read(after);
      } catch (err) {
        const detail = `reader at seq ${after} fell behind the session buffer (${(err as Error).message})`;
        info.log.warn({ stream_id: session.id, detail }, 'reader overrun');
        pacer.cut('slow_client_buffer', detail, session.id);
        return;
      }
      if (records.length > 0) {
        follow.onRead();
        let keepingUp = true;
        for (const r of records) keepingUp = pacer.send(frame(r.seq, r.payload), session.id) && keepingUp;
        after = records[records.length - 1]!.seq;
        if (!keepingUp) await pacer.drained();
        continue;
      }
      if (wasDone) return;
      await follow.wait(after, stop.signal);
      await nextMacrotask();
    }
  }
}

/** WebSocket frames: the session payload with the stream `id` (when missing) and `seq` added. */
function wsFramer(session: StreamSession): (seq: number, payload: string) => string {
  const idField = `"id":${JSON.stringify(session.id)}`;
  if (session.meta.format === 'openai') {
    return (seq, payload) => `{"type":"chunk",${idField},"seq":${seq},"data":${payload === '[DONE]' ? '"[DONE]"' : payload}}`;
  }
  const hasId = session.meta.ws === true;
  return (seq, payload) => `${payload.slice(0, -1)}${hasId ? '' : `,${idField}`},"seq":${seq}}`;
}
