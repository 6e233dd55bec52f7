/**
 * What a fuzz run counts, per door: inputs sent, replies by status, server faults (5xx,
 * or a protocol-level internal error), replies slower than `SLOW_MS`, and client-side
 * connection errors (the server closing a connection on bad input is fine; it is counted,
 * not failed).
 */

/** A reply slower than this counts as slow (the acceptance bound). */
export const SLOW_MS = 1000;

export class DoorStats {
  inputs = 0;
  readonly outcomes = new Map<string, number>();
  /** Server faults with the input that caused them (first 20 kept). */
  readonly faults: string[] = [];
  faultCount = 0;
  slow = 0;
  maxMs = 0;
  /** 503 refusals that are load protection, not faults (RC_ERR_BOT_BUSY). */
  shed = 0;
  /** The slowest inputs (first 10 over SLOW_MS kept). */
  readonly slowInputs: string[] = [];

  constructor(readonly door: string) {}

  /** Records one input's outcome (`status` is an HTTP status or a label such as `closed 1002`). */
  record(outcome: number | string, ms: number, describe: () => string): void {
    this.inputs++;
    const key = String(outcome);
    this.outcomes.set(key, (this.outcomes.get(key) ?? 0) + 1);
    if (ms > this.maxMs) this.maxMs = ms;
    if (ms > SLOW_MS) {
      this.slow++;
      if (this.slowInputs.length < 10) this.slowInputs.push(`${Math.round(ms)} ms: ${describe().slice(0, 300)}`);
    }
  }

  fault(description: string): void {
    this.faultCount++;
    if (this.faults.length < 20) this.faults.push(description.slice(0, 600));
  }

  summary(): Record<string, unknown> {
    return {
      door: this.door,
      inputs: this.inputs,
      faults: this.faultCount,
      slow: this.slow,
      maxMs: Math.round(this.maxMs),
      shed: this.shed,
      outcomes: Object.fromEntries([...this.outcomes].sort((a, b) => b[1] - a[1]).slice(0, 12)),
    };
  }
}

/** Runs `worker` over `items` with at most `concurrency` in flight. */
export async function runPool<T>(items: readonly T[], concurrency: number, worker: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      await worker(items[index]!, index);
    }
  });
  await Promise.all(lanes);
}

/**
 * The inputs of one lane, drawn lazily in chunks (a run's inputs at once would be
 * gigabytes: some are 300 KB strings). Lane `lane` of a run draws from `seed + lane·1e6 +
 * chunk`, so a seed still fixes every input.
 */
export function* laneInputs<T>(draw: (seed: number, count: number) => T[], seed: number, lane: number, count: number, chunk = 200): Generator<T> {
  for (let done = 0, index = 0; done < count; done += chunk, index++) {
    yield* draw(seed + lane * 1_000_000 + index, Math.min(chunk, count - done));
  }
}
