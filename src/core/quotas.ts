/**
 * Cluster-wide connection quotas: an app's `limits.maxConnections` counts its WebSocket
 * connections on every node together, not per node.
 *
 * Ownership: the backend's `QuotaStore` holds one lease per node incarnation and app
 * (`{nodeId}#{incarnation}`); this node owns its leases, renews them on every heartbeat
 * (their TTL is the heartbeat TTL) and settles them to zero at a graceful stop. A node
 * that dies stops renewing, so its connections free up within `node.heartbeatTtlMs`.
 *
 * Cost: a connection is admitted from this node's lease without a backend round trip;
 * the node leases a block of units at a time (`quotas.connectionLeaseBlock`, at most a
 * sixteenth of the limit) and gives back what is spare when connections close.
 * Concurrent admissions wait for one lease call together.
 *
 * Accuracy: the limit is never passed (leases of live holders never total more than
 * it). Near it, spare units held by other nodes could refuse a connection early; so
 * once fewer than four blocks are free the nodes hold no spare (each connection is
 * leased, each close given back at once), and a node that is refused asks every node to
 * give back its spare (a `quota_reclaim` signal) and tries once more after
 * `quotas.reclaimWaitMs` (three rounds, and up to five while the others' leases keep shrinking).
 * A connection is thus refused only when the cluster holds `limit` connections, or a
 * closed one is still being given back (within one backend round trip of its close), or
 * a node died less than a heartbeat TTL ago, or a node's event loop stalled past the
 * heartbeat TTL (its lease lapsed and its units went to others: the cluster may then
 * hold more than the limit until its connections close).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { QuotaStore } from '../backends/ports.ts';
import type { SignalSender } from './signals.ts';

export interface ConnectionQuotaOptions {
  readonly store: QuotaStore | undefined;
  readonly nodeId: () => string;
  /** Lease TTL: the heartbeat TTL, in milliseconds. */
  readonly ttlMs: number;
  /** Largest block leased at once (1: every connection is one backend call). */
  readonly leaseBlock: number;
  /** How long a refused admission waits for other nodes to give back spare units, in milliseconds. */
  readonly reclaimWaitMs: number;
  readonly sendSignal: SignalSender;
  readonly logger: Logger;
}

/** The outcome of an admission: admitted, over quota, or the quota could not be checked (backend down). */
export type Admission = 'admitted' | 'over_quota' | 'unavailable';

/** At most this many reclaim rounds before a refusal (each waits `reclaimWaitMs`). */
const MAX_RECLAIM_ROUNDS = 5;
/** Rounds run whatever the others gave back (a loaded node answers a reclaim late); later ones only while they give back. */
const UNCONDITIONAL_RECLAIM_ROUNDS = 3;

/** Below this many free blocks a quota is tight: nodes keep no spare. */
const TIGHT_BLOCKS = 4;

interface AppLease {
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
  waiting: ((outcome: Admission) => void)[];
  busy: boolean;
  again: boolean;
}

export class ConnectionQuotas {
  /** This process's holder id: a node restarted under the same id never inherits its old leases. */
  readonly holder: string;
  private readonly apps = new Map<string, AppLease>();

  constructor(private readonly options: ConnectionQuotaOptions) {
    this.holder = `${options.nodeId()}#${randomBytes(4).toString('hex')}`;
  }

  /** Connections of `appId` this node holds (for metrics and tests). */
  used(appId: string): number {
    return this.apps.get(appId)?.used ?? 0;
  }

  /**
   * Admits one connection of `appId` under `limit` (0: unlimited, counted only).
   * Synchronous when this node's lease has room; a promise when it must ask the backend.
   */
  admit(appId: string, limit: number): Admission | Promise<Admission> {
    const lease = this.leaseOf(appId);
    lease.limit = limit;
    if (limit <= 0 || this.options.store === undefined) {
      if (limit > 0 && lease.used >= limit) return 'over_quota';
      lease.used++;
      return 'admitted';
    }
    if (lease.used < Math.min(lease.held, lease.asking) && lease.waiting.length === 0) {
      lease.used++;
      return 'admitted';
    }
    return new Promise<Admission>((resolve) => {
      lease.waiting.push(resolve);
      void this.work(appId, lease);
    });
  }

  /** Releases one admitted connection of `appId`; spare units go back to the cluster. */
  release(appId: string): void {
    const lease = this.apps.get(appId);
    if (lease === undefined || lease.used === 0) return;
    lease.used--;
    if (this.options.store === undefined || lease.limit <= 0) {
      if (lease.used === 0 && lease.held === 0) this.apps.delete(appId);
      return;
    }
    if (lease.held - lease.used > this.keepOf(lease) * 2 || (lease.tight && lease.held > lease.used)) void this.work(appId, lease);
  }

