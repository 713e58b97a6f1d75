import type { Backend, ChatRequest } from '../backends/types.js';
import type { AttemptTimeouts } from '../recovery/attempt.js';
import type { BreakerHealth } from '../recovery/circuit-breaker.js';
import type { RecoveryEmitter } from '../recovery/events.js';
import { executeRouteBatches, type RecoveryRuntime } from '../recovery/execute.js';
import type { RouteTarget, RoutedEvent } from '../recovery/types.js';
import { listModelIds, resolveTargets, type RouteRule } from './routing.js';

/** Everything one config generation routes with. */
export interface GatewayInit {
  backends: ReadonlyMap<string, Backend>;
  routes: readonly RouteRule[];
  /** Per-backend attempt timeouts (`backends.<name>.timeouts`). */
  timeouts?: ReadonlyMap<string, AttemptTimeouts>;
  /** Retry policy and breakers; without it executeRoute uses its defaults. */
  recovery?: RecoveryRuntime;
  /** Breaker state per backend for /health. */
  breakerHealth?: () => Record<string, BreakerHealth>;
  events?: RecoveryEmitter;
}

/**
 * One request's way through the backends: resolve the route, run it through recovery, and report
 * per-backend health. The server holds one Gateway per config generation (a reload builds a new one
 * and closes the old one once its last stream ended).
 */
export class Gateway {
  private active = 0;
  private closeWhenIdle: (() => void) | undefined;

  constructor(private readonly init: GatewayInit) {}

  get backends(): ReadonlyMap<string, Backend> {
    return this.init.backends;
  }

  /** Ordered targets for a model (or one explicitly named backend). Throws ApiError 400/404/503. */
  targets(model: string, backend?: string): RouteTarget[] {
    const targets = resolveTargets(this.init.backends, this.init.routes, model, backend);
    for (const t of targets) {
      const timeouts = this.init.timeouts?.get(t.backend.name);
      if (timeouts) t.timeouts = timeouts;
    }
    return targets;
  }

  /**
   * Streams the request through the targets, in batches (executeRouteBatches). The caller must call
   * `release()` once it stopped iterating, so the gateway can close its backends after a reload when
   * the last stream ended. (No wrapper generator: one less async hop per batch on the relay's hot path.)
   */
  execute(targets: RouteTarget[], request: ChatRequest, signal: AbortSignal): { events: AsyncGenerator<RoutedEvent[]>; release: () => void } {
    this.active++;
    let released = false;
    const opts: Parameters<typeof executeRouteBatches>[2] = { signal };
    if (this.init.recovery) opts.recovery = this.init.recovery;
    if (this.init.events) opts.events = this.init.events;
    return {
      events: executeRouteBatches(targets, request, opts),
      release: () => {
        if (released) return;
        released = true;
        this.active--;
        if (this.active === 0) this.closeWhenIdle?.();
      },
    };
  }

  models(): Promise<{ id: string; owned_by: string }[]> {
    return listModelIds(this.init.backends, this.init.routes);
  }

  /** `/health` backends section: breaker state plus what each backend reports about itself. */
  health(): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    const breakers = this.init.breakerHealth?.() ?? {};
    for (const [name, backend] of this.init.backends) {
      const breaker = breakers[name];
      out[name] = { type: backend.type, state: breaker?.state ?? 'closed', ...(breaker ? { breaker } : {}), ...backend.health?.() };
    }
    return out;
  }

  /** Closes the backends once no execution is using them (immediately when idle). */
  close(): Promise<void> {
    const closeAll = async (): Promise<void> => {
      await Promise.allSettled([...this.init.backends.values()].map((b) => b.close()));
    };
    if (this.active === 0) return closeAll();
    return new Promise((resolve) => {
      this.closeWhenIdle = () => void closeAll().then(resolve);
    });
  }
}
