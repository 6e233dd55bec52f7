/**
 * redis: what presence.ts and occupancy.ts keep of their settled pairs. RemovalWatch tells a
 * store whether a removeNode overlapped one of its operations, so a join or
 * an increment that a removeNode may have undone (its entries dropped, its channel
 * unlisted from the node's set) is not remembered as settled (presence.ts, occupancy.ts).
 *
 * Across all nodes rather than per node: a per-node record would keep one entry for every
 * registration ever reaped, and removeNode runs rarely (a node's death, a stale
 * registration's leftovers), so an operation it overlaps only loses the skip of one SADD.
 */
export class RemovalWatch {
  /** removeNode calls begun. */
  private begun = 0;
  /** removeNode calls ended (resolved or rejected). */
  private ended = 0;

  /** Marks the start of an operation: pass the mark to `quietSince` when it is about to settle. */
  mark(): number {
    // -1: a removal is in flight already, so the operation overlaps one whatever happens next.
    return this.begun === this.ended ? this.begun : -1;
  }

  /** True when no removeNode was in flight at `mark` and none began since. */
  quietSince(mark: number): boolean {
    return mark === this.begun;
  }

  /** Runs `removal`, recording it as in flight until it settles. */
  watch<T>(removal: () => Promise<T>): Promise<T> {
    this.begun++;
    let result: Promise<T>;
    try {
      result = removal();
    } catch (error) {
      this.ended++;
      throw error;
    }
    return result.finally(() => this.ended++);
  }
}

/** A node's settled entry for one channel, with the time of its last SADD into the node's set. */
export interface ListedPair {
  listedAt: number;
}

/**
 * True when the node's set may be taken to list the pair's channel: a settled entry
 * there, and a SADD sent less than `intervalMs` (one heartbeat interval) ago.
 */
export function listedRecently(settled: ReadonlyMap<string, ListedPair>, settledKey: string, intervalMs: number): boolean {
  const pair = settled.get(settledKey);
  return pair !== undefined && performance.now() - pair.listedAt < intervalMs;
}

/** Notes a SADD about to be sent for `settledKey`; returns its time. */
export function noteListing(settled: ReadonlyMap<string, ListedPair>, settledKey: string): number {
  const now = performance.now();
  const pair = settled.get(settledKey);
  if (pair !== undefined) pair.listedAt = now;
  return now;
}
