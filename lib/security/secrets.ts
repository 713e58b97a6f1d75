import { AbiError } from '../errors.js';
import { defaultArena, type SecretHandle, type SecureArena } from '../native/secure-memory.js';
import type { Vault } from './vault.js';

/** Environment variables read into secure memory at start-up and then removed from `process.env`. */
export const PROVIDER_ENV_VARS = ['ABI_OPENAI_API_KEY', 'ABI_ANTHROPIC_API_KEY', 'ABI_OLLAMA_HOST'] as const;

const PROVIDER_REFS = new Set<string>(PROVIDER_ENV_VARS.map((name) => `env:${name}`));

/** Shortest value scrubbed by exact match; shorter ones would blank out ordinary words. */
const MIN_SCRUB_BYTES = 8;
/** Bytes of each secret kept in the JS heap to find candidate positions before the native comparison. */
const SCRUB_PREFIX_BYTES = 4;
export const REDACTED = '[REDACTED]';

/** A `secret:NAME` or `env:NAME` reference could not be resolved. */
export class SecretNotFoundError extends AbiError {
  constructor(message: string) {
    super(message, 'ABI_ERR_SECRET_NOT_FOUND');
    this.name = 'SecretNotFoundError';
  }
}

interface Held {
  handle: SecretHandle;
  /** Leading bytes, only to pre-filter scrub candidates; the full comparison happens in native code. */
  prefix: Buffer | null;
}

/**
 * Provider credentials (`ABI_OPENAI_API_KEY`, `ABI_ANTHROPIC_API_KEY`, `ABI_OLLAMA_HOST`) and every
 * `secret:NAME` the config uses, held as SecretHandles in the native secure arena. A backend gets a
 * getter (`() => string`) and calls it only while building an upstream request, so the plaintext
 * exists in the JS heap only for that moment. `dispose()` (shutdown, reload) zeroes all of them.
 */
export class ProviderSecrets {
  private readonly held = new Map<string, Held>();
  private readonly arena: SecureArena;
  private vault: Vault | null;
  private readonly env: NodeJS.ProcessEnv;

  /**
   * @param opts.env   where `env:NAME` references and the provider variables are read (and then deleted)
   * @param opts.vault the open vault `secret:NAME` resolves from; null when there is none
   */
  constructor(opts: { env?: NodeJS.ProcessEnv; vault?: Vault | null; arena?: SecureArena } = {}) {
    this.env = opts.env ?? process.env;
    this.vault = opts.vault ?? null;
    this.arena = opts.arena ?? defaultArena();
    for (const name of PROVIDER_ENV_VARS) {
      const value = this.env[name];
      if (value) this.hold(`env:${name}`, this.arena.store(value));
      delete this.env[name];
    }
  }

  /**
   * The secret behind a reference: `secret:NAME` (vault), `env:NAME` (environment, moved into secure
   * memory on first use). Throws SecretNotFoundError naming the reference, never a value.
   */
  handleFor(ref: string): SecretHandle {
    const existing = this.held.get(ref);
    if (existing && !existing.handle.disposed) return existing.handle;
    const [kind, name] = splitRef(ref);
    if (kind === 'secret') {
      if (!this.vault) throw new SecretNotFoundError(`${ref}: no vault is open (set ABI_MASTER_KEY and create it with 'abi secrets set ${name}')`);
      const handle = this.vault.get(name);
      if (!handle) throw new SecretNotFoundError(`${ref}: the vault has no secret named ${JSON.stringify(name)} (add it with 'abi secrets set ${name}')`);
      return this.hold(ref, handle);
    }
    const value = this.env[name];
    if (value === undefined || value === '') throw new SecretNotFoundError(`${ref}: environment variable ${name} is not set`);
    return this.hold(ref, this.arena.store(value));
  }

  /** A getter for the backend: reveals the secret on each call (to build one upstream request). */
  getter(ref: string): () => string {
    const handle = this.handleFor(ref);
    return () => handle.revealString();
  }

  /** The plaintext, for a config loader that needs a string (`"secret:NAME"` in a non-credential field). */
  resolve(ref: string): string {
    return this.handleFor(ref).revealString();
  }

  /**
   * Replaces every occurrence of a held secret in `text` with [REDACTED], plus anything shaped like
   * a provider key or bearer token (see `scrubPatterns`), so an upstream error that echoes the key
   * never reaches a log line, an error message, /health or /metrics.
   */
  scrub(text: string): string {
    let out = scrubPatterns(text);
    const candidates = [...this.held.values()].filter((h) => h.prefix && !h.handle.disposed);
    if (candidates.length === 0) return out;
    let bytes = Buffer.from(out, 'utf8');
    for (const { handle, prefix } of candidates) {
      let from = 0;
      let changed = false;
      const parts: Buffer[] = [];
      let start = 0;
      for (;;) {
        const at = bytes.indexOf(prefix!, from);
        if (at < 0 || at + handle.length > bytes.length) break;
        if (handle.equals(bytes.subarray(at, at + handle.length))) {
          parts.push(bytes.subarray(start, at), Buffer.from(REDACTED));
          start = at + handle.length;
          from = start;
          changed = true;
        } else {
          from = at + 1;
        }
      }
      if (changed) {
        parts.push(bytes.subarray(start));
        bytes = Buffer.concat(parts);
      }
    }
    out = bytes.toString('utf8');
    return out;
  }

