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
 * Reclaim: each lease record carries the node's used count and whether it is exact. Once
 * fewer than four blocks are free a node is tight: it keeps no spare and reports every
 * admission and close to the store at once, so its record is exact; a node whose record
 * is exact keeps it so (no admission from the lease without the store) until its next
 * lease call records it inexact. A refused node gets from the store the other live holders
 * that may hold spare (record inexact or showing spare). None: the cluster's connections
 * fill the quota; the admission waits up to `fullWaitMs` for a connection to close
 * elsewhere (a node that gives back units of a full quota says so at once, with a
 * `quota_released` signal, and waiting admissions try again) and is refused after that.
 * Otherwise it sends those holders a
 * reclaim request (`quota_reclaim` with a request id); each gives back its spare, records
 * its lease exactly, then answers (`quota_reclaimed`). The refused node tries again at
 * each answer, asks again whoever still may hold spare once every asked holder answered,
 * and is refused when nothing is left to reclaim, or at the latest `node.heartbeatTtlMs`
 * after its first refusal: by then a holder that did not answer because it is frozen or
 * dead has stopped renewing, and its lease has expired with the heartbeat TTL.
 *
 * Accuracy: the limit is never passed (leases of live holders never total more than
 * it). A connection is refused only when the live nodes' connections totalled `limit` for
 * `fullWaitMs` (a close elsewhere reaches the store one backend round trip after it, then
 * wakes the waiting admission), or a node died less than a heartbeat TTL ago, or a node that may hold spare
 * keeps its lease live for a heartbeat TTL after the refusal without giving the spare back
 * (it neither answers the reclaim nor renews through a reply that shows the quota tight: a
 * node that misses the reclaim gives back its spare at its next renewal). A node whose
 * event loop stalls past the heartbeat TTL loses its lease while keeping its connections:
 * the cluster may then hold more than the limit until they close.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { QuotaStore } from '../backends/ports.ts';
import type { SignalSender } from './signals.ts';

export interface ConnectionQuotaOptions {
  readonly store: QuotaStore | undefined;
  readonly nodeId: () => string;
  /**
   * Lease TTL: the heartbeat TTL, in milliseconds. Also the longest a refused admission
   * waits for the other nodes' answers to its reclaim, counted from its first refusal.
   */
  readonly ttlMs: number;
  /** How long an admission the store shows at a full quota waits for a close elsewhere before it is refused. */
  readonly fullWaitMs: number;
  /** Largest block leased at once (1: every connection is one backend call). */
  readonly leaseBlock: number;
  readonly sendSignal: SignalSender;
  readonly logger: Logger;
}

/** The outcome of an admission: admitted, over quota, or the quota could not be checked (backend down). */
export type Admission = 'admitted' | 'over_quota' | 'unavailable';

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
  /** A heartbeat asked for a renewal: the next run writes the lease even when nothing changed. */
  renewDue: boolean;
  /** The store's record of this lease is exact: every admission and close goes to the store. */
  exact: boolean;
  /** The used count the store's record holds. */
  recordedUsed: number;
  /** Other nodes' reclaim requests, answered after the next lease call. */
  answers: string[];
  /** This node's reclaim while admissions wait for other nodes' spare. */
  reclaim: Reclaim | undefined;
  /** Date.now() at which admissions waiting at a full quota are refused (set while they wait). */
  fullUntil: number | undefined;
  /** Ends the worker's wait for answers or releases (set while it waits). */
  wake: (() => void) | undefined;
}

interface Reclaim {
  /** The current round's request id: `{holder}/{n}`. */
  id: string;
  /** Holders asked in this round that have not answered and may still give back units. */
  pending: Set<string>;
  /** Date.now() at which the waiting admissions are refused: the first refusal plus the lease TTL. */
  deadline: number;
}

