/**
 * A small mergeable latency histogram: log buckets 1 % wide, so percentiles are within
 * 1 % whatever the range, and a snapshot is a short list that crosses process
 * boundaries as JSON (load generators each keep one; the orchestrator merges them).
 */
const GROWTH = Math.log(1.01);
/** Values below this (ms) share the first bucket: 1 µs is far below what loopback can show. */
const FLOOR_MS = 0.001;

export type HistogramSnapshot = [bucket: number, count: number][];

export class Histogram {
  private readonly counts = new Map<number, number>();
  count = 0;
  sum = 0;
  max = 0;

  record(valueMs: number): void {
    const value = valueMs < FLOOR_MS ? FLOOR_MS : valueMs;
    const bucket = Math.round(Math.log(value / FLOOR_MS) / GROWTH);
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);
    this.count++;
    this.sum += value;
    if (value > this.max) this.max = value;
  }

  snapshot(): { buckets: HistogramSnapshot; count: number; sum: number; max: number } {
    return { buckets: [...this.counts], count: this.count, sum: this.sum, max: this.max };
  }

  merge(snapshot: { buckets: HistogramSnapshot; count: number; sum: number; max: number }): void {
    for (const [bucket, count] of snapshot.buckets) this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + count);
    this.count += snapshot.count;
    this.sum += snapshot.sum;
    if (snapshot.max > this.max) this.max = snapshot.max;
  }

  reset(): void {
    this.counts.clear();
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  /** The value (ms) at percentile `p` (0–100); NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(bucket) ?? 0;
      if (seen >= rank) return FLOOR_MS * Math.exp(bucket * GROWTH);
    }
    return this.max;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      p50: round(this.percentile(50)),
      p99: round(this.percentile(99)),
      max: round(this.max),
      mean: round(this.count === 0 ? Number.NaN : this.sum / this.count),
    };
  }
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

function round(value: number): number {
  return Number.isFinite(value) ? Math.round(value * 1000) / 1000 : Number.NaN;
}
