/**
 * Secure memory: secrets live in a native arena (page-aligned, mlock'ed, MADV_DONTDUMP, guard pages,
 * explicit_bzero on dispose and on finalisation). JS holds opaque SecretHandles; the plaintext enters
 * V8 only through the explicitly named revealString() / revealBuffer(). See docs/native.md for what
 * this protects and what it cannot (V8's own copies).
 */
import { InvalidArgumentError, SecretDisposedError, SecureArenaFullError, AbiError } from '../errors.js';
import { loadBinding } from './binding.js';

interface NativeArena {
  info(): { locked: boolean; excludedFromDumps: boolean; capacity: number; used: number; disposed: boolean };
  storeBytes(bytes: Uint8Array): [number, number, number];
  storeString(value: string): [number, number, number];
  revealBuffer(slot: number, gen: number): Buffer;
  revealString(slot: number, gen: number): string;
  equalsBytes(slot: number, gen: number, other: Uint8Array): boolean;
  equalsSlot(slot: number, gen: number, other: NativeArena, otherSlot: number, otherGen: number): boolean;
  disposeSlot(slot: number, gen: number): void;
  dispose(): void;
  testOnlyReadDisposedRegion(slot: number): Buffer;
}

interface SecureBinding {
  Arena: new (bytes: number) => NativeArena;
  constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean;
  disableCoreDumps(): { ok: boolean; coreLimitZero: boolean; dumpable: boolean };
}

function secureBinding(): SecureBinding {
  return loadBinding().secure as SecureBinding;
}

/** Maps native error codes to the package's error classes. */
function rethrow(err: unknown): never {
  const code = (err as { code?: string }).code;
  const message = (err as Error).message;
  if (code === 'ABI_ERR_SECRET_DISPOSED') throw new SecretDisposedError(message);
  if (code === 'ABI_ERR_ARENA_FULL') throw new SecureArenaFullError(message);
  if (code === 'ABI_ERR_INVALID_ARG') throw new InvalidArgumentError(message);
  if (code) throw new AbiError(message, code, { cause: err });
  throw err;
}

const handleToken = Symbol('SecretHandle.construct');
const markDisposed = Symbol('SecretHandle.markDisposed');
const forgetHandle = Symbol('SecureArena.forgetHandle');
const nativeOf = Symbol('SecretHandle.native');
const testRegion = Symbol('SecretHandle.testRegion');

let mlockWarned = false;
function warnUnlockedOnce(bytes: number): void {
  if (mlockWarned) return;
  mlockWarned = true;
  process.emitWarning(
    `secure arena of ${bytes} bytes could not be mlock'ed (RLIMIT_MEMLOCK, see 'ulimit -l'); secrets may be ` +
      'swapped to disk. They are still excluded from core dumps and zeroed on dispose. See docs/native.md.',
    { type: 'SecurityWarning', code: 'ABI_WARN_MLOCK' },
  );
}

export interface SecureArenaOptions {
  /** Arena size in bytes, rounded up to whole pages. Default 64 KiB. Above `ulimit -l` it cannot be locked. */
  bytes?: number;
}

export class SecureArena {
  readonly #native: NativeArena;
  readonly #handles = new Set<SecretHandle>();

  private constructor(native: NativeArena) {
    this.#native = native;
  }

  /**
   * Maps a new arena. A failed mlock does not throw: `locked` is false and the process gets one
   * 'ABI_WARN_MLOCK' warning.
   */
  static create(opts: SecureArenaOptions = {}): SecureArena {
    const bytes = opts.bytes ?? 65536;
    if (!Number.isSafeInteger(bytes) || bytes < 1) {
      throw new InvalidArgumentError(`secure arena: bytes must be a positive integer, got ${bytes}`);
    }
    let native: NativeArena;
    try {
      native = new (secureBinding().Arena)(bytes);
    } catch (err) {
      rethrow(err);
    }
    const arena = new SecureArena(native);
    if (!arena.locked) warnUnlockedOnce(arena.capacity);
    return arena;
  }

  /** Whether the data pages are mlock'ed (kept out of swap). */
  get locked(): boolean {
    return this.#native.info().locked;
  }
  /** Whether madvise(MADV_DONTDUMP) took effect. */
  get excludedFromDumps(): boolean {
    return this.#native.info().excludedFromDumps;
  }
  /** Usable bytes (whole pages). */
  get capacity(): number {
    return this.#native.info().capacity;
  }
  /** Bytes held by live secrets, in 16-byte blocks. */
  get used(): number {
    return this.#native.info().used;
  }
  get disposed(): boolean {
    return this.#native.info().disposed;
  }

