/**
 * Small real clients for server tests: an SSE reader over node:http (keeps ids, comments and the raw
 * text, which the openai SDK hides), a raw TCP exchange for malformed HTTP, and a `ws` helper.
 */
import http from 'node:http';
import net from 'node:net';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import WebSocket from 'ws';

export interface SseEvent {
  id: string | undefined;
  data: string;
}

export interface SseResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  events: SseEvent[];
  /** Comment lines seen (e.g. "heartbeat"), in order, with the event count at that moment. */
  comments: { text: string; afterEvents: number; atMs: number }[];
  raw: string;
  /** JSON body for non-SSE answers. */
  json?: any;
  /** True when the connection ended without the response completing normally. */
  aborted: boolean;
}

export interface SseRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Called for each event; return true to stop reading and destroy the connection. */
  onEvent?: (event: SseEvent, all: SseEvent[]) => boolean | void;
  /** Called once response headers arrive. */
  onResponse?: (res: http.IncomingMessage, req: http.ClientRequest) => void;
  agent?: http.Agent | false;
}

/** Sends a request and reads an SSE (or JSON) answer to the end, or until `onEvent` says stop. */
export function sseRequest(url: string, opts: SseRequestOptions = {}): Promise<SseResponse> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    const req = http.request(url, {
      method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      agent: opts.agent ?? false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      opts.onResponse?.(res, req);
      const out: SseResponse = { status: res.statusCode ?? 0, headers: res.headers, events: [], comments: [], raw: '', aborted: false };
      let stopped = false;
      const parser = createParser({
        onEvent: (m: EventSourceMessage) => {
          if (stopped) return;
          const ev = { id: m.id, data: m.data };
          out.events.push(ev);
          if (opts.onEvent?.(ev, out.events)) {
            stopped = true;
            res.destroy();
            resolve(out);
          }
        },
        onComment: (text) => out.comments.push({ text: text.trim(), afterEvents: out.events.length, atMs: Date.now() - started }),
      });
      const isSse = String(res.headers['content-type'] ?? '').startsWith('text/event-stream');
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        out.raw += d;
        if (isSse) parser.feed(d);
      });
      res.on('aborted', () => (out.aborted = true));
      res.on('error', () => (out.aborted = true));
      res.on('close', () => {
        if (stopped) return;
        if (!res.complete) out.aborted = true;
        if (!isSse && out.raw) {
          try {
            out.json = JSON.parse(out.raw);
          } catch {}
        }
        resolve(out);
      });
    });
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

/** The JSON payloads of SSE events, with `[DONE]` kept as the string. */
export function payloads(events: SseEvent[]): any[] {
  return events.map((e) => (e.data === '[DONE]' ? '[DONE]' : JSON.parse(e.data)));
}

/**
 * Writes raw bytes on a fresh TCP connection and collects everything until the server closes it
 * (or `timeoutMs` passes, then it resolves with what it has and `timedOut`).
 */
export function rawExchange(
  port: number,
  chunks: (string | Buffer)[],
  opts: { timeoutMs?: number; gapMs?: number } = {},
): Promise<{ text: string; closed: boolean; timedOut: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (closed: boolean, timedOut: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed, timedOut });
    };
    const timer = setTimeout(() => finish(false, true), opts.timeoutMs ?? 5000);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('close', () => finish(true, false));
    socket.on('error', () => finish(true, false));
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (socket.destroyed) return;
        socket.write(c);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
    });
  });
}

/** Parses the status line of a raw HTTP response. */
export function rawStatus(text: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** A `ws` client that collects JSON messages and lets a test await one matching a predicate. */
export class WsClient {
  readonly messages: any[] = [];
  private waiters: { pred: (m: any) => boolean; resolve: (m: any) => void }[] = [];
  closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data));
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  static connect(url: string, opts: { headers?: Record<string, string>; protocols?: string[]; maxPayload?: number } = {}): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers });
      const client = new WsClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`ws upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
      ws.once('error', reject);
    });
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  /** Resolves with the first message (already received or future) matching `pred`. */
  next(pred: (m: any) => boolean, timeoutMs = 10_000): Promise<any> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching ws message; got ${JSON.stringify(this.messages).slice(0, 2000)}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  close(): void {
    this.ws.close();
  }
}
