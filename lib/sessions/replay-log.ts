import { detachString } from '../strings.js';
import type { SessionRecord } from './types.js';

/**
 * ReplayLog: the events of one stream session, addressed by sequence number, bounded in bytes.
 *
 * Why not the native TokenRing: a session is written and read on the JS thread only, and its
 * payloads are already JS strings. Keeping the strings themselves costs no UTF-8 encode on append
 * and no decode per reader, and memory grows with what a stream actually sent instead of a fixed
 * SharedArrayBuffer per session (measured with `npm run bench -- relay`, see bench/RESULTS.md: the
 * 128 KiB ring + index + scratch per session were ~200 KB resident each, and allocating them was a
 * large share of the relay's GC time). The TokenRing stays where a native thread produces (the local
 * engine's generation).
 *
 *   records: [ r(k) r(k+1) ... r(n-1) ]      seq of records[i] = firstSeq + i - start
 *              ^start                  ^end   bytes = Σ UTF-8 sizes of held records
 *   append: push at the end; drop from the start while bytes > capacity (the newest always stays)
 *   read(after): records with seq > after, or SessionGoneError-worthy `oldestSeq` if after+1 was dropped
 *
 * Content tokens may be kept compact (`appendContent`): only the token's text is held and the
 * stream's renderer builds the payload when a reader asks. An OpenAI chunk is ~200 bytes around a
 * token of a few, so a finished session kept for its TTL costs roughly its text, not its wire bytes.
 * A compact record is weighed as its text plus the payload of an empty token, so the byte bound
 * means nearly the same for both kinds.
 */

/** Builds the payload of a compact content record (pure: the same text and seq give the same payload). */
export type ContentRenderer = (text: string, seq: number) => string;

/** Thrown by `read` when records after `afterSeq` were already dropped to stay under capacity. */
export class ReplayGap extends Error {
  constructor(
    readonly requestedSeq: number,
    readonly oldestSeq: number,
  ) {
    super(`event ${requestedSeq} was dropped; the oldest held is ${oldestSeq}`);
    this.name = 'ReplayGap';
  }
}

export class ReplayLog {
  private records: string[] = [];
  /** UTF-8 size of each record's payload; negative for a compact content record (its text is in `records`). */
  private sizes: number[] = [];
  /** Index in `records` of the oldest held record; the array is compacted when half of it is dead. */
  private start = 0;
  /** seq of records[start]. */
  private firstSeq = 0;
  private bytes = 0;
  /** Bytes ever appended, and that count when a reader last caught up: the producer's lead. */
  private appendedBytes = 0;
  private readBytes = 0;
  private contentOverhead: number | undefined;

  /**
   * @param capacityBytes most UTF-8 bytes of payload held; older records are dropped beyond it.
   * @param highWaterBytes `aboveHighWater` turns true when the producer leads the last read by this much.
   * @param renderContent builds the payloads of compact content records; without it `appendContent` throws.
   */
  constructor(
    readonly capacityBytes: number,
    readonly highWaterBytes: number = Math.floor(capacityBytes / 2),
    private readonly renderContent?: ContentRenderer,
  ) {}

  /** True when content tokens can be appended compact. */
  get compactContent(): boolean {
    return this.renderContent !== undefined;
  }

  /** seq the next append gets. */
  get nextSeq(): number {
    return this.firstSeq + this.records.length - this.start;
  }

  /** Oldest seq still held (= nextSeq when empty). */
  get oldestSeq(): number {
    return this.firstSeq;
  }

  get aboveHighWater(): boolean {
    return this.appendedBytes - this.readBytes >= this.highWaterBytes;
  }

  append(payload: string): number {
    return this.push(payload, Buffer.byteLength(payload, 'utf8'));
  }

  /**
   * Appends a content token as its text alone; readers get `renderContent(text, seq)`. The text is
   * copied first: a token sliced out of an upstream read would otherwise keep that whole read alive
   * for the session's TTL.
   */
  appendContent(text: string): number {
    const render = this.renderContent;
    if (!render) throw new Error('ReplayLog: appendContent needs a content renderer');
    // Counted as the text plus the payload around an empty token (escapes aside): rendering every
    // token here only to weigh it would double the relay's encoding work.
    this.contentOverhead ??= Buffer.byteLength(render('', this.nextSeq), 'utf8');
    return this.push(detachString(text), -(Buffer.byteLength(text, 'utf8') + this.contentOverhead));
  }

  private push(value: string, size: number): number {
    const seq = this.nextSeq;
    this.records.push(value);
    this.sizes.push(size);
    const bytes = size < 0 ? -size : size;
    this.bytes += bytes;
    this.appendedBytes += bytes;
    while (this.bytes > this.capacityBytes && this.records.length - this.start > 1) this.dropOldest();
    return seq;
  }

  /** Records with seq > afterSeq, oldest first; a reader that gets them counts as caught up. */
  read(afterSeq: number): SessionRecord[] {
    const from = afterSeq + 1;
    if (from < this.firstSeq) throw new ReplayGap(from, this.firstSeq);
    const out: SessionRecord[] = [];
    const { records, sizes } = this;
    for (let i = this.start + (from - this.firstSeq), seq = from; i < records.length; i++, seq++) {
      out.push({ seq, payload: sizes[i]! < 0 ? this.renderContent!(records[i]!, seq) : records[i]! });
    }
    if (out.length > 0) this.readBytes = this.appendedBytes;
    return out;
  }

  /** Frees every record; later reads report a gap. */
  clear(): void {
    this.firstSeq = this.nextSeq;
    this.records = [];
    this.sizes = [];
    this.start = 0;
    this.bytes = 0;
  }

  private dropOldest(): void {
    this.bytes -= Math.abs(this.sizes[this.start]!);
    this.records[this.start] = '';
    this.start++;
    this.firstSeq++;
    if (this.start >= 1024 && this.start * 2 >= this.records.length) {
      this.records = this.records.slice(this.start);
      this.sizes = this.sizes.slice(this.start);
      this.start = 0;
    }
  }
}
