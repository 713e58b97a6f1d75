import { detachString } from '../strings.js';

/** Characters of recent tokens held as concatenated slices before they are copied flat. */
const FLATTEN_EVERY = 4096;

/**
 * The text a stream has delivered so far, kept for mid-stream failover (prefill or verified
 * regeneration). Tokens arrive as slices of upstream reads; appending them as they are would keep
 * every read alive for the whole stream, so each 4 KiB of recent text is copied flat (O(1) amortised
 * per character) and only the newest few tokens still point into their reads.
 */
export class DeliveredText {
  private parts: string[] = [];
  private recent = '';
  private total = 0;

  constructor(initial = '') {
    if (initial) this.append(initial);
  }

  get length(): number {
    return this.total;
  }

  append(text: string): void {
    this.recent += text;
    this.total += text.length;
    if (this.recent.length >= FLATTEN_EVERY) {
      this.parts.push(detachString(this.recent));
      this.recent = '';
    }
  }

  /** The whole text (joined once, then kept joined). */
  toString(): string {
    if (this.parts.length !== 1 || this.recent !== '') {
      this.parts = [this.parts.join('') + this.recent];
      this.recent = '';
    }
    return this.parts[0] ?? '';
  }

  slice(start: number, end: number): string {
    return this.toString().slice(start, end);
  }
}
