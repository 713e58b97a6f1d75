import type { ServerResponse } from 'node:http';

/** How one SSE response paces itself against its client. */
export interface SseWriterOptions {
  /** Send a `: heartbeat` comment after this many ms without any write (0 disables). */
  heartbeatMs: number;
  /** A client whose socket stays blocked (write() returned false, no 'drain') this long is cut. */
  slowClientTimeoutMs: number;
  /** Bytes queued in the socket for this client above which it is cut as too slow. */
  maxBufferedBytes: number;
}

/** Why a stream's connection went away before the stream ended normally. */
export type SseCutReason = 'client_closed' | 'slow_client_stalled' | 'slow_client_buffer';

/** Formats one SSE event. JSON payloads never contain a newline; other text is split into data lines. */
export function formatSseEvent(seq: number, payload: string): string {
  const data = payload.includes('\n') ? payload.split('\n').join('\ndata: ') : payload;
  return `id: ${seq}\ndata: ${data}\n\n`;
}

const HEARTBEAT = ': heartbeat\n\n';
/** Abort reason of every closedSignal: abort() without one would build a DOMException (with a stack) per response. */
const CONNECTION_CLOSED = Object.freeze({ reason: 'connection closed' });

/**
 * Writes one text/event-stream response. It never queues more than one batch in the socket: the
 * caller writes, and when `write` returns false waits for `drained()` before reading more from the
 * session, so the per-stream buffer is the session ring, not Node's socket buffer. A client that
 * keeps the socket blocked past the configured floor, or lets more than `maxBufferedBytes` pile up,
 * is disconnected and `onCut` says why.
 */
export class SseWriter {
  private heartbeat: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private drainWaiters: Array<() => void> = [];
  private ended = false;
  private readonly closeController = new AbortController();
  /** Why the connection was lost, when it was lost before end(). */
  private cutReason: SseCutReason | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly opts: SseWriterOptions,
    private readonly onCut: (reason: SseCutReason, detail: string) => void,
  ) {
    res.on('drain', this.onDrain);
    res.on('close', this.onClose);
  }

  /** Aborted when the response is finished or the connection is gone, whichever comes first. */
  get closedSignal(): AbortSignal {
    return this.closeController.signal;
  }

  get closed(): boolean {
    return this.closeController.signal.aborted;
  }

  /**
   * Sets the 200 and SSE headers; they are sent with the first write. `heartbeatNow` writes a
   * heartbeat at once (the caller already waited a heartbeat interval for the first token).
   */
  open(headers: Record<string, string>, heartbeatNow = false): void {
    if (this.res.headersSent || this.closed) return;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      ...headers,
    });
    // No flushHeaders(): the headers go out with the first write, one syscall instead of two.
    if (this.opts.heartbeatMs > 0) {
      this.heartbeat = setTimeout(this.beat, this.opts.heartbeatMs);
      this.heartbeat.unref();
    }
    if (heartbeatNow) this.beat();
  }

  /**
   * Writes already formatted events. Returns false when the client is not keeping up; the caller
   * then awaits `drained()` before writing again.
   */
  write(text: string): boolean {
    if (this.closed || this.ended) return false;
    const ok = this.res.write(text);
    this.heartbeat?.refresh();
    if (!ok) this.onBlocked();
    return ok;
  }

  /** Resolves when the socket drained or closed. */
  drained(): Promise<void> {
    if (this.closed || !this.res.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Ends the response, after `text` when given (the last events and the end go out in one write). */
  end(text?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.stopTimers();
    if (!this.closed) this.res.end(text);
  }

  /** Drops the connection, logging why. */
  cut(reason: SseCutReason, detail: string): void {
    if (this.closed) return;
    this.cutReason = reason;
    this.onCut(reason, detail);
    this.res.destroy();
  }

  private readonly beat = (): void => {
    if (this.closed || this.ended) return;
    // A blocked socket is not a silent one: adding a comment would only grow the queue.
    if (!this.res.writableNeedDrain) this.res.write(HEARTBEAT);
    this.heartbeat?.refresh();
  };

  private onBlocked(): void {
    const queued = this.res.writableLength;
    if (queued > this.opts.maxBufferedBytes) {
      this.cut('slow_client_buffer', `${queued} bytes queued for the client, limit ${this.opts.maxBufferedBytes}`);
      return;
    }
    if (this.stallTimer || this.opts.slowClientTimeoutMs <= 0) return;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      if (this.res.writableNeedDrain) {
        this.cut(
          'slow_client_stalled',
          `client read nothing for ${this.opts.slowClientTimeoutMs} ms with ${this.res.writableLength} bytes queued`,
        );
      }
    }, this.opts.slowClientTimeoutMs);
    this.stallTimer.unref();
  }

  private readonly onDrain = (): void => {
    if (this.stallTimer) {
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
    }
    this.wakeDrainWaiters();
  };

  private readonly onClose = (): void => {
    this.stopTimers();
    if (!this.ended && !this.cutReason) this.cutReason = 'client_closed';
    this.closeController.abort(CONNECTION_CLOSED);
    this.wakeDrainWaiters();
  };

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private stopTimers(): void {
    if (this.heartbeat) clearTimeout(this.heartbeat);
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.heartbeat = undefined;
    this.stallTimer = undefined;
  }
}
