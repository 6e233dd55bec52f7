/**
 * The sustained-lag rule of publisher backpressure: from lag samples taken at irregular
 * moments (the end of event-loop turns, the lag reports), the level a node's delivery lag
 * stayed at or above for at least `sustainMs` of the last `windowMs` of wall time.
 *
 * What a sample means: a sample `lagMs` at `at` says something has waited since
 * `at − lagMs` (the oldest message not yet handed to the kernel, or the report's own timer),
 * so for every moment t between then and `at` the lag was at least t − (at − lagMs). A
 * sample covers the span since the previous sample only (each moment is counted once); the
 * time during which the lag was at least X is then, per sample, min(span, lagMs − X).
 *
 * Why time above a level, not the smallest of the last few samples: a node that is behind
 * in bursts (long turns, between them short ones with nothing left to send) is behind for
 * most of the time, though some samples between bursts are small; the smallest sample
 * would hide it. One pause of P ms (a GC, a start-up burst) counts as P − X ms above X, so it
 * is reported as P − sustainMs at most: ignored while shorter than the bound + sustainMs.
 *
 * Worked example (sustainMs 1000, windowMs 2000): a node samples 30 ms every 100 ms, then
 * pauses 1.8 s; the sample after the pause is 1800 ms over a span of 1800 ms. Time at or
 * above X is min(1800, 1800 − X), which reaches 1000 ms for X ≤ 800: the figure is 800 ms,
 * under a 2000 ms bound. A node whose every sample for the last 1.5 s was 2500 ms or more
 * has been at or above 2500 ms for 1.5 s of the window: the figure is 2500 ms or more.
 * Once the lag is gone, samples of 0 cover the new time, and the figure falls once less
 * than `sustainMs` of the window is above it (a little after the lag ended, at most
 * `windowMs − sustainMs`).
 */

/**
 * Samples within this much of a bucket's first one are merged into one (a node under light
 * load ends a turn per message), in milliseconds. A bucket never extends past it, so a high
 * sample leaves the window however steady the traffic after it.
 */
const MERGE_MS = 10;

interface Sample {
  /** Date.now() of the latest sample merged into this one. */
  at: number;
  /** Date.now() of the first sample merged into this one (the bucket's start). */
  first: number;
  /** A sample that covers only part of its span (a prediction): never merged with another. */
  alone: boolean;
  /** The span this sample covers: since the previous sample, in milliseconds. */
  span: number;
  lagMs: number;
}

/** A node's lag samples over the last `windowMs`, and the level held for `sustainMs` of them (see the header). */
export class LagWindow {
  /** Samples with a lag, oldest first, reaching back `windowMs` (samples of 0 lag only end spans). */
  private readonly samples: Sample[] = [];
  private lastAt = 0;

  constructor(
    /** How long the lag must last to count, in milliseconds. */
    readonly sustainMs: number,
    /** The wall time looked back over, in milliseconds (at least `sustainMs`). */
    readonly windowMs: number,
  ) {}

  /**
   * Adds a sample taken at `at` (Date.now(), not before the previous one), covering the
   * span since the previous sample, or at most `maxSpanMs` of it (a sample that says
   * nothing of the whole span, such as a prediction).
   */
  add(at: number, lagMs: number, maxSpanMs = Infinity): void {
    const span = this.lastAt === 0 ? 0 : Math.min(maxSpanMs, Math.max(0, at - this.lastAt));
    this.lastAt = Math.max(this.lastAt, at);
    const alone = maxSpanMs !== Infinity;
    const last = this.samples.at(-1);
    if (last !== undefined && !alone && !last.alone && at - last.first < MERGE_MS) {
      last.span += span;
      last.at = at;
      if (lagMs > last.lagMs) last.lagMs = lagMs;
    } else if (lagMs > 0) {
      this.samples.push({ at, first: at, alone, span, lagMs });
    }
    const start = at - this.windowMs;
    let drop = 0;
    while (drop < this.samples.length && this.samples[drop]!.at <= start) drop++;
    if (drop > 0) this.samples.splice(0, drop);
  }

  /** Milliseconds of the window ending at `now` during which the lag was at least `level`. */
  timeAtOrAbove(level: number, now: number): number {
    const start = now - this.windowMs;
    let total = 0;
    for (const sample of this.samples) {
      if (sample.at <= start) continue;
      const span = Math.min(sample.span, sample.at - start);
      total += Math.min(span, Math.max(0, sample.lagMs - level));
    }
    return total;
  }

  /** The highest level the lag stayed at or above for `sustainMs` of the window ending at `now` (0: none). */
  sustained(now: number): number {
    let high = 0;
    for (const sample of this.samples) if (sample.lagMs > high) high = sample.lagMs;
    if (high === 0 || this.timeAtOrAbove(0, now) < this.sustainMs) return 0;
    // timeAtOrAbove falls as the level rises: bisect to the millisecond.
    let low = 0;
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (this.timeAtOrAbove(middle, now) >= this.sustainMs) low = middle;
      else high = middle;
    }
    return low;
  }
}
