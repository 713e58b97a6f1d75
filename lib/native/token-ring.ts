/**
 * Token ring: a power-of-two byte ring of token records in a SharedArrayBuffer, single producer /
 * single consumer, lock-free. The producer overwrites the oldest records when full; readers address
 * records by sequence number and get a TokenRingGoneError (never wrong bytes) for overwritten ones.
 *
 * The layout and the producer protocol are defined once in native/ring/ring_layout.hpp (ASCII diagram
 * there); this file is the JS producer and the consumer over the same bytes. A native producer (the
 * local engine's generation thread) writes through native/ring/token_ring.hpp on `nativeView`.
 */
import { InvalidArgumentError, TokenRingGoneError } from '../errors.js';

export { TokenRingGoneError } from '../errors.js';

const RING_MAGIC = 0x314e4752;
const RING_VERSION = 1;
const HEADER_BYTES = 256;
const RECORD_HEADER_BYTES = 12;
const MIN_CAPACITY = 256;
const MAX_CAPACITY = 2 ** 30;
const TWO_32 = 2 ** 32;

/** Int32 lane indices (byte offset / 4), mirroring struct ring_header. */
const L = {
  magic: 0,
  version: 1,
  capacity: 2,
  maxRecord: 3,
  highWater: 4,
  indexCap: 5,
  indexOffset: 6,
  dataOffset: 7,
  head: 16,
  tail: 17,
  status: 18,
  notify: 19,
  waiting: 32,
  readFence: 33,
} as const;
/** BigInt64 lane indices (byte offset / 8). */
const L64 = { nextSeq: 10, oldestSeq: 11, ackSeq: 17 } as const;

const STATUS_NAMES = ['open', 'done', 'error'] as const;
export type TokenRingStatus = (typeof STATUS_NAMES)[number];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One record read from the ring. `bytes` is a private copy, safe to keep. */
export interface TokenRecord {
  seq: number;
  bytes: Uint8Array;
  /** UTF-8 decode of `bytes`. */
  text(): string;
}

class Record implements TokenRecord {
  constructor(
    readonly seq: number,
    readonly bytes: Uint8Array,
  ) {}
  text(): string {
    return decoder.decode(this.bytes);
  }
}

export interface TokenRingOptions {
  /** Data region size in bytes; a power of two from 256 to 2^30. Default 1 MiB. */
  capacityBytes?: number;
  /** `aboveHighWater` turns true when the producer is this many bytes ahead of the last read. Default capacity/2. */
  highWaterBytes?: number;
  /** Largest record payload in bytes. Default min(64 KiB, capacity/4). */
  maxRecordBytes?: number;
}

