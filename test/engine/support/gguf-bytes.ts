import type { GgufInfo } from '../../../lib/engine/inspect.js';
/**
 * Re-serialises GGUF headers for reader tests: takes the parsed pieces of a real file and writes them
 * back with chosen integer widths and versions, so tests can build variants (u64 hyper-parameters,
 * v2, custom alignment) of stories260K without a second model file.
 */
export type KvSpec =
  | { key: string; type: 'u32' | 'u64' | 'i32' | 'f32' | 'bool'; value: number | boolean }
  | { key: string; type: 'string'; value: string }
  | { key: string; type: 'array'; elem: 'string'; value: string[] }
  | { key: string; type: 'array'; elem: 'f32' | 'i32'; value: number[] };

export interface TensorSpec {
  name: string;
  shape: number[];
  typeId: number;
  data: Uint8Array;
}

const typeIds = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10 } as const;

class ByteWriter {
  private chunks: Buffer[] = [];
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.chunks.push(b);
  }
  i32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.chunks.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.chunks.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.chunks.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.chunks.push(b);
  }
  raw(b: Uint8Array): void {
    this.chunks.push(Buffer.from(b));
  }
  get length(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export function buildGguf(opts: { version?: number; alignment?: number; kvs: KvSpec[]; tensors: TensorSpec[] }): Buffer {
  const align = opts.alignment ?? 32;
  const w = new ByteWriter();
  w.raw(Buffer.from('GGUF', 'latin1'));
  w.u32(opts.version ?? 3);
  w.u64(opts.tensors.length);
  w.u64(opts.kvs.length);
  for (const kv of opts.kvs) {
    w.str(kv.key);
    w.u32(typeIds[kv.type]);
    if (kv.type === 'string') w.str(kv.value);
    else if (kv.type === 'array') {
      w.u32(kv.elem === 'string' ? 8 : typeIds[kv.elem]);
      w.u64(kv.value.length);
      for (const v of kv.value) {
        if (kv.elem === 'string') w.str(v as string);
        else if (kv.elem === 'f32') w.f32(v as number);
        else w.i32(v as number);
      }
    } else if (kv.type === 'u32') w.u32(kv.value as number);
    else if (kv.type === 'u64') w.u64(kv.value as number);
    else if (kv.type === 'i32') w.i32(kv.value as number);
    else if (kv.type === 'f32') w.f32(kv.value as number);
    else w.raw(Uint8Array.of(kv.value ? 1 : 0));
  }
  let offset = 0;
  for (const t of opts.tensors) {
    w.str(t.name);
    w.u32(t.shape.length);
    for (const d of t.shape) w.u64(d);
    w.u32(t.typeId);
    w.u64(offset);
    offset += Math.ceil(t.data.length / align) * align;
  }
  w.raw(new Uint8Array((align - (w.length % align)) % align));
  for (const t of opts.tensors) {
    w.raw(t.data);
    w.raw(new Uint8Array((align - (t.data.length % align)) % align));
  }
  return w.toBuffer();
}

/** Rebuilds stories260K from its parsed header with every uint32 key widened to uint64 when `wide`. */
export function rebuild(info: GgufInfo, file: Buffer, opts: { wide?: boolean; version?: number; alignment?: number; extra?: KvSpec[]; override?: Record<string, KvSpec | null> }): Buffer {
  const kvs: KvSpec[] = [];
  for (const [key, value] of Object.entries(info.metadata)) {
    const replaced = opts.override?.[key];
    if (replaced !== undefined) {
      if (replaced) kvs.push(replaced);
      continue;
    }
    const type = info.metadataTypes[key];
    if (type === 'uint32') kvs.push({ key, type: opts.wide ? 'u64' : 'u32', value: value as number });
    else if (type === 'float32') kvs.push({ key, type: 'f32', value: value as number });
    else if (type === 'string') kvs.push({ key, type: 'string', value: value as string });
    else if (type === 'array<string>') kvs.push({ key, type: 'array', elem: 'string', value: value as string[] });
    else if (type === 'array<float32>') kvs.push({ key, type: 'array', elem: 'f32', value: value as number[] });
    else if (type === 'array<int32>') kvs.push({ key, type: 'array', elem: 'i32', value: value as number[] });
    else throw new Error(`unexpected type ${type}`);
  }
  if (opts.alignment !== undefined) kvs.push({ key: 'general.alignment', type: 'u32', value: opts.alignment });
  kvs.push(...(opts.extra ?? []));
  const tensors: TensorSpec[] = info.tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    typeId: t.typeId,
    data: file.subarray(t.offset, t.offset + t.bytes),
  }));
  return buildGguf({ version: opts.version, alignment: opts.alignment, kvs, tensors });
}

