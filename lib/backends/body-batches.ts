import type { Readable } from 'node:stream';

/**
 * Decodes one network chunk of a response body, pushing its events onto `out`. It may throw to end
 * the stream with an error: the events it pushed before throwing are delivered first.
 */
export type ChunkDecoder<T> = (chunk: Buffer, out: T[]) => void;

export interface BodyBatchesOptions<T> {
  /** Checked after each chunk: true ends the stream there, though the body may go on (e.g. an in-band error, a final event). */
  stopAfter?: () => boolean;
  /** At the body's end (not after `stopAfter`): push what the decoder still holds (e.g. a last line without its newline). */
  flush?: (out: T[]) => void;
}

/**
 * While the consumer is busy the body is paused (TCP backpressure) once this many decoded events, or
 * this many body bytes behind them, wait: the byte bound keeps large events (a 2 KB token, a tool
 * call) from piling up megabytes for a reader that stopped.
 */
const MAX_PENDING = 1024;
const MAX_PENDING_BYTES = 64 * 1024;

/**
 * Reads a streaming response body by 'data' events and yields the decoded events in batches: all
 * that arrived since the consumer last pulled. Compared with `for await` over the body (the stream's
 * async iterator: a read and a generator step per network chunk) this costs one emit per chunk and
 * one async step per pull, and reads that land while the consumer is busy share one batch.
 *
 * The body is paused while MAX_PENDING events (or MAX_PENDING_BYTES of body) wait, so a consumer
 * that stops pulling (a slow client downstream) slows the upstream through TCP instead of buffering. A decoder error (from `decode`
 * or `flush`) is thrown after every event decoded before it; a body error is thrown as it is.
 */
export async function* bodyBatches<T>(body: Readable, decode: ChunkDecoder<T>, opts: BodyBatchesOptions<T> = {}): AsyncGenerator<T[]> {
  let pending: T[] = [];
  /** Body bytes behind `pending`. */
  let pendingBytes = 0;
  let failure: { error: unknown } | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (chunk: Buffer): void => {
    if (failure || ended) return;
    pendingBytes += chunk.length;
    try {
      decode(chunk, pending);
      if (opts.stopAfter?.()) ended = true;
    } catch (error) {
      failure = { error };
    }
    if (failure || ended || pending.length >= MAX_PENDING || pendingBytes >= MAX_PENDING_BYTES) body.pause();
    notify();
  };
  const onEnd = (): void => {
    if (!failure && !ended) {
      try {
        opts.flush?.(pending);
      } catch (error) {
        failure = { error };
      }
    }
    ended = true;
    notify();
  };
  const onError = (error: unknown): void => {
    failure ??= { error };
    notify();
  };
  const onClose = (): void => {
    // Closed without 'end' or 'error' (destroyed): nothing more will come.
    if (!ended && !failure) failure = { error: body.errored ?? new Error('response body closed before its end') };
    notify();
  };
  body.on('data', onData);
  body.on('end', onEnd);
  body.on('error', onError);
  body.on('close', onClose);
  try {
    for (;;) {
      if (pending.length > 0) {
        const batch = pending;
        pending = [];
        pendingBytes = 0;
        if (!failure && !ended && body.isPaused()) body.resume();
        yield batch;
        continue;
      }
      if (failure) throw failure.error;
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    body.off('data', onData);
    body.off('end', onEnd);
    body.off('error', onError);
    body.off('close', onClose);
    // A body left before its end is still destroyed (by its owner, or by an abort) after this and
    // then emits 'error'; whatever ended the stream was already reported through this generator.
    if (!body.readableEnded) body.on('error', ignoreLateError);
  }
}

function ignoreLateError(): void {}