  /** Sets the vault `secret:NAME` resolves from (null: none open right now). */
  attachVault(vault: Vault | null): void {
    this.vault = vault;
  }

  /**
   * On reload: zeroes everything except the provider variables (which are no longer in the
   * environment to be read again), so `secret:NAME` and `env:NAME` values are re-read fresh.
   */
  releaseResolved(): void {
    for (const [ref, { handle, prefix }] of this.held) {
      if (PROVIDER_REFS.has(ref)) continue;
      handle.dispose();
      prefix?.fill(0);
      this.held.delete(ref);
    }
  }

  /** Zeroes every held secret. Getters handed out before throw SecretDisposedError afterwards. */
  dispose(): void {
    for (const { handle, prefix } of this.held.values()) {
      handle.dispose();
      prefix?.fill(0);
    }
    this.held.clear();
  }

  private hold(ref: string, handle: SecretHandle): SecretHandle {
    let prefix: Buffer | null = null;
    if (handle.length >= MIN_SCRUB_BYTES) {
      const bytes = handle.revealBuffer();
      prefix = Buffer.from(bytes.subarray(0, SCRUB_PREFIX_BYTES));
      bytes.fill(0);
    }
    this.held.set(ref, { handle, prefix });
    return handle;
  }
}

function splitRef(ref: string): ['secret' | 'env', string] {
  const match = /^(secret|env):([A-Za-z0-9_.-]{1,128})$/.exec(ref);
  if (!match) throw new SecretNotFoundError(`${JSON.stringify(ref.slice(0, 40))} is not a secret:NAME or env:NAME reference`);
  return [match[1] as 'secret' | 'env', match[2]!];
}

/**
 * Shapes that are credentials whoever they belong to: OpenAI/Anthropic-style keys, abi API keys,
 * bearer tokens, JWTs. Applied to every scrubbed string, so even a key abi never held is hidden.
 */
const CREDENTIAL_PATTERNS: RegExp[] = [
  /\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}/g,
  /\babi-[0-9a-f]{12}-[A-Za-z0-9_-]{43}\b/g,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g,
  /(\bBearer\s+)[A-Za-z0-9\-._~+/]{8,}=*/gi,
  /((?:api[_-]?key|x-api-key|authorization|password|secret|token)["']?\s*[:=]\s*["']?)[^\s"',}]{8,}/gi,
];

/** Pattern-based scrubbing only (no held secrets needed). */
export function scrubPatterns(text: string): string {
  let out = text;
  for (const pattern of CREDENTIAL_PATTERNS) {
    out = out.replace(pattern, (match, lead?: unknown) => (typeof lead === 'string' && match.startsWith(lead) ? `${lead}${REDACTED}` : REDACTED));
  }
  return out;
}

/**
 * pino `redact.paths` that cover every place a credential may sit in a log object: request and
 * response headers, config objects, error objects from HTTP clients.
 */
export const REDACT_PATHS: string[] = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'req.headers["sec-websocket-protocol"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["proxy-authorization"]',
  'authorization',
  'apiKey',
  'api_key',
  'token',
  'tokens',
  'secret',
  'password',
  'masterKey',
  '*.authorization',
  '*.apiKey',
  '*.api_key',
  '*.token',
  '*.tokens',
  '*.secret',
  '*.password',
  '*.masterKey',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  'config.auth.tokens',
  'config.auth.jwt.secret',
  'config.backends.*.apiKey',
  'err.config.headers',
  'err.request.headers',
];

/**
 * pino `hooks.logMethod` that runs every string argument (the message and string fields of a
 * merging object's `err.message`) through `scrub`, for secrets that appear inside free text
 * rather than under a redactable key.
 */
export function scrubbingLogMethod(scrub: (text: string) => string) {
  return function logMethod(this: unknown, args: unknown[], method: (...a: unknown[]) => void): void {
    const cleaned = args.map((arg) => {
      if (typeof arg === 'string') return scrub(arg);
      if (arg instanceof Error) return scrubError(arg, scrub);
      if (arg && typeof arg === 'object' && (arg as { err?: unknown }).err instanceof Error) {
        return { ...(arg as object), err: scrubError((arg as { err: Error }).err, scrub) };
      }
      return arg;
    });
    method.apply(this, cleaned);
  };
}

function scrubError(err: Error, scrub: (text: string) => string): Error {
  const copy = new Error(scrub(err.message));
  copy.name = err.name;
  if (err.stack) copy.stack = scrub(err.stack);
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) (copy as { code?: unknown }).code = code;
  return copy;
}
