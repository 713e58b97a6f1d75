import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';
import { loadBinding } from '../native/binding.js';

/**
 * GGUF v3 writer (little-endian), following the reference reader's rules: KV pairs, then tensor
 * infos, padding to `general.alignment`, then each tensor's data at a running, aligned offset.
 * Used for test fixtures, the synthetic benchmark models and the built-in demo model.
 */

/** GGUF metadata value types (ids as in the spec). */
export const GGUF_TYPE = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

export type GgufScalarType = Exclude<keyof typeof GGUF_TYPE, 'array'>;
type Scalar = number | bigint | boolean | string;

/** One metadata value with its stored type; arrays are flat (the reference reader rejects nesting). */
export type GgufMetaValue =
  | { type: GgufScalarType; value: Scalar }
  | { type: 'array'; itemType: GgufScalarType; value: ArrayLike<Scalar> };

/** Metadata constructors, e.g. `meta.u32(2048)`, `meta.array('string', tokens)`. */
export const meta = {
  u8: (value: number): GgufMetaValue => ({ type: 'uint8', value }),
  i8: (value: number): GgufMetaValue => ({ type: 'int8', value }),
  u16: (value: number): GgufMetaValue => ({ type: 'uint16', value }),
  i16: (value: number): GgufMetaValue => ({ type: 'int16', value }),
  u32: (value: number): GgufMetaValue => ({ type: 'uint32', value }),
  i32: (value: number): GgufMetaValue => ({ type: 'int32', value }),
  f32: (value: number): GgufMetaValue => ({ type: 'float32', value }),
  bool: (value: boolean): GgufMetaValue => ({ type: 'bool', value }),
  str: (value: string): GgufMetaValue => ({ type: 'string', value }),
  u64: (value: number | bigint): GgufMetaValue => ({ type: 'uint64', value }),
  i64: (value: number | bigint): GgufMetaValue => ({ type: 'int64', value }),
  f64: (value: number): GgufMetaValue => ({ type: 'float64', value }),
  array: (itemType: GgufScalarType, value: ArrayLike<Scalar>): GgufMetaValue => ({ type: 'array', itemType, value }),
};

/** Tensor types the writer can encode (ggml ids). */
export const GGML_TYPE = { f32: 0, f16: 1, q4_0: 2, q8_0: 8, q4_K: 12, q5_K: 13, q6_K: 14, bf16: 30 } as const;
export type GgmlTypeName = keyof typeof GGML_TYPE;

const BLOCK: Record<GgmlTypeName, { elems: number; bytes: number }> = {
  f32: { elems: 1, bytes: 4 },
  f16: { elems: 1, bytes: 2 },
  bf16: { elems: 1, bytes: 2 },
  q4_0: { elems: 32, bytes: 18 },
  q8_0: { elems: 32, bytes: 34 },
  q4_K: { elems: 256, bytes: 144 },
  q5_K: { elems: 256, bytes: 176 },
  q6_K: { elems: 256, bytes: 210 },
};

export interface GgufTensorSpec {
  /** Tensor name (< 64 bytes), e.g. `blk.0.attn_q.weight`. */
  name: string;
  /** Elements per dimension, innermost (row length) first; 1 to 4 dims. */
  shape: number[];
  /** Stored type; f32 data is converted or quantized to it. */
  type: GgmlTypeName;
  /**
   * The values as f32 (converted/quantized on write), already-encoded bytes of `type`, or a
   * function producing either, called once when the tensor is written (keeps big models out of memory).
   */
  data: Float32Array | Uint8Array | (() => Float32Array | Uint8Array);
}

export interface GgufWriteOptions {
  /** Ordered metadata; `general.alignment` is added when `alignment` is not the default 32. */
  metadata: Array<[string, GgufMetaValue]>;
  tensors: GgufTensorSpec[];
  /** Data alignment in bytes: a power of two, default 32. */
  alignment?: number;
}

/** Byte size of a tensor of `type` with this shape (rows of shape[0] elements). */
export function tensorBytes(type: GgmlTypeName, shape: number[]): number {
  const block = BLOCK[type];
  const row = shape[0] ?? 1;
  if (row % block.elems !== 0) {
    throw new InvalidArgumentError(`a ${type} row must be a multiple of ${block.elems} elements, got ${row}`);
  }
  const rows = shape.slice(1).reduce((a, b) => a * b, 1);
  return (row / block.elems) * block.bytes * rows;
}

const f32buf = new Float32Array(1);
const u32view = new Uint32Array(f32buf.buffer);