  /**
   * Copies a secret into the arena. A string is UTF-8 encoded by native code straight into the arena;
   * for a Uint8Array the caller should zero its own copy afterwards (`bytes.fill(0)`).
   */
  store(value: string | Uint8Array): SecretHandle {
    let ids: [number, number, number];
    try {
      if (typeof value === 'string') ids = this.#native.storeString(value);
      else if (value instanceof Uint8Array) ids = this.#native.storeBytes(value);
      else throw new InvalidArgumentError('secure arena: store expects a string or a Uint8Array');
    } catch (err) {
      rethrow(err);
    }
    const handle = new SecretHandle(this, this.#native, ids, handleToken);
    this.#handles.add(handle);
    return handle;
  }

  /** Zeroes every secret (explicit_bzero), unlocks and unmaps the arena. Every handle becomes disposed. */
  dispose(): void {
    this.#native.dispose();
    for (const h of this.#handles) h[markDisposed]();
    this.#handles.clear();
  }

  /** @internal */
  [forgetHandle](handle: SecretHandle): void {
    this.#handles.delete(handle);
  }
}


/** An opaque reference to a secret in a SecureArena. It never holds the plaintext itself. */
export class SecretHandle {
  readonly #arena: SecureArena;
  readonly #native: NativeArena;
  readonly #slot: number;
  readonly #gen: number;
  #disposed = false;
  readonly #length: number;

  /** @internal — created by SecureArena.store(). */
  constructor(arena: SecureArena, native: NativeArena, ids: [slot: number, gen: number, length: number], token: symbol) {
    if (token !== handleToken) throw new InvalidArgumentError('SecretHandle: create secrets with SecureArena.store()');
    this.#arena = arena;
    this.#native = native;
    [this.#slot, this.#gen, this.#length] = ids;
  }

  /** Secret length in bytes (UTF-8 bytes for a stored string). */
  get length(): number {
    return this.#length;
  }
  get disposed(): boolean {
    return this.#disposed;
  }

  /** The explicit, named copy of the secret into a V8 string (which cannot be zeroed or locked). */
  revealString(): string {
    this.#check();
    try {
      return this.#native.revealString(this.#slot, this.#gen);
    } catch (err) {
      rethrow(err);
    }
  }

  /** The explicit, named copy of the secret into a Buffer; zero it (`buf.fill(0)`) when done. */
  revealBuffer(): Buffer {
    this.#check();
    try {
      return this.#native.revealBuffer(this.#slot, this.#gen);
    } catch (err) {
      rethrow(err);
    }
  }

  /** Constant-time comparison with another secret, a string (UTF-8) or bytes. */
  equals(other: SecretHandle | string | Uint8Array): boolean {
    this.#check();
    try {
      if (other instanceof SecretHandle) {
        const [native, slot, gen] = other[nativeOf]();
        return this.#native.equalsSlot(this.#slot, this.#gen, native, slot, gen);
      }
      if (typeof other === 'string') {
        const bytes = Buffer.from(other, 'utf8');
        try {
          return this.#native.equalsBytes(this.#slot, this.#gen, bytes);
        } finally {
          bytes.fill(0);
        }
      }
      if (other instanceof Uint8Array) return this.#native.equalsBytes(this.#slot, this.#gen, other);
    } catch (err) {
      rethrow(err);
    }
    throw new InvalidArgumentError('SecretHandle.equals expects a SecretHandle, a string or a Uint8Array');
  }

  /** Zeroes the secret now (explicit_bzero) and frees its block. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#arena[forgetHandle](this);
    try {
      this.#native.disposeSlot(this.#slot, this.#gen);
    } catch (err) {
      // The arena was disposed first: everything is already zeroed and unmapped.
      if ((err as { code?: string }).code !== 'ABI_ERR_SECRET_DISPOSED') throw err;
    }
  }

  #check(): void {
    if (this.#disposed) throw new SecretDisposedError();
  }

  /** @internal */
  [markDisposed](): void {
    this.#disposed = true;
  }

  /** @internal */
  [nativeOf](): [NativeArena, number, number] {
    if (this.#disposed) throw new SecretDisposedError();
    return [this.#native, this.#slot, this.#gen];
  }

  /** @internal test support, see testOnlyReadDisposedRegion. */
  [testRegion](): Buffer {
    return this.#native.testOnlyReadDisposedRegion(this.#slot);
  }
}

/**
 * TEST ONLY. The raw arena bytes where a disposed handle's secret used to be, read without any
 * copy of the secret having been made by dispose, so a test can assert they are all zero. Throws for
 * a live handle (this is not a way around revealBuffer) and once the whole arena is disposed (unmapped).
 */
export function testOnlyReadDisposedRegion(handle: SecretHandle): Buffer {
  if (!handle.disposed) throw new InvalidArgumentError('testOnlyReadDisposedRegion: the handle is still live');
  try {
    return handle[testRegion]();
  } catch (err) {
    rethrow(err);
  }
}

let processArena: SecureArena | undefined;

/** The process-wide arena (64 KiB), created on first use. */
export function defaultArena(): SecureArena {
  if (!processArena || processArena.disposed) processArena = SecureArena.create();
  return processArena;
}

/** Constant-time equality of two byte arrays (different lengths compare unequal at once: length is not secret). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  try {
    return secureBinding().constantTimeEqual(a, b);
  } catch (err) {
    rethrow(err);
  }
}

/**
 * Process-wide, explicit: sets RLIMIT_CORE to 0 and PR_SET_DUMPABLE to 0, so a crash writes no core
 * file with secrets in it. Side effects: same-uid debuggers cannot attach and /proc/self files become
 * root-owned. Call it once at startup when you want that; the arena never does it implicitly.
 */
export function disableCoreDumps(): { ok: boolean; coreLimitZero: boolean; dumpable: boolean } {
  return secureBinding().disableCoreDumps();
}
