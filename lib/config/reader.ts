/**
 * A strict reader over one JSON object of the config file. Every accessor checks type and range,
 * reports errors as ConfigError naming the full dotted key, resolves `"env:NAME"` and `"secret:NAME"`
 * values, and `done()` rejects keys nobody read, so a typo is an error instead of a silent default.
 */
import { ConfigError } from '../errors.js';

/** A secret that is read out only when needed (security hands these from native secure memory). */
export interface SecretLike {
  revealString(): string;
}

/** How string values are resolved while reading. */
export interface ResolveContext {
  env: NodeJS.ProcessEnv;
  /** Resolves `"secret:NAME"`; absent = secret references are an error. */
  resolveSecret?: (name: string) => string | SecretLike;
  /**
   * Tried first for `"env:NAME"` in secret-bearing keys (`apiKey`): returns the variable from secure
   * memory, so the key never sits in the JS heap as a plain string. Undefined = fall back to `env`.
   */
  resolveEnvSecret?: (name: string) => SecretLike | undefined;
}

/** A plain string wrapped as a SecretLike (for secrets that came from env or the file itself). */
export function plainSecret(value: string): SecretLike {
  return { revealString: () => value };
}

export function joinKey(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

const REF = /^(env|secret):(.*)$/s;

function resolveRef(value: string, key: string, ctx: ResolveContext): string | SecretLike {
  const m = REF.exec(value);
  if (!m) return value;
  const [, kind, name] = m as unknown as [string, 'env' | 'secret', string];
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) throw new ConfigError(key, `"${kind}:" must be followed by a variable or secret name`);
  if (kind === 'env') {
    const v = ctx.env[name];
    if (v === undefined || v === '') throw new ConfigError(key, `environment variable ${name} is not set`);
    return v;
  }
  if (!ctx.resolveSecret) throw new ConfigError(key, `secret ${name} cannot be resolved: no secrets vault is configured`);
  try {
    return ctx.resolveSecret(name);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    // The resolver's own message may say why (missing, vault locked) but must not carry the value.
    throw new ConfigError(key, `secret ${name} could not be resolved: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

export interface NumberRange {
  min?: number;
  max?: number;
}

export class ConfigReader {
  private readonly seen = new Set<string>();
  readonly raw: Record<string, unknown>;

  /** `raw` undefined reads as an empty object (every key takes its default). */
  constructor(
    raw: unknown,
    readonly path: string,
    readonly ctx: ResolveContext,
  ) {
    if (raw === undefined) raw = {};
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(path, `must be an object, got ${describe(raw)}`);
    this.raw = raw as Record<string, unknown>;
  }

  key(k: string | number): string {
    return joinKey(this.path, k);
  }

  has(k: string): boolean {
    return this.raw[k] !== undefined;
  }

  /** Marks keys as handled elsewhere (e.g. extension sub-sections) so `done()` does not reject them. */
  claim(...keys: string[]): void {
    for (const k of keys) this.seen.add(k);
  }

  private take(k: string): unknown {
    this.seen.add(k);
    return this.raw[k];
  }

  fail(k: string, message: string): never {
    throw new ConfigError(this.key(k), message);
  }

  /** A string (env/secret references resolved to their value). */
  string(k: string): string | undefined;
  string(k: string, def: string): string;
  string(k: string, def?: string): string | undefined {
    const v = this.take(k);
    if (v === undefined) return def;
    if (typeof v !== 'string') this.fail(k, `must be a string, got ${describe(v)}`);
    const r = resolveRef(v, this.key(k), this.ctx);
    return typeof r === 'string' ? r : r.revealString();
  }

  requiredString(k: string): string {
    const v = this.string(k);
    if (v === undefined) this.fail(k, 'is required');
    if (v === '') this.fail(k, 'must not be empty');
    return v;
  }

  /** A secret value: kept as a SecretLike, never revealed while loading. */
  secret(k: string): SecretLike | undefined {
    const v = this.take(k);
    if (v === undefined) return undefined;
    return this.secretValue(v, this.key(k));
  }

  secretValue(v: unknown, key: string): SecretLike {
    if (typeof v !== 'string' || v === '') throw new ConfigError(key, `must be a non-empty string, got ${typeof v === 'string' ? 'an empty string' : describe(v)}`);
    if (this.ctx.resolveEnvSecret && v.startsWith('env:')) {
      const held = this.ctx.resolveEnvSecret(v.slice(4));
      if (held) return held;
    }
    const r = resolveRef(v, key, this.ctx);
    return typeof r === 'string' ? plainSecret(r) : r;
  }

  bool(k: string, def: boolean): boolean {
    const v = this.take(k);
    if (v === undefined) return def;
    if (typeof v !== 'boolean') this.fail(k, `must be true or false, got ${describe(v)}`);
    return v;
  }

  /** An integer in range (a string `"env:NAME"` holding an integer is accepted). */
  int(k: string, def: number, range?: NumberRange): number;
  int(k: string, def: undefined, range?: NumberRange): number | undefined;
  int(k: string, def: number | undefined, range: NumberRange = {}): number | undefined {
    const v = this.number(k, def, range);
    if (v !== undefined && !Number.isSafeInteger(v)) this.fail(k, `must be an integer, got ${v}`);
    return v;
  }

  number(k: string, def: number, range?: NumberRange): number;
  number(k: string, def: number | undefined, range?: NumberRange): number | undefined;
  number(k: string, def: number | undefined, range: NumberRange = {}): number | undefined {
    let v = this.take(k);
    if (v === undefined) return def;
    if (typeof v === 'string' && REF.test(v)) {
      const resolved = resolveRef(v, this.key(k), this.ctx);
      const text = typeof resolved === 'string' ? resolved : resolved.revealString();
      v = text.trim() === '' ? NaN : Number(text);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(k, `must be a number, got ${describe(v)}`);
    const { min = -Infinity, max = Infinity } = range;
    if (v < min || v > max) this.fail(k, `must be between ${min} and ${max}, got ${v}`);
    return v;
  }

  oneOf<T extends string>(k: string, allowed: readonly T[], def: T): T {
    const v = this.string(k, def);
    if (!allowed.includes(v as T)) this.fail(k, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  }

  /** A nested object as its own reader; undefined when absent. */
  object(k: string): ConfigReader | undefined {
    const v = this.take(k);
    return v === undefined ? undefined : new ConfigReader(v, this.key(k), this.ctx);
  }

  /** A nested object reader, with `{}` when absent (so its defaults apply). */
  section(k: string): ConfigReader {
    return new ConfigReader(this.take(k), this.key(k), this.ctx);
  }

  array(k: string): unknown[] | undefined {
    const v = this.take(k);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) this.fail(k, `must be an array, got ${describe(v)}`);
    return v;
  }

  stringArray(k: string): string[] | undefined {
    const arr = this.array(k);
    return arr?.map((v, i) => {
      const key = joinKey(this.key(k), i);
      if (typeof v !== 'string') throw new ConfigError(key, `must be a string, got ${describe(v)}`);
      const r = resolveRef(v, key, this.ctx);
      return typeof r === 'string' ? r : r.revealString();
    });
  }

  /** A map of string → string (e.g. extra headers); values may be env/secret references. */
  stringMap(k: string): Record<string, string> | undefined {
    const obj = this.object(k);
    if (!obj) return undefined;
    const out: Record<string, string> = {};
    for (const name of Object.keys(obj.raw)) out[name] = obj.requiredString(name);
    obj.done();
    return out;
  }

  /** Rejects every key that was not read or claimed. */
  done(): void {
    for (const k of Object.keys(this.raw)) {
      if (!this.seen.has(k)) throw new ConfigError(this.key(k), 'unknown key');
    }
  }
}
