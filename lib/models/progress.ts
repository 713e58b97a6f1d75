/**
 * Download progress on stderr: a redrawn bar (size, percent, speed, ETA) when the stream is a
 * TTY, otherwise one plain log line every few seconds so logs stay readable.
 */

export interface ProgressOptions {
  /** Where to write (default process.stderr). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Seconds between log lines when not a TTY (default 5). */
  logIntervalSec?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

export class ProgressReporter {
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly startedAt: number;
  private lastDraw = 0;
  private done = 0;

  /**
   * @param label what is being downloaded
   * @param total total bytes when known
   * @param startAt bytes already present (a resumed download); speed counts only new bytes
   */
  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly startAt: number,
    opts: ProgressOptions = {},
  ) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.intervalMs = (opts.logIntervalSec ?? 5) * 1000;
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
    this.lastDraw = this.tty ? 0 : this.startedAt;
    this.done = startAt;
    if (startAt > 0) this.stream.write(`resuming ${label} at ${formatBytes(startAt)}\n`);
  }

  /** Summary of the current state: bytes, percent, speed and ETA. */
  status(): string {
    const elapsed = Math.max((this.now() - this.startedAt) / 1000, 1e-3);
    const speed = (this.done - this.startAt) / elapsed;
    const size = this.total !== undefined ? `${formatBytes(this.done)} / ${formatBytes(this.total)}` : formatBytes(this.done);
    const pct = this.total ? ` ${Math.floor((this.done / this.total) * 100)}%` : '';
    const eta = this.total !== undefined && speed > 0 ? `  ETA ${formatDuration((this.total - this.done) / speed)}` : '';
    return `${size}${pct}  ${formatBytes(speed)}/s${eta}`;
  }

  update(bytesNow: number): void {
    this.done = bytesNow;
    const t = this.now();
    if (this.tty) {
      if (t - this.lastDraw < 100) return;
      this.lastDraw = t;
      this.stream.write(`\r${this.bar()}\x1b[K`);
    } else if (t - this.lastDraw >= this.intervalMs) {
      this.lastDraw = t;
      this.stream.write(`pull ${this.label}: ${this.status()}\n`);
    }
  }

  finish(message: string): void {
    if (this.tty) this.stream.write(`\r${this.bar()}\x1b[K\n`);
    this.stream.write(`${message}\n`);
  }

  private bar(): string {
    const width = 24;
    const frac = this.total ? Math.min(1, this.done / this.total) : 0;
    const filled = Math.round(frac * width);
    return `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.status()}`;
  }
}