/** f32 → IEEE half, round to nearest even (what ggml's F16 conversion does). */
export function f32ToF16(x: number): number {
  f32buf[0] = x;
  const bits = u32view[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let v = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (v & 1))) v += 1;
    return sign | v;
  }
  let v = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (v & 1))) {
    v += 1;
    if (v === 0x400) {
      v = 0;
      e += 1;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | v;
}

/** f32 → bfloat16, round to nearest even (NaN kept quiet), as ggml_compute_fp32_to_bf16. */
export function f32ToBf16(x: number): number {
  f32buf[0] = x;
  const bits = u32view[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 64) & 0xffff;
  return ((bits + (0x7fff + ((bits >>> 16) & 1))) >>> 16) & 0xffff;
}

interface KernelsBinding {
  quantize(typeId: number, values: Float32Array): Uint8Array;
}

/** Encodes f32 values as `type` (F16/BF16 in JS; quantized types through kernels' reference quantizers). */
export function encodeTensor(type: GgmlTypeName, values: Float32Array): Uint8Array {
  switch (type) {
    case 'f32':
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case 'f16':
    case 'bf16': {
      const out = new Uint16Array(values.length);
      const conv = type === 'f16' ? f32ToF16 : f32ToBf16;
      for (let i = 0; i < values.length; i++) out[i] = conv(values[i]!);
      return new Uint8Array(out.buffer);
    }
    default: {
      const kernels = loadBinding().kernels as KernelsBinding | undefined;
      if (!kernels) throw new InvalidArgumentError(`cannot write ${type}: the native kernels module is not in this build`);
      return kernels.quantize(GGML_TYPE[type], values);
    }
  }
}

/** Serialises the header: magic, version, counts, KV pairs and tensor infos (unpadded). */
class HeaderBuilder {
  private chunks: Buffer[] = [];
  private push(b: Buffer): void {
    this.chunks.push(b);
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  scalar(type: GgufScalarType, v: Scalar, key: string): void {
    const num = (): number => {
      if (typeof v !== 'number' && typeof v !== 'bigint' && typeof v !== 'boolean') throw new InvalidArgumentError(`${key}: ${type} value must be a number`);
      return Number(v);
    };
    let b: Buffer;
    switch (type) {
      case 'uint8': b = Buffer.alloc(1); b.writeUInt8(num()); break;
      case 'int8': b = Buffer.alloc(1); b.writeInt8(num()); break;
      case 'uint16': b = Buffer.alloc(2); b.writeUInt16LE(num()); break;
      case 'int16': b = Buffer.alloc(2); b.writeInt16LE(num()); break;
      case 'uint32': b = Buffer.alloc(4); b.writeUInt32LE(num()); break;
      case 'int32': b = Buffer.alloc(4); b.writeInt32LE(num()); break;
      case 'float32': b = Buffer.alloc(4); b.writeFloatLE(num()); break;
      case 'bool': b = Buffer.from([v ? 1 : 0]); break;
      case 'uint64': b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v as number | bigint)); break;
      case 'int64': b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(v as number | bigint)); break;
      case 'float64': b = Buffer.alloc(8); b.writeDoubleLE(num()); break;
      case 'string':
        if (typeof v !== 'string') throw new InvalidArgumentError(`${key}: string value expected`);
        this.str(v);
        return;
    }
    this.push(b);
  }
  build(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const align = (x: number, a: number): number => x + ((a - (x % a)) % a);

/**
 * Writes a GGUF v3 file. The file appears atomically (written to `<path>.tmp`, then renamed), so
 * a reader never sees a half-written model.
 */
export function writeGguf(path: string, opts: GgufWriteOptions): void {
  const alignment = opts.alignment ?? 32;
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new InvalidArgumentError(`alignment must be a power of two, got ${alignment}`);
  }
  const metadata = opts.metadata.filter(([k]) => k !== 'general.alignment');
  if (alignment !== 32) metadata.push(['general.alignment', meta.u32(alignment)]);
  const keys = new Set<string>();
  for (const [k] of metadata) {
    if (!k) throw new InvalidArgumentError('metadata keys must be non-empty');
    if (keys.has(k)) throw new InvalidArgumentError(`duplicate metadata key ${k}`);
    keys.add(k);
  }
  const h = new HeaderBuilder();
  h.u32(0x46554747); // "GGUF"
  h.u32(3);
  h.u64(opts.tensors.length);
  h.u64(metadata.length);
  for (const [key, v] of metadata) {
    h.str(key);
    h.u32(GGUF_TYPE[v.type]);
    if (v.type === 'array') {
      h.u32(GGUF_TYPE[v.itemType]);
      h.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) h.scalar(v.itemType, v.value[i]!, key);
    } else {
      h.scalar(v.type, v.value, key);
    }
  }
  const names = new Set<string>();
  let offset = 0;
  const sizes: number[] = [];
  for (const t of opts.tensors) {
    if (Buffer.byteLength(t.name) >= 64) throw new InvalidArgumentError(`tensor name too long (max 63 bytes): ${t.name}`);
    if (names.has(t.name)) throw new InvalidArgumentError(`duplicate tensor ${t.name}`);
    names.add(t.name);
    if (t.shape.length < 1 || t.shape.length > 4 || t.shape.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw new InvalidArgumentError(`tensor ${t.name}: shape must be 1-4 positive integers`);
    }
    const bytes = tensorBytes(t.type, t.shape);
    h.str(t.name);
    h.u32(t.shape.length);
    for (const d of t.shape) h.u64(d);
    h.u32(GGML_TYPE[t.type]);
    h.u64(offset);
    sizes.push(bytes);
    offset = align(offset + bytes, alignment);
  }
  const header = h.build();
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, header);
    writeSync(fd, Buffer.alloc(align(header.length, alignment) - header.length));
    opts.tensors.forEach((t, i) => {
      const raw = typeof t.data === 'function' ? t.data() : t.data;
      const bytes = raw instanceof Float32Array ? encodeTensor(t.type, raw) : raw;
      if (bytes.byteLength !== sizes[i]) {
        throw new InvalidArgumentError(`tensor ${t.name}: ${bytes.byteLength} data bytes, expected ${sizes[i]} for ${t.type} ${JSON.stringify(t.shape)}`);
      }
      writeSync(fd, bytes);
      const pad = align(bytes.byteLength, alignment) - bytes.byteLength;
      if (pad && i < opts.tensors.length - 1) writeSync(fd, Buffer.alloc(pad));
    });
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {}
    rmSync(tmp, { force: true });
    throw err;
  }
}
