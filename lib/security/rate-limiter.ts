import { createHash } from 'node:crypto';
import { rateLimited, type ApiError } from '../protocol/errors.js';
import type { Principal } from './types.js';

/** Requests and tokens per minute. */
export interface RateLimits {
  /** Requests per minute; absent = unlimited. */
  requestsPerMinute?: number;
  /** Prompt + completion tokens per minute; absent = unlimited. */
  tokensPerMinute?: number;
}

/** The `rateLimits` config section. */
export interface RateLimitConfig {
  /** Limits for every principal without a more specific entry. */
  default?: RateLimits;
  /** Overrides by principal id (API key name, JWT `sub`, `static:0`). Wins over limits stored with an API key. */
  perPrincipal?: Record<string, RateLimits>;
  /** Shared table size: how many distinct principals are tracked. Default 65536 (1.5 MiB). */
  slots?: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  /** x-ratelimit-* headers to send on every response (and Retry-After when refused). */
  headers: Record<string, string>;
  /** Seconds until the request could succeed; 0 when allowed. */
  retryAfterSec: number;
  /** Which limit refused the request. */
  exceeded?: 'requests' | 'tokens';
}

const WINDOW_NS = 60_000_000_000n;
const LANES = 3; // key hash, request bucket TAT, token bucket TAT
const EMPTY = 0n;

/**
 * Per-principal token buckets for requests/min and tokens/min, kept as GCRA "theoretical arrival
 * times" in a SharedArrayBuffer: one 64-bit lane per bucket, updated with Atomics.compareExchange, so
 * every worker_thread that attaches the buffer enforces one shared limit without locks. A GCRA bucket
 * is a single number (when the bucket will be full again), which is what makes a lock-free CAS update
 * possible where a classic (level, timestamp) pair would not be.
 *
 * Principals map to slots through an open-addressing table of 64-bit id hashes in the same buffer.
 * Slots are never freed: `slots` bounds the number of distinct principals tracked; beyond it, new
 * principals share the last probed slot (and so a limit), which errs on the side of limiting.
 */
export class RateLimiter {
  readonly buffer: SharedArrayBuffer;
  private readonly lanes: BigInt64Array;
  private readonly slots: number;
  private config: RateLimitConfig;
  private readonly slotCache = new Map<string, number>();

  private constructor(buffer: SharedArrayBuffer, config: RateLimitConfig) {
    this.buffer = buffer;
    this.lanes = new BigInt64Array(buffer);
    this.slots = this.lanes.length / LANES;
    this.config = config;
  }

  static create(config: RateLimitConfig = {}): RateLimiter {
    const slots = config.slots ?? 65_536;
    if (!Number.isSafeInteger(slots) || slots < 1) throw new RangeError(`rateLimits.slots must be a positive integer, got ${slots}`);
    return new RateLimiter(new SharedArrayBuffer(slots * LANES * 8), config);
  }

  /** The same limiter in another worker_thread (pass `buffer` through postMessage or workerData). */
  static attach(buffer: SharedArrayBuffer, config: RateLimitConfig = {}): RateLimiter {
    return new RateLimiter(buffer, config);
  }

  /** Swaps limits on reload; bucket state is kept. */
  updateConfig(config: RateLimitConfig): void {
    this.config = config;
  }

  /** The limits that apply to `principal`: config override, then the credential's own, then the default. */
  limitsFor(principal: Principal): RateLimits {
    return this.config.perPrincipal?.[principal.id] ?? principal.limits ?? this.config.default ?? {};
  }

  /**
   * Admits one request: counts it against requests/min, and refuses when tokens/min has less room
   * than `tokens` (an estimate such as max_tokens; tokens are charged later by `consume`).
   */
  check(principal: Principal, opts: { tokens?: number; nowMs?: number } = {}): RateLimitDecision {
    const limits = this.limitsFor(principal);
    const now = BigInt(Math.floor(opts.nowMs ?? Date.now())) * 1_000_000n;
    if (!limits.requestsPerMinute && !limits.tokensPerMinute) return { allowed: true, headers: {}, retryAfterSec: 0 };
    const slot = this.slotFor(principal.id);
    const headers: Record<string, string> = {};
    let retryNs = 0n;
    let exceeded: 'requests' | 'tokens' | undefined;

    if (limits.tokensPerMinute) {
      const limit = limits.tokensPerMinute;
      const interval = intervalNs(limit);
      const tat = max(Atomics.load(this.lanes, slot * LANES + 2), now);
      const needed = BigInt(Math.min(Math.max(1, Math.ceil(opts.tokens ?? 1)), limit));
      const wait = tat + needed * interval - WINDOW_NS - now;
      if (wait > 0n) {
        exceeded = 'tokens';
        retryNs = wait;
      }
      setHeaders(headers, 'tokens', limit, remaining(tat, now, interval), tat - now);
    }

    if (limits.requestsPerMinute) {
      const limit = limits.requestsPerMinute;
      const interval = intervalNs(limit);
      const lane = slot * LANES + 1;
      for (;;) {
        const stored = Atomics.load(this.lanes, lane);
        const tat = max(stored, now);
        const next = tat + interval;
        const wait = next - WINDOW_NS - now;
        if (wait > 0n || exceeded) {
          if (wait > 0n && !exceeded) {
            exceeded = 'requests';
            retryNs = wait;
          }
          setHeaders(headers, 'requests', limit, remaining(tat, now, interval), tat - now);
          break;
        }
        if (Atomics.compareExchange(this.lanes, lane, stored, next) === stored) {
          setHeaders(headers, 'requests', limit, remaining(next, now, interval), next - now);
          break;
        }
      }
    }

    if (!exceeded) return { allowed: true, headers, retryAfterSec: 0 };
    const retryAfterSec = Math.max(1, Math.ceil(Number(retryNs) / 1e9));
    headers['retry-after'] = String(retryAfterSec);
    return { allowed: false, headers, retryAfterSec, exceeded };
  }

