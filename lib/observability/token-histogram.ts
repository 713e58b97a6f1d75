import type { Registry } from 'prom-client';

interface Series {
  /** Observations per bucket; the last slot is above every bound (+Inf only). */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** One exposition value, in the shape prom-client's registry renders. */
interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/**
 * A Prometheus histogram with one label, for the relay's per-token observations (time to first
 * token, inter-token latency). prom-client's Histogram validates and hashes the label set and
 * allocates on every `observe`, a measurable share of the relay's CPU at one observation per token
 * (bench/RESULTS.md); here an observation is a bucket search and three additions on a per-label
 * series found once. It registers on prom-client registries and renders exactly as a prom-client
 * histogram does (`_bucket{le=…}` cumulative, `+Inf`, `_sum`, `_count`).
 */
export class TokenHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    private readonly upperBounds: readonly number[],
    registers: Registry[],
  ) {
    for (const r of registers) r.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** Records `value` for the series labelled `labelValue`. */
  observe(labelValue: string, value: number): void {
    let s = this.series.get(labelValue);
    if (!s) this.series.set(labelValue, (s = { counts: new Float64Array(this.upperBounds.length + 1), sum: 0, count: 0 }));
    const bounds = this.upperBounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  /** The registry's view (prom-client's `get()` contract). */
  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = [];
    for (const [label, s] of this.series) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ labels: { le, [this.labelName]: label }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', [this.labelName]: label }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { [this.labelName]: label }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { [this.labelName]: label }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}
