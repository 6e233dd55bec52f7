/**
 * One app's connection lease on this node, as the quota worker (quotas.ts) keeps it:
 * what it holds and uses, what it asked the store for, the admissions waiting, and the
 * reclaim it runs. Owned by the node incarnation's `ConnectionQuotas`; the store holds the
 * cluster's view of the same lease.
 */

/** The outcome of an admission: admitted, over quota, or the quota could not be checked (backend down). */
export type Admission = 'admitted' | 'over_quota' | 'unavailable';

/** Below this many free blocks a quota is tight: nodes keep no spare. */
export const TIGHT_BLOCKS = 4;

export interface AppLease {
  limit: number;
  /** Connections this node holds. */
  used: number;
  /** Units leased to this node (≥ used, or ≥ 0 without a store). */
  held: number;
  /** Free units in the cluster at the last lease reply. */
  free: number;
  tight: boolean;
  /** The lease a call in flight asks for (it may shrink the lease): admit no further meanwhile. */
  asking: number;
  /** Admissions waiting for the worker, oldest first; never more than `limit`. */
  waiting: Waiter[];
  busy: boolean;
  again: boolean;
  /** The worker's current run (settled once it stops). */
  running: Promise<void> | undefined;
  /** A heartbeat asked for a renewal: the next run writes the lease even when nothing changed. */
  renewDue: boolean;
  /** Renewals waiting for the next lease call to settle. */
  renewals: (() => void)[];
  /**
   * Every admission and close goes to the store: the store's record of this lease is
   * exact, or a call failed and the store may hold less than `held` (until a call succeeds).
   */
  exact: boolean;
  /** The used count the store's record holds (-1: unknown, a call failed). */
  recordedUsed: number;
  /** The store may hold a lease of this node (a call was made since the last reply showing none). */
  stored: boolean;
  /** Other nodes' reclaim requests, answered after the next lease call. */
  answers: string[];
  /** This node's reclaim while admissions wait for other nodes' spare. */
  reclaim: Reclaim | undefined;
  /** Ends the worker's wait for answers or releases (set while it waits). */
  wake: (() => void) | undefined;
}

/** An admission waiting for the worker. Each waits its own bounds, from its own first refusals. */
export interface Waiter {
  readonly resolve: (outcome: Admission) => void;
  /** Date.now() at which it is refused while the store shows the quota full: its first such reply plus `fullWaitMs`. */
  fullUntil: number | undefined;
  /** Date.now() at which it is refused while holders may give back spare: its first such reply plus the lease TTL. */
  reclaimUntil: number | undefined;
}

export interface Reclaim {
  /** The current round's request id: `{holder}/{n}`. */
  id: string;
  /** Holders asked in this round that have not answered and may still give back units. */
  pending: Set<string>;
}

/** A lease holding nothing. */
export function newLease(): AppLease {
  return {
    limit: 0,
    used: 0,
    held: 0,
    free: Infinity,
    tight: false,
    asking: Infinity,
    waiting: [],
    busy: false,
    again: false,
    running: undefined,
    renewDue: false,
    renewals: [],
    exact: false,
    recordedUsed: 0,
    stored: false,
    answers: [],
    reclaim: undefined,
    wake: undefined,
  };
}

/** Spare units a node keeps: a block (`leaseBlock`, at most a sixteenth of the limit), or none while the quota is tight. */
export function keepOf(lease: AppLease, leaseBlock: number): number {
  if (lease.tight) return 0;
  return Math.max(1, Math.min(leaseBlock, Math.floor(lease.limit / 16)));
}

/**
 * Whether the lease must be written though no admission waits. A tight node's record is
 * made exact at once (its spare given back), so that a refusal elsewhere finds nothing
 * to reclaim from it.
 */
export function isDue(lease: AppLease, keep: number): boolean {
  return (
    lease.renewDue ||
    lease.answers.length > 0 ||
    lease.used > lease.held ||
    lease.held - lease.used > keep * 2 ||
    (lease.tight && lease.held > lease.used) ||
    (lease.exact && lease.used !== lease.recordedUsed) ||
    (lease.tight && !lease.exact)
  );
}