  /**
   * Charges `tokens` to the principal's tokens/min bucket as they stream. Never refuses: a stream
   * already admitted runs to its end, and the debt delays the principal's next requests.
   */
  consume(principal: Principal, tokens: number, nowMs: number = Date.now()): void {
    const limit = this.limitsFor(principal).tokensPerMinute;
    if (!limit || !(tokens > 0)) return;
    const cost = BigInt(Math.ceil(tokens)) * intervalNs(limit);
    const now = BigInt(Math.floor(nowMs)) * 1_000_000n;
    const lane = this.slotFor(principal.id) * LANES + 2;
    for (;;) {
      const stored = Atomics.load(this.lanes, lane);
      if (Atomics.compareExchange(this.lanes, lane, stored, max(stored, now) + cost) === stored) return;
    }
  }

  /** The headers describing the principal's current state, without counting anything. */
  peekHeaders(principal: Principal, nowMs: number = Date.now()): Record<string, string> {
    const limits = this.limitsFor(principal);
    const headers: Record<string, string> = {};
    const now = BigInt(Math.floor(nowMs)) * 1_000_000n;
    if (!limits.requestsPerMinute && !limits.tokensPerMinute) return headers;
    const slot = this.slotFor(principal.id);
    for (const [kind, limit, lane] of [['requests', limits.requestsPerMinute, 1], ['tokens', limits.tokensPerMinute, 2]] as const) {
      if (!limit) continue;
      const tat = max(Atomics.load(this.lanes, slot * LANES + lane), now);
      setHeaders(headers, kind, limit, remaining(tat, now, intervalNs(limit)), tat - now);
    }
    return headers;
  }

  private slotFor(id: string): number {
    const cached = this.slotCache.get(id);
    if (cached !== undefined) return cached;
    const hash = hashId(id);
    let index = Number(BigInt.asUintN(64, hash) % BigInt(this.slots));
    let slot = index;
    for (let probe = 0; probe < this.slots; probe++, index = (index + 1) % this.slots) {
      const lane = index * LANES;
      const current = Atomics.load(this.lanes, lane);
      slot = index;
      if (current === hash) break;
      if (current === EMPTY && Atomics.compareExchange(this.lanes, lane, EMPTY, hash) === EMPTY) break;
      if (Atomics.load(this.lanes, lane) === hash) break;
    }
    if (this.slotCache.size >= 10_000) this.slotCache.clear();
    this.slotCache.set(id, slot);
    return slot;
  }
}

/** The 429 for a refused decision, with Retry-After and the x-ratelimit-* headers. */
export function rateLimitError(decision: RateLimitDecision): ApiError {
  const what = decision.exceeded === 'tokens' ? 'tokens per minute' : 'requests per minute';
  return rateLimited(`Rate limit reached for ${what}. Retry after ${decision.retryAfterSec} s.`, {
    retryAfterSec: decision.retryAfterSec,
    kind: decision.exceeded ?? 'requests',
    headers: decision.headers,
  });
}

function intervalNs(perMinute: number): bigint {
  const interval = WINDOW_NS / BigInt(Math.max(1, Math.floor(perMinute)));
  return interval > 0n ? interval : 1n;
}

function remaining(tat: bigint, now: bigint, interval: bigint): number {
  const room = now + WINDOW_NS - tat;
  return room <= 0n ? 0 : Number(room / interval);
}

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** A non-zero 64-bit hash of a principal id (zero marks an empty slot). */
function hashId(id: string): bigint {
  const h = createHash('sha256').update(id, 'utf8').digest().readBigInt64LE(0);
  return h === EMPTY ? 1n : h;
}

function setHeaders(headers: Record<string, string>, kind: 'requests' | 'tokens', limit: number, left: number, untilFullNs: bigint): void {
  headers[`x-ratelimit-limit-${kind}`] = String(limit);
  headers[`x-ratelimit-remaining-${kind}`] = String(Math.max(0, Math.min(limit, left)));
  headers[`x-ratelimit-reset-${kind}`] = formatDuration(untilFullNs > 0n ? Number(untilFullNs) / 1e6 : 0);
}

/** OpenAI's reset format: `20ms`, `1s`, `6m0s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const totalSec = Math.ceil(ms / 1000);
  const minutes = Math.floor(totalSec / 60);
  const seconds = totalSec % 60;
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}