export class ConnectionQuotas {
  /** This process's holder id: a node restarted under the same id never inherits its old leases. */
  readonly holder: string;
  private readonly apps = new Map<string, AppLease>();
  private requests = 0;

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
    if (lease.used < Math.min(lease.held, lease.asking) && lease.waiting.length === 0 && !lease.exact) {
      lease.used++;
      return 'admitted';
    }
    return new Promise<Admission>((resolve) => {
      lease.waiting.push(resolve);
      void this.work(appId, lease);
    });
  }

  /** Another node gave back units of a full quota (a `quota_released` signal): admissions waiting here try again. */
  onReleased(appId: string): void {
    const lease = this.apps.get(appId);
    if (lease !== undefined && lease.waiting.length > 0) void this.work(appId, lease);
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
    if (lease.exact || lease.held - lease.used > this.keepOf(lease) * 2 || (lease.tight && lease.held > lease.used)) void this.work(appId, lease);
  }

  /**
   * Another node was refused (a `quota_reclaim` signal): when `holders` names this node,
   * it gives back every spare unit of the app, records its lease exactly and answers
   * `request`; without `holders`, it gives back its spare and answers nothing.
   */
  onReclaim(appId: string, request?: string, holders?: readonly string[]): void {
    const lease = this.apps.get(appId);
    if (lease === undefined) return;
    if (holders !== undefined && !holders.includes(this.holder)) return;
    lease.tight = true;
    if (request !== undefined && holders !== undefined) lease.answers.push(request);
    if (lease.answers.length > 0 || lease.held > lease.used) void this.work(appId, lease);
  }

  /** A node answered reclaim requests (a `quota_reclaimed` signal): this node's waiting admissions try again. */
  onReclaimed(appId: string, holder: string, requests: readonly string[]): void {
    const reclaim = this.apps.get(appId)?.reclaim;
    if (reclaim === undefined || !requests.some((request) => request.startsWith(`${this.holder}/`))) return;
    if (requests.includes(reclaim.id)) reclaim.pending.delete(holder);
    void this.work(appId, this.apps.get(appId)!);
  }

  /**
   * Renews every lease (call on each heartbeat): the lease lives another TTL, set to what
   * is held. Admissions waiting for other nodes' spare try again.
   */
  async renew(): Promise<void> {
    for (const [appId, lease] of this.apps) {
      if (lease.held === 0 && lease.used === 0 && lease.waiting.length === 0) continue;
      lease.renewDue = true;
      await this.work(appId, lease);
    }
  }

  /** Gives back every lease (graceful stop). Never throws. */
  async releaseAll(): Promise<void> {
    const store = this.options.store;
    if (store === undefined) return;
    for (const [appId, lease] of this.apps) {
      if (lease.held === 0) continue;
      try {
        await store.lease(quotaName(appId), this.holder, { units: 0, used: 0, exact: true }, lease.limit, this.options.ttlMs);
        lease.held = 0;
      } catch (error) {
        this.options.logger.warn({ err: error, appId }, 'could not give back a connection lease; it expires with the heartbeat TTL');
      }
    }
  }

  private leaseOf(appId: string): AppLease {
    let lease = this.apps.get(appId);
    if (lease === undefined) {
      lease = {
        limit: 0,
        used: 0,
        held: 0,
        free: Infinity,
        tight: false,
        asking: Infinity,
        waiting: [],
        busy: false,
        again: false,
        renewDue: false,
        exact: false,
        recordedUsed: 0,
        answers: [],
        reclaim: undefined,
        fullUntil: undefined,
        wake: undefined,
      };
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
   * Whether the lease must be written though no admission waits. A tight node's record is
   * made exact at once (its spare given back), so that a refusal elsewhere finds nothing
   * to reclaim from it.
   */
  private due(lease: AppLease, keep: number): boolean {
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

  /**
   * The one worker per app: brings the lease to what is needed (connections held,
   * waiters, a block of spare), serves or refuses waiters, answers reclaims, and gives
   * back spare. Calls made while it runs make it run again (and end its wait for
   * answers) rather than run concurrently.
   */
  private async work(appId: string, lease: AppLease): Promise<void> {
    if (lease.busy) {
      lease.again = true;
      lease.wake?.();
      return;
    }
    lease.busy = true;
    const store = this.options.store!;
    let regrown = false;
    try {
      do {
        lease.again = false;
        const wanted = lease.used + lease.waiting.length;
        // An answer promises an exact record: no spare kept in it.
        const keep = lease.answers.length > 0 ? 0 : this.keepOf(lease);
        let target: number;
        if (lease.waiting.length > 0) target = wanted + keep;
        else if (this.due(lease, keep)) target = lease.used + keep;
        else continue;
        lease.renewDue = false;
        const answering = lease.answers.splice(0);
        const request = { units: target, used: wanted, exact: keep === 0 };
        let reply: Awaited<ReturnType<QuotaStore['lease']>>;
        lease.asking = target;
        try {
          reply = await store.lease(quotaName(appId), this.holder, request, lease.limit, this.options.ttlMs);
        } catch (error) {
          this.options.logger.debug({ err: error, appId }, 'connection lease failed');
          lease.answers.unshift(...answering);
          lease.reclaim = undefined;
          for (const resolve of lease.waiting.splice(0)) resolve('unavailable');
          continue;
        } finally {
          lease.asking = Infinity;
        }
        // Units given back while the quota was full: admissions waiting on other nodes may take them now.
        if (reply.held < lease.held && reply.total - reply.held + lease.held >= lease.limit) {
          void this.options.sendSignal({ type: 'quota_released', appId }).catch(() => {});
        }
        lease.held = reply.held;
        lease.exact = request.exact;
        lease.recordedUsed = Math.min(wanted, reply.held);
        if (answering.length > 0) {
          void this.options.sendSignal({ type: 'quota_reclaimed', appId, holder: this.holder, requests: answering }).catch(() => {});
        }
        // Never hold more connections than the lease covers (a shrink raced with admissions): grow back.
        if (lease.used > lease.held && !regrown) {
          // Once per run: when the others took the units meanwhile, the next renewal tries again.
          regrown = true;
          lease.again = true;
        }
        lease.free = lease.limit - reply.total;
        lease.tight = lease.free < keep * TIGHT_BLOCKS || lease.free < TIGHT_BLOCKS;
        // Tight now: make the record exact at once (see `due`).
        if (lease.tight && !lease.exact) lease.again = true;
        while (lease.waiting.length > 0 && lease.used < lease.held) {
          lease.used++;
          lease.waiting.shift()!('admitted');
        }
        if (lease.waiting.length === 0) {
          lease.reclaim = undefined;
          lease.fullUntil = undefined;
          continue;
        }
        // Admissions that came during the call were not asked for: ask for them first.
        if (lease.used + lease.waiting.length > wanted) {
          lease.again = true;
          continue;
        }
        await this.reclaim(appId, lease, reply.asks);
      } while (lease.again || lease.waiting.length > 0);
    } finally {
      lease.busy = false;
    }
  }

  /**
   * Admissions wait and the lease could not grow: refuses them when no other live holder
   * may give back units, or the reclaim's deadline passed; otherwise asks the holders that
   * may (once every holder of the round answered, or at the first refusal) and waits for
   * an answer, a call to the worker, or the deadline.
   */
  private async reclaim(appId: string, lease: AppLease, asks: readonly string[]): Promise<void> {
    const now = Date.now();
    let reclaim = lease.reclaim;
    if (asks.length === 0) {
      // Full: wait for a close elsewhere (`onReleased`) until the bound, then refuse.
      lease.reclaim = undefined;
      lease.fullUntil ??= now + this.options.fullWaitMs;
      if (now < lease.fullUntil) {
        if (!lease.again) await this.sleep(lease, lease.fullUntil);
        return;
      }
      this.refuseWaiting(lease);
      return;
    }
    lease.fullUntil = undefined;
    if (reclaim !== undefined && now >= reclaim.deadline) {
      this.options.logger.warn({ appId, holders: asks }, 'connection quota: nodes that may hold spare units did not give them back within the heartbeat TTL; refused');
      this.refuseWaiting(lease);
      return;
    }
    if (reclaim === undefined) reclaim = lease.reclaim = { id: '', pending: new Set(), deadline: now + this.options.ttlMs };
    const live = new Set(asks);
    for (const holder of reclaim.pending) if (!live.has(holder)) reclaim.pending.delete(holder);
    if (reclaim.pending.size === 0) {
      reclaim.id = `${this.holder}/${++this.requests}`;
      reclaim.pending = live;
      lease.tight = true;
      await this.options.sendSignal({ type: 'quota_reclaim', appId, request: reclaim.id, holders: asks }).catch(() => {});
    }
    if (lease.again) return;
    await this.sleep(lease, reclaim.deadline);
  }

  private refuseWaiting(lease: AppLease): void {
    for (const resolve of lease.waiting.splice(0)) resolve('over_quota');
    lease.reclaim = undefined;
    lease.fullUntil = undefined;
  }

  /**
   * Waits until `until` (Date.now() ms) or a call to the worker (`lease.wake`). The timer
   * holds the process: connections wait on it (a stopping node exits regardless).
   */
  private sleep(lease: AppLease, until: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        lease.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, until - Date.now()));
      lease.wake = done;
    });
  }
}

/** The quota's name in the store. */
export function quotaName(appId: string): string {
  return `conns:${appId}`;
}