  /** Another node was refused: give back every spare unit of the app. */
  onReclaim(appId: string): void {
    const lease = this.apps.get(appId);
    if (lease === undefined) return;
    lease.tight = true;
    if (lease.held > lease.used) void this.work(appId, lease);
  }

  /** Renews every lease (call on each heartbeat): the lease lives another TTL, set to what is held. */
  async renew(): Promise<void> {
    for (const [appId, lease] of this.apps) {
      if (lease.held > 0 || lease.used > 0) await this.work(appId, lease, true);
    }
  }

  /** Gives back every lease (graceful stop). Never throws. */
  async releaseAll(): Promise<void> {
    const store = this.options.store;
    if (store === undefined) return;
    for (const [appId, lease] of this.apps) {
      if (lease.held === 0) continue;
      try {
        await store.lease(quotaName(appId), this.holder, 0, lease.limit, this.options.ttlMs);
        lease.held = 0;
      } catch (error) {
        this.options.logger.warn({ err: error, appId }, 'could not give back a connection lease; it expires with the heartbeat TTL');
      }
    }
  }

  private leaseOf(appId: string): AppLease {
    let lease = this.apps.get(appId);
    if (lease === undefined) {
      lease = { limit: 0, used: 0, held: 0, free: Infinity, tight: false, asking: Infinity, waiting: [], busy: false, again: false };
      this.apps.set(appId, lease);
    }
    return lease;
  }

  /** Spare units this node keeps: a block, or none while the quota is tight. */
  private keepOf(lease: AppLease): number {
    if (lease.tight) return 0;
    return Math.max(1, Math.min(this.options.leaseBlock, Math.floor(lease.limit / 16)));
  }

  /**
   * The one worker per app: brings the lease to what is needed (connections held,
   * waiters, a block of spare), serves or refuses waiters, and gives back spare. Calls
   * made while it runs make it run again rather than run concurrently.
   */
  private async work(appId: string, lease: AppLease, renew = false): Promise<void> {
    if (lease.busy) {
      lease.again = true;
      return;
    }
    lease.busy = true;
    const store = this.options.store!;
    let reclaims = 0;
    let othersHeld = Infinity;
    let regrown = false;
    try {
      do {
        lease.again = false;
        const wanted = lease.used + lease.waiting.length;
        const keep = this.keepOf(lease);
        let target: number;
        if (lease.waiting.length > 0) target = wanted + keep;
        else if (renew || lease.used > lease.held || lease.held - lease.used > keep * 2 || (lease.tight && lease.held > lease.used)) target = lease.used + keep;
        else continue;
        renew = false;
        let reply: { held: number; total: number };
        lease.asking = target;
        try {
          reply = await store.lease(quotaName(appId), this.holder, target, lease.limit, this.options.ttlMs);
        } catch (error) {
          this.options.logger.debug({ err: error, appId }, 'connection lease failed');
          for (const resolve of lease.waiting.splice(0)) resolve('unavailable');
          continue;
        } finally {
          lease.asking = Infinity;
        }
        lease.held = reply.held;
        // Never hold more connections than the lease covers (a shrink raced with admissions): grow back.
        if (lease.used > lease.held && !regrown) {
          // Once per run: when the others took the units meanwhile, the next renewal tries again.
          regrown = true;
          lease.again = true;
        }
        lease.free = lease.limit - reply.total;
        lease.tight = lease.free < keep * TIGHT_BLOCKS || lease.free < TIGHT_BLOCKS;
        while (lease.waiting.length > 0 && lease.used < lease.held) {
          lease.used++;
          lease.waiting.shift()!('admitted');
        }
        if (lease.waiting.length === 0) continue;
        // Other nodes may hold spare units: ask for them, then lease once more. The first
        // rounds run whatever the previous one got (a loaded node may answer after the
        // wait); further rounds only while what the others hold keeps shrinking.
        const othersHold = reply.total - reply.held;
        if (reclaims < MAX_RECLAIM_ROUNDS && (reclaims < UNCONDITIONAL_RECLAIM_ROUNDS || othersHold < othersHeld)) {
          reclaims++;
          othersHeld = othersHold;
          lease.tight = true;
          await this.options.sendSignal({ type: 'quota_reclaim', appId }).catch(() => {});
          await new Promise((resolve) => setTimeout(resolve, this.options.reclaimWaitMs));
          lease.again = true;
          continue;
        }
        for (const resolve of lease.waiting.splice(0)) resolve('over_quota');
        reclaims = 0;
        othersHeld = Infinity;
      } while (lease.again || lease.waiting.length > 0);
    } finally {
      lease.busy = false;
    }
  }
}

/** The quota's name in the store. */
export function quotaName(appId: string): string {
  return `conns:${appId}`;
}
