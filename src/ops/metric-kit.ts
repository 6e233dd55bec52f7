/**
 * Small pieces that let `/metrics` read figures kept elsewhere (core counters, backend
 * telemetry, door gauges) only when Prometheus scrapes: the hot paths tally into plain
 * Maps and numbers, and these turn them into prom-client metrics at collect time.
 */
import type { Metric, Registry } from 'prom-client';
import type { HistogramSnapshot } from '../backends/ports.ts';
import { Buckets } from '../core/counters.ts';

/** A series's label names and values. */
export type Labels = Readonly<Record<string, string>>;

/** One series of a computed metric. */
export interface Series {
  readonly labels: Labels;
  readonly value: number;
}

/**
 * Registers a counter or gauge whose series are computed at scrape time by `read`
 * (sync or async). Nothing is stored between scrapes.
 */
export function computedMetric(registry: Registry, name: string, help: string, type: 'counter' | 'gauge', read: () => Iterable<Series> | Promise<Iterable<Series>>): void {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    async get() {
      const values = [...(await read())].map(({ labels, value }) => ({ labels, value }));
      return { name, help, type, aggregator: 'sum', values };
    },
  };
  registry.registerMetric(metric as unknown as Metric);
}

/** Registers a histogram whose buckets are read at scrape time (one snapshot per label set). */
export function computedHistogram(registry: Registry, name: string, help: string, read: () => Iterable<{ readonly labels: Labels; readonly snapshot: HistogramSnapshot }>): void {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: { labels: Labels; value: number; metricName: string }[] = [];
      for (const { labels, snapshot } of read()) {
        let cumulative = 0;
        snapshot.bounds.forEach((bound, i) => {
          cumulative += snapshot.counts[i] ?? 0;
          values.push({ labels: { ...labels, le: String(bound) }, value: cumulative, metricName: `${name}_bucket` });
        });
        cumulative += snapshot.counts[snapshot.bounds.length] ?? 0;
        values.push({ labels: { ...labels, le: '+Inf' }, value: cumulative, metricName: `${name}_bucket` });
        values.push({ labels, value: snapshot.sum, metricName: `${name}_sum` });
        values.push({ labels, value: snapshot.count, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
  registry.registerMetric(metric as unknown as Metric);
}

/**
 * A gauge's reader that never drops a series: a label set `read` yielded once, or one of
 * `always()` (e.g. every configured app), is exported at 0 while `read` does not yield it.
 * Sources drop a key when its count reaches zero; without this the series would vanish
 * from `/metrics` instead of reading 0 (dashboards show no data, `== 0` alerts never
 * fire). The remembered label sets are bounded by the caller's labels (apps).
 */
export function keepingZeros(read: () => Iterable<Series>, always: () => Iterable<Labels> = () => []): () => Series[] {
  const seen = new Map<string, Labels>();
  const keyOf = (labels: Labels): string => JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return () => {
    const series = [...read()];
    const present = new Set<string>();
    for (const { labels } of series) {
      const key = keyOf(labels);
      present.add(key);
      if (!seen.has(key)) seen.set(key, labels);
    }
    for (const labels of always()) {
      const key = keyOf(labels);
      if (!seen.has(key)) seen.set(key, labels);
    }
    for (const [key, labels] of seen) if (!present.has(key)) series.push({ labels, value: 0 });
    return series;
  };
}

/** Series of a per-app (or per-key) map: `{ [label]: key }`. */
export function seriesOf(map: ReadonlyMap<string, number> | Iterable<[string, number]>, label: string): Series[] {
  return [...map].map(([key, value]) => ({ labels: { [label]: key }, value }));
}

/** Series of a map keyed `a\nb`: labels `{ [first]: a, [second]: b }`. */
export function pairSeriesOf(map: Iterable<[string, number]>, first: string, second: string): Series[] {
  return [...map].map(([key, value]) => {
    const at = key.indexOf('\n');
    return { labels: { [first]: key.slice(0, at), [second]: key.slice(at + 1) }, value };
  });
}

/**
 * Histograms per label set, kept outside prom-client: `observe` is one Map lookup and a
 * short bucket search. The label sets are bounded by the caller (route templates).
 */
export class HistogramTally {
  private readonly histograms = new Map<string, { readonly labels: Labels; readonly buckets: Buckets }>();

  constructor(private readonly bounds: readonly number[]) {}

  observe(key: string, labels: () => Labels, value: number): void {
    let entry = this.histograms.get(key);
    if (entry === undefined) {
      entry = { labels: labels(), buckets: new Buckets(this.bounds) };
      this.histograms.set(key, entry);
    }
    entry.buckets.observe(value);
  }

  *snapshots(): Iterable<{ labels: Labels; snapshot: HistogramSnapshot }> {
    for (const { labels, buckets } of this.histograms.values()) yield { labels, snapshot: buckets };
  }
}