type WaitAsync = (
  typedArray: Int32Array,
  index: number,
  value: number,
  timeout?: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

const isPowerOfTwo = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
const recordBytes = (len: number) => (RECORD_HEADER_BYTES + len + 3) & ~3;

export class TokenRing {
  /** The shared memory; pass it to `TokenRing.attach` in another worker_thread. */
  readonly buffer: SharedArrayBuffer;
  /** Int32Array over the whole buffer: what native producers take (Node 20 cannot pass a SAB itself). */
  readonly nativeView: Int32Array;
  readonly capacityBytes: number;
  readonly highWaterBytes: number;
  readonly maxRecordBytes: number;

  readonly #i32: Int32Array;
  readonly #i64: BigInt64Array;
  readonly #index: Uint32Array;
  readonly #data: Uint8Array;
  readonly #words: Uint32Array;
  readonly #mask: number;
  readonly #indexMask: number;
  readonly #indexCap: number;
  readonly #scratch: Uint8Array;
  // Producer-side cache of its own lanes, valid while the head lane still equals #cachedHead.
  #cachedHead = -1;
  #cachedTail = 0;
  #cachedNext = 0;
  #cachedOldest = 0;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    const i32 = new Int32Array(buffer);
    this.nativeView = i32;
    this.#i32 = i32;
    this.#i64 = new BigInt64Array(buffer, 0, HEADER_BYTES / 8);
    this.capacityBytes = i32[L.capacity]! >>> 0;
    this.maxRecordBytes = i32[L.maxRecord]! >>> 0;
    this.highWaterBytes = i32[L.highWater]! >>> 0;
    this.#indexCap = i32[L.indexCap]! >>> 0;
    this.#index = new Uint32Array(buffer, i32[L.indexOffset]!, this.#indexCap);
    const dataOffset = i32[L.dataOffset]!;
    this.#data = new Uint8Array(buffer, dataOffset, this.capacityBytes);
    this.#words = new Uint32Array(buffer, dataOffset, this.capacityBytes / 4);
    this.#mask = this.capacityBytes - 1;
    this.#indexMask = this.#indexCap - 1;
    this.#scratch = new Uint8Array(this.maxRecordBytes);
  }

  /** A new empty ring in a fresh SharedArrayBuffer. */
  static create(opts: TokenRingOptions = {}): TokenRing {
    const capacity = opts.capacityBytes ?? 1 << 20;
    if (!isPowerOfTwo(capacity) || capacity < MIN_CAPACITY || capacity > MAX_CAPACITY) {
      throw new InvalidArgumentError(`token ring: capacityBytes must be a power of two in [256, 2^30], got ${capacity}`);
    }
    const maxRecord = opts.maxRecordBytes ?? Math.min(65536, capacity / 4);
    if (!Number.isInteger(maxRecord) || maxRecord < 1 || recordBytes(maxRecord) > capacity) {
      throw new InvalidArgumentError(`token ring: maxRecordBytes must be an integer in [1, capacity-12], got ${maxRecord}`);
    }
    const highWater = opts.highWaterBytes ?? capacity / 2;
    if (!Number.isInteger(highWater) || highWater < 1 || highWater > capacity) {
      throw new InvalidArgumentError(`token ring: highWaterBytes must be an integer in [1, capacity], got ${highWater}`);
    }
    // At most capacity/16 records are held (16 bytes = a 4-byte token), so the seq index costs capacity/4 bytes.
    const indexCap = Math.max(16, capacity / 16);
    const indexOffset = HEADER_BYTES;
    const dataOffset = indexOffset + indexCap * 4;
    const buffer = new SharedArrayBuffer(dataOffset + capacity);
    const i32 = new Int32Array(buffer);
    i32[L.capacity] = capacity;
    i32[L.maxRecord] = maxRecord;
    i32[L.highWater] = highWater;
    i32[L.indexCap] = indexCap;
    i32[L.indexOffset] = indexOffset;
    i32[L.dataOffset] = dataOffset;
    const i64 = new BigInt64Array(buffer, 0, HEADER_BYTES / 8);
    i64[L64.ackSeq] = -1n;
    i32[L.version] = RING_VERSION;
    Atomics.store(i32, L.magic, RING_MAGIC);
    return new TokenRing(buffer);
  }

  /** The same ring from another thread (worker_threads share the SharedArrayBuffer, not the object). */
  static attach(buffer: SharedArrayBuffer): TokenRing {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < HEADER_BYTES) {
      throw new InvalidArgumentError('token ring: attach expects the SharedArrayBuffer of a TokenRing');
    }
    const i32 = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    if (Atomics.load(i32, L.magic) !== RING_MAGIC || i32[L.version] !== RING_VERSION) {
      throw new InvalidArgumentError(`token ring: buffer does not hold a token ring of layout v${RING_VERSION}`);
    }
    const need = i32[L.dataOffset]! + (i32[L.capacity]! >>> 0);
    if (buffer.byteLength < need) throw new InvalidArgumentError('token ring: buffer is shorter than its header says');
    return new TokenRing(buffer);
  }

  get nextSeq(): number {
    return Number(Atomics.load(this.#i64, L64.nextSeq));
  }
  get oldestSeq(): number {
    return Number(Atomics.load(this.#i64, L64.oldestSeq));
  }
  get status(): TokenRingStatus {
    return STATUS_NAMES[Atomics.load(this.#i32, L.status)] ?? 'error';
  }
  get closed(): boolean {
    return Atomics.load(this.#i32, L.status) !== 0;
  }

  /**
   * Producer: appends one record and returns its seq (0, 1, 2, …). Overwrites the oldest records when
   * the ring is full. Throws InvalidArgumentError for a record over maxRecordBytes or after close().
   */
  push(data: string | Uint8Array): number {
    let bytes: Uint8Array;
    let len: number;
    if (typeof data === 'string') {
      if (data.length * 3 <= this.#scratch.length) {
        bytes = this.#scratch;
        len = encoder.encodeInto(data, bytes).written;
      } else {
        bytes = encoder.encode(data);
        len = bytes.length;
      }
    } else if (data instanceof Uint8Array) {
      bytes = data;
      len = data.length;
    } else {
      throw new InvalidArgumentError('token ring: push expects a string or a Uint8Array');
    }
    if (len > this.maxRecordBytes) {
      throw new InvalidArgumentError(`token ring: record of ${len} bytes exceeds maxRecordBytes ${this.maxRecordBytes}`);
    }
    const i32 = this.#i32;
    if (i32[L.status] !== 0) throw new InvalidArgumentError('token ring: push after close()');
    let head = i32[L.head]! >>> 0;
    if (head !== this.#cachedHead) {
      this.#cachedTail = i32[L.tail]! >>> 0;
      this.#cachedNext = Number(this.#i64[L64.nextSeq]);
      this.#cachedOldest = Number(this.#i64[L64.oldestSeq]);
    }
    let tail = this.#cachedTail;
    let oldest = this.#cachedOldest;
    const seq = this.#cachedNext;
    const size = recordBytes(len);
    const words = this.#words;
    const mask = this.#mask;
    if (((head - tail) >>> 0) + size > this.capacityBytes || seq - oldest >= this.#indexCap) {
      do {
        tail = (tail + recordBytes(words[((tail + 8) & mask) >>> 2]!)) >>> 0;
        oldest++;
      } while (((head - tail) >>> 0) + size > this.capacityBytes || seq - oldest >= this.#indexCap);
      // Readers must see the new oldest seq before any byte of the evicted records changes: the
      // sequentially consistent store orders it before the plain data writes below.
      Atomics.store(this.#i64, L64.oldestSeq, BigInt(oldest));
      // tail and head are producer-private for correctness (readers only use them for bytesAhead),
      // so plain stores do; next_seq is the publish point.
      i32[L.tail] = tail | 0;
    }
    words[(head & mask) >>> 2] = seq >>> 0;
    words[((head + 4) & mask) >>> 2] = Math.floor(seq / TWO_32);
    words[((head + 8) & mask) >>> 2] = len;
    const data8 = this.#data;
    const off = (head + RECORD_HEADER_BYTES) & mask;
    if (len <= 32) {
      for (let i = 0; i < len; i++) data8[(off + i) & mask] = bytes[i]!;
    } else {
      const first = Math.min(len, this.capacityBytes - off);
      data8.set(first === bytes.length ? bytes : bytes.subarray(0, first), off);
      if (first < len) data8.set(bytes.subarray(first, len), 0);
    }
    this.#index[seq & this.#indexMask] = head;
    head = (head + size) >>> 0;
    i32[L.head] = head | 0;
    Atomics.store(this.#i64, L64.nextSeq, BigInt(seq + 1));
    this.#cachedHead = head;
    this.#cachedTail = tail;
    this.#cachedNext = seq + 1;
    this.#cachedOldest = oldest;
    // Dekker pairing with wait(): publish, then look for a parked consumer; only then pay for a notify.
    if (Atomics.load(i32, L.waiting) !== 0 && Atomics.compareExchange(i32, L.waiting, 1, 0) === 1) {
      Atomics.add(i32, L.notify, 1);
      Atomics.notify(i32, L.notify);
    }
    return seq;
  }

  /** Producer: marks the stream finished ('done' by default) and wakes every waiter. */
  close(status: 'done' | 'error' = 'done'): void {
    Atomics.store(this.#i32, L.status, status === 'error' ? 2 : 1);
    Atomics.store(this.#i32, L.waiting, 0);
    Atomics.add(this.#i32, L.notify, 1);
    Atomics.notify(this.#i32, L.notify);
  }

  /**
   * Records with seq > afterSeq (afterSeq -1 = from the start), at most `max`. Throws
   * TokenRingGoneError when any record in that range was overwritten, before or during the copy.
   */
  read(afterSeq: number, max = Infinity): TokenRecord[] {
    if (!Number.isSafeInteger(afterSeq) || afterSeq < -1) {
      throw new InvalidArgumentError(`token ring: afterSeq must be an integer >= -1, got ${afterSeq}`);
    }
    const start = afterSeq + 1;
    const next = this.nextSeq;
    let oldest = this.oldestSeq;
    if (start < oldest) throw new TokenRingGoneError(start, oldest);
    const end = Math.min(next, start + Math.max(0, max));
    const out: TokenRecord[] = [];
    if (end <= start) return out;
    // Records start..end-1 are contiguous in the ring: copy their whole span at once (at most two
    // copies when it wraps), check the seqlock, then parse the private copy.
    const startPos = this.#index[start & this.#indexMask]!;
    const endPos = end < next ? this.#index[end & this.#indexMask]! : Atomics.load(this.#i32, L.head) >>> 0;
    const span = (endPos - startPos) >>> 0;
    const plausible = span <= this.capacityBytes && span % 4 === 0;
    const copy = new Uint8Array(plausible ? span : 0);
    if (plausible) {
      const off = startPos & this.#mask;
      const first = Math.min(span, this.capacityBytes - off);
      copy.set(this.#data.subarray(off, off + first));
      if (first < span) copy.set(this.#data.subarray(0, span - first), first);
    }
    // The seqlock check: if the producer evicted anything we copied, the copy may be torn. The RMW on
    // the consumer's own lane is a full barrier, so the plain copies above cannot drift after the load
    // of oldestSeq (x86-64 never reorders loads with loads; arm64 would without it).
    Atomics.add(this.#i32, L.readFence, 0);
    oldest = this.oldestSeq;
    if (oldest > start) throw new TokenRingGoneError(start, oldest);
    const words = new Uint32Array(copy.buffer, 0, copy.length >>> 2);
    let at = 0;
    for (let seq = start; seq < end; seq++) {
      const len = words[(at + 8) >>> 2];
      if (
        !plausible ||
        at + RECORD_HEADER_BYTES > span ||
        words[at >>> 2] !== seq >>> 0 ||
        words[(at + 4) >>> 2] !== Math.floor(seq / TWO_32) ||
        len === undefined ||
        len > this.maxRecordBytes ||
        at + RECORD_HEADER_BYTES + len > span
      ) {
        throw new Error('token ring: records do not match the seq index (corrupted ring)');
      }
      out.push(new Record(seq, copy.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + len)));
      at += recordBytes(len);
    }
    if (out.length > 0) Atomics.store(this.#i64, L64.ackSeq, BigInt(out[out.length - 1]!.seq));
    return out;
  }

  /**
   * Resolves 'ready' once a record with seq > afterSeq exists, 'closed' when the ring is closed with
   * nothing more after afterSeq, 'timeout' after timeoutMs. Parks in Atomics.waitAsync (no spinning);
   * native producers wake it through a coalesced thread-safe function.
   */
  async wait(afterSeq: number, timeoutMs = Infinity): Promise<'ready' | 'closed' | 'timeout'> {
    const deadline = performance.now() + timeoutMs;
    const i32 = this.#i32;
    for (;;) {
      if (this.nextSeq > afterSeq + 1) return 'ready';
      if (this.closed) return this.nextSeq > afterSeq + 1 ? 'ready' : 'closed';
      const seen = Atomics.load(i32, L.notify);
      Atomics.store(i32, L.waiting, 1);
      if (this.nextSeq > afterSeq + 1) return 'ready';
      if (this.closed) return this.nextSeq > afterSeq + 1 ? 'ready' : 'closed';
      const remaining = deadline - performance.now();
      if (remaining <= 0) return 'timeout';
      const r = waitAsync(i32, L.notify, seen, Number.isFinite(remaining) ? remaining : undefined);
      const outcome = r.async ? await r.value : r.value;
      if (outcome === 'timed-out') {
        if (this.nextSeq > afterSeq + 1) return 'ready';
        return this.closed ? 'closed' : 'timeout';
      }
    }
  }

  /** Bytes the producer holds after afterSeq: how far it leads a consumer that has read up to afterSeq. */
  bytesAhead(afterSeq: number): number {
    const head = Atomics.load(this.#i32, L.head) >>> 0;
    const from = afterSeq + 1;
    if (from >= this.nextSeq) return 0;
    if (from <= this.oldestSeq) return (head - (Atomics.load(this.#i32, L.tail) >>> 0)) >>> 0;
    // Clamped: a concurrent overwrite can recycle the index entry between the checks above and this read.
    return Math.min(this.capacityBytes, (head - this.#index[from & this.#indexMask]!) >>> 0);
  }

  /** True while the producer leads the last read() by highWaterBytes or more: time to pause producing. */
  get aboveHighWater(): boolean {
    return this.bytesAhead(Number(Atomics.load(this.#i64, L64.ackSeq))) >= this.highWaterBytes;
  }
}
