import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';

/** How one WebSocket connection paces its streams against its client (the SSE writer's rules). */
export interface WsPacerOptions {
  /** Bytes queued for the client above which it is disconnected as too slow. */
  maxBufferedBytes: number;
  /** A client whose socket stays blocked (no 'drain') this long is disconnected. */
  slowClientTimeoutMs: number;
}

/** Why a slow client was disconnected: the same reasons as for SSE. */
export type WsCutReason = 'slow_client_stalled' | 'slow_client_buffer';

/** Close code sent to a client disconnected for reading too slowly (policy violation). */
export const WS_SLOW_CLIENT_CLOSE_CODE = 1008;

/**
 * Backpressure for every stream multiplexed on one WebSocket. Streams send through it; when the
 * socket reports backpressure they wait for `drained()` before reading more from their sessions,
 * so a slow client costs session ring space, not socket buffers. A client that keeps the socket
 * blocked past the floor, or lets more than the limit pile up, is sent a close frame with code
 * 1008 and the reason, and is terminated if it does not complete the close handshake within the
 * floor either: it is not reading, and its queue must not outlive the decision.
 */
export class WsPacer {
  private stallTimer: NodeJS.Timeout | undefined;
  private drainWaiters: Array<() => void> = [];
  private cutReason: WsCutReason | undefined;
  /** Stream whose send found the socket blocked: named when the stall timer cuts the client. */
  private stalledStream = '';

  constructor(
    private readonly ws: WebSocket,
    /** The upgraded socket `ws` writes to: its 'drain' and writableNeedDrain are the backpressure signal. */
    private readonly socket: Duplex,
    private readonly opts: WsPacerOptions,
    private readonly onCut: (reason: WsCutReason, detail: string, streamId: string) => void,
  ) {
    socket.on('drain', this.onDrain);
    ws.on('close', this.onClose);
  }

  /** True while the socket holds more than its high-water mark for the client. */
  get blocked(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** True once the connection can take no more frames (closing, closed or cut). */
  get closed(): boolean {
    return this.ws.readyState !== WebSocket.OPEN;
  }

  /**
   * Sends one frame for `streamId`. Returns false when the client is not keeping up; the caller
   * then awaits `drained()` before sending more.
   */
  send(text: string, streamId: string): boolean {
    if (this.closed) return false;
    this.ws.send(text);
    if (!this.socket.writableNeedDrain) return true;
    this.onBlocked(streamId);
    return false;
  }

  /** Resolves when the socket drained or the connection closed. */
  drained(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * Starts the stall clock when the socket is blocked by something other than a stream's frame
   * (a ping, an error message): keep-alive leaves blocked connections to this clock.
   */
  watchBlocked(): void {
    if (this.socket.writableNeedDrain) this.onBlocked(this.stalledStream);
  }

  /** Disconnects the client as too slow, once. */
  cut(reason: WsCutReason, detail: string, streamId: string): void {
    if (this.cutReason || this.ws.readyState === WebSocket.CLOSED) return;
    this.cutReason = reason;
    this.stopStallTimer();
    this.onCut(reason, detail, streamId);
    this.ws.close(WS_SLOW_CLIENT_CLOSE_CODE, reason);
    const kill = setTimeout(() => this.ws.terminate(), this.opts.slowClientTimeoutMs);
    kill.unref();
    this.ws.once('close', () => clearTimeout(kill));
    this.wakeDrainWaiters();
  }

  private onBlocked(streamId: string): void {
    const queued = this.ws.bufferedAmount;
    if (queued > this.opts.maxBufferedBytes) {
      this.cut('slow_client_buffer', `${queued} bytes queued for the client, limit ${this.opts.maxBufferedBytes}`, streamId);
      return;
    }
    if (this.stallTimer) return;
    this.stalledStream = streamId;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      if (this.socket.writableNeedDrain) {
        const detail = `client read nothing for ${this.opts.slowClientTimeoutMs} ms with ${this.ws.bufferedAmount} bytes queued`;
        this.cut('slow_client_stalled', detail, this.stalledStream);
      }
    }, this.opts.slowClientTimeoutMs);
    this.stallTimer.unref();
  }

  private readonly onDrain = (): void => {
    this.stopStallTimer();
    this.wakeDrainWaiters();
  };

  private readonly onClose = (): void => {
    this.stopStallTimer();
    this.socket.off('drain', this.onDrain);
    this.wakeDrainWaiters();
  };

  private stopStallTimer(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}
