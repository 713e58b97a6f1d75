/**
 * The server's life: running → draining → closed. While draining no new work is accepted and
 * /health answers 503; every tracked stream gets up to the grace period to finish, then is aborted
 * (it sends its client an error event and closes), so no accepted request disappears silently.
 */
export type LifecycleState = 'running' | 'draining' | 'closed';

/** Something in flight that a drain waits for and, past the grace period, aborts. */
export interface Drainable {
  /** Ends the work early; the work itself tells its client why. */
  abortForShutdown(): void;
  /** Settles when the work is over (normally or not). */
  readonly finished: Promise<void>;
}

export class Lifecycle {
  private current: LifecycleState = 'running';
  private readonly active = new Set<Drainable>();
  private idleWaiters: Array<() => void> = [];
  private drainPromise: Promise<void> | undefined;

  get state(): LifecycleState {
    return this.current;
  }

  get accepting(): boolean {
    return this.current === 'running';
  }

  /** Tracks one unit of work until it finishes. */
  track(work: Drainable): void {
    this.active.add(work);
    const untrack = (): void => {
      this.active.delete(work);
      if (this.active.size === 0) this.wakeIdle();
    };
    work.finished.then(untrack, untrack);
  }

  /**
   * Stops accepting, waits up to `graceMs` for the active work, aborts what is left and waits up to
   * `abortWaitMs` more for it to say goodbye. Calling it again returns the same drain.
   */
  drain(graceMs: number, abortWaitMs = 2000): Promise<void> {
    this.drainPromise ??= this.runDrain(graceMs, abortWaitMs);
    return this.drainPromise;
  }

  private async runDrain(graceMs: number, abortWaitMs: number): Promise<void> {
    this.current = 'draining';
    if (!(await this.waitIdle(graceMs))) {
      for (const work of [...this.active]) work.abortForShutdown();
      await this.waitIdle(abortWaitMs);
    }
    this.current = 'closed';
  }

  /** True when everything finished within `ms`. */
  private waitIdle(ms: number): Promise<boolean> {
    if (this.active.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
