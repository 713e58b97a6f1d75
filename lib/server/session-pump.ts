import type { StreamSession } from '../sessions/types.js';
import { formatSseEvent, type SseWriter } from './sse-writer.js';

/** How a reader learns about new records and tells the producer it took some. */
export interface SessionFollower {
  wait(afterSeq: number, signal: AbortSignal): Promise<void>;
  onRead(): void;
}

/** How a reader's pass over a session ended. */
export type PumpResult = 'done' | 'client_gone' | 'overrun';

/**
 * Follows a session from `afterSeq` and writes each record as an SSE event with `id: <seq>`.
 * Records that arrived together are written in one batch; when the socket reports backpressure
 * the pump stops reading until it drains, so a slow client costs ring space, not socket buffers.
 * A reader so slow that the ring overwrote what it had not read yet is cut (`overrun`).
 */
export async function pumpSessionToSse(
  session: StreamSession,
  writer: SseWriter,
  afterSeq: number,
  onOverrun: (detail: string) => void,
  follow: SessionFollower,
): Promise<PumpResult> {
  let after = afterSeq;
  for (;;) {
    if (writer.closed) return 'client_gone';
    // Read `done` before reading records: a finish that lands in between is seen on the next turn.
    const wasDone = session.done;
    let records;
    try {
      records = session.read(after);
    } catch (err) {
      const detail = `reader at seq ${after} fell behind the session buffer (${(err as Error).message})`;
      onOverrun(detail);
      writer.cut('slow_client_buffer', detail);
      return 'overrun';
    }
    if (records.length > 0) {
      follow.onRead();
      let text = '';
      for (const r of records) text += formatSseEvent(r.seq, r.payload);
      after = records[records.length - 1]!.seq;
      if (wasDone) {
        writer.end(text);
        return 'done';
      }
      if (!writer.write(text)) await writer.drained();
      continue;
    }
    if (wasDone) {
      writer.end();
      return 'done';
    }
    await follow.wait(after, writer.closedSignal);
    // Let the producer append everything that arrived in the same upstream read before reading:
    // one socket write per batch instead of one per token.
    await nextMacrotask();
  }
}

/** Resolves after the current I/O callbacks and microtasks ran. */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
