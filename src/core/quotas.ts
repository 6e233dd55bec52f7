/**
 * Cluster-wide connection quotas: an app's `limits.maxConnections` counts its WebSocket
 * connections on every node together, not per node.
 *
 * Ownership: the backend's `QuotaStore` holds one lease per node incarnation and app
 * (`{nodeId}#{incarnation}`); this node owns its leases, renews them on every heartbeat
 * (their TTL is the heartbeat TTL) and settles them to zero at a graceful stop, after
 * which it writes no lease. A node that dies stops renewing, so its connections free up
 * within `node.heartbeatTtlMs`. A renewal never waits for an admission's wait: it wakes a
 * waiting worker, which makes the call and waits on; the apps renew concurrently.
 *
 * Cost: a connection is admitted from this node's lease without a backend round trip;
 * the node leases a block of units at a time (`quotas.connectionLeaseBlock`, at most a
 * sixteenth of the limit) and gives back what is spare when connections close.
 * Concurrent admissions wait for one lease call together. A lease call that fails may
 * have been applied (its reply lost): the node then counts on the smaller of its old and
 * asked lease and admits nothing without the store until a call succeeds.
 *
 * Reclaim: each lease record carries the node's used count and whether it is exact. Once
 * fewer than four blocks are free a node is tight: it keeps no spare and reports every
 * admission and close to the store at once, so its record is exact; a node whose record
 * is exact keeps it so (no admission from the lease without the store) until its next
 * lease call records it inexact. A refused node gets from the store the other live holders
 * that may hold spare (record inexact or showing spare). None: the cluster's connections
 * fill the quota; the admission waits up to `fullWaitMs` from the first reply that showed
 * it so for a connection to close elsewhere (a node that gives back units of a full quota
 * says so at once, with a `quota_released` signal, and waiting admissions try again) and
 * is refused after that. Otherwise it sends those holders a reclaim request
 * (`quota_reclaim` with a request id); each gives back its spare, records its lease
 * exactly, then answers (`quota_reclaimed`). The refused node tries again at each answer,
 * asks again whoever still may hold spare once every asked holder answered, and refuses
 * the admission when nothing is left to reclaim, or at the latest `node.heartbeatTtlMs`
 * after that admission's first such refusal: by then a holder that did not answer because
 * it is frozen or dead has stopped renewing, and its lease has expired with the heartbeat
 * TTL. Every admission waits its own bounds (a newcomer never inherits an older one's),
 * is answered at most one round trip after them however many arrive, and at most `limit`
 * admissions wait per app on a node: past that a new one is refused at once.
 *
 * Accuracy: the limit is never passed (leases of live holders never total more than
 * it). A connection is refused only when the live nodes' connections totalled `limit` for
 * `fullWaitMs` (a close elsewhere reaches the store one backend round trip after it, then
 * wakes the waiting admission), or `limit` admissions already waited for the app on this
 * node, or a node died less than a heartbeat TTL ago, or a node that may hold spare
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
import { TIGHT_BLOCKS, isDue, keepOf, newLease, type Admission, type AppLease, type Waiter } from './quota-lease.ts';

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

export type { Admission } from './quota-lease.ts';

export class ConnectionQuotas {
  /** This process's holder id: a node restarted under the same id never inherits its old leases. */
  readonly holder: string;
  private readonly apps = new Map<string, AppLease>();
  private requests = 0;
  /** Set by `releaseAll`: no lease is written after it. */
  private stopped = false;

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
    if (this.stopped) return 'unavailable';
    // A flood at a full quota: as many admissions as the quota has units wait already.
    if (lease.waiting.length >= limit) return 'over_quota';
    return new Promise<Admission>((resolve) => {
      lease.waiting.push({ resolve, fullUntil: undefined, reclaimUntil: undefined });
      this.work(appId, lease);
    });
  }

  /** Another node gave back units of a full quota (a `quota_released` signal): admissions waiting here try again. */
  onReleased(appId: string): void {
    const lease = this.apps.get(appId);
    if (lease !== undefined && lease.waiting.length > 0) this.work(appId, lease);
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
    if (lease.exact || lease.held - lease.used > keepOf(lease, this.options.leaseBlock) * 2 || (lease.tight && lease.held > lease.used)) this.work(appId, lease);
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
    if (lease.answers.length > 0 || lease.held > lease.used) this.work(appId, lease);
  }

  /** A node answered reclaim requests (a `quota_reclaimed` signal): this node's waiting admissions try again. */
  onReclaimed(appId: string, holder: string, requests: readonly string[]): void {
    const reclaim = this.apps.get(appId)?.reclaim;
    if (reclaim === undefined || !requests.some((request) => request.startsWith(`${this.holder}/`))) return;
    if (requests.includes(reclaim.id)) reclaim.pending.delete(holder);
    this.work(appId, this.apps.get(appId)!);
  }

  /**
   * Renews every lease (call on each heartbeat): the lease lives another TTL, set to what
   * is held. Admissions waiting for other nodes' spare try again. Resolves once every
   * app's renewal call settled; the apps renew concurrently, and a renewal never waits
   * for an admission's wait (a worker waiting for reclaimed or released units is woken
   * to make the call, then waits on).
   */
  async renew(): Promise<void> {
    if (this.stopped || this.options.store === undefined) return;
    const renewals: Promise<void>[] = [];
    for (const [appId, lease] of this.apps) {
      if (lease.held === 0 && lease.used === 0 && lease.waiting.length === 0) continue;
      if (lease.limit <= 0 && lease.held === 0) continue;
      lease.renewDue = true;
      renewals.push(new Promise<void>((resolve) => lease.renewals.push(resolve)));
      this.work(appId, lease);
    }
    await Promise.all(renewals);
  }

  /**
   * Gives back every lease (graceful stop). Final: waiting admissions are answered
   * `unavailable`, calls in flight settle first, and no lease is written afterwards
   * (later admissions are `unavailable`; closes and renewals write nothing). Never throws.
   */
  async releaseAll(): Promise<void> {
    this.stopped = true;
    const store = this.options.store;
    if (store === undefined) return;
    for (const lease of this.apps.values()) {
      // Nothing more is admitted from the lease; a worker waiting for units stops waiting.
      lease.held = 0;
      lease.wake?.();
    }
    await Promise.allSettled([...this.apps.values()].map((lease) => lease.running));
    await Promise.all(
      [...this.apps].map(async ([appId, lease]) => {
        for (const waiter of lease.waiting.splice(0)) waiter.resolve('unavailable');
        if (!lease.stored) return;
        try {
          await store.lease(quotaName(appId), this.holder, { units: 0, used: 0, exact: true }, lease.limit, this.options.ttlMs);
          lease.stored = false;
        } catch (error) {
          this.options.logger.warn({ err: error, appId }, 'could not give back a connection lease; it expires with the heartbeat TTL');
        }
      }),
    );
  }

  private leaseOf(appId: string): AppLease {
    let lease = this.apps.get(appId);
    if (lease === undefined) {
      lease = newLease();
      this.apps.set(appId, lease);
    }
    return lease;
  }

  /**
   * The one worker per app: brings the lease to what is needed (connections held,
   * waiters, a block of spare), serves or refuses waiters, answers reclaims, and gives
   * back spare. Calls made while it runs make it run again (and end its wait for
   * answers) rather than run concurrently. Nothing runs once the node stopped.
   */
  private work(appId: string, lease: AppLease): void {
    if (this.stopped) return;
    if (lease.busy) {
      lease.again = true;
      lease.wake?.();
      return;
    }
    lease.running = this.run(appId, lease);
  }

  private async run(appId: string, lease: AppLease): Promise<void> {
    lease.busy = true;
    const store = this.options.store!;
    let regrown = false;
    try {
      do {
        lease.again = false;
        if (this.stopped) break;
        const wanted = lease.used + lease.waiting.length;
        // An answer promises an exact record: no spare kept in it.
        const keep = lease.answers.length > 0 ? 0 : keepOf(lease, this.options.leaseBlock);
        let target: number;
        if (lease.waiting.length > 0) target = wanted + keep;
        else if (isDue(lease, keep)) target = lease.used + keep;
        else continue;
        lease.renewDue = false;
        const renewing = lease.renewals.splice(0);
        const answering = lease.answers.splice(0);
        const request = { units: target, used: wanted, exact: keep === 0 };
        let reply: Awaited<ReturnType<QuotaStore['lease']>>;
        lease.asking = target;
        lease.stored = true;
        try {
          reply = await store.lease(quotaName(appId), this.holder, request, lease.limit, this.options.ttlMs);
        } catch (error) {
          this.options.logger.debug({ err: error, appId }, 'connection lease failed');
          // The store may have applied the call (only its reply was lost): count on the
          // smaller of the two leases, and admit nothing without the store until a call succeeds.
          lease.held = Math.min(lease.held, target);
          lease.exact = true;
          lease.recordedUsed = -1;
          lease.answers.unshift(...answering);
          lease.reclaim = undefined;
          for (const waiter of lease.waiting.splice(0)) waiter.resolve('unavailable');
          continue;
        } finally {
          lease.asking = Infinity;
          for (const renewed of renewing) renewed();
        }
        // Stopped meanwhile: `releaseAll` settles the lease.
        if (this.stopped) break;
        // Units given back while the quota was full: admissions waiting on other nodes may take them now.
        if (reply.held < lease.held && reply.total - reply.held + lease.held >= lease.limit) {
          void this.options.sendSignal({ type: 'quota_released', appId }).catch(() => {});
        }
        lease.held = reply.held;
        lease.stored = reply.held > 0;
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
          lease.waiting.shift()!.resolve('admitted');
        }
        if (lease.waiting.length === 0) {
          lease.reclaim = undefined;
          continue;
        }
        // The call got all it asked for: the admissions still waiting came during it; ask for them.
        if (reply.held >= target) {
          lease.again = true;
          continue;
        }
        await this.reclaim(appId, lease, reply.asks);
      } while (lease.again || lease.waiting.length > 0);
    } finally {
      lease.busy = false;
      if (this.stopped) for (const waiter of lease.waiting.splice(0)) waiter.resolve('unavailable');
      for (const renewed of lease.renewals.splice(0)) renewed();
    }
  }

  /**
   * Admissions wait and the lease could not grow to them. Each is refused once its own
   * bound passed: `fullWaitMs` from the first reply that showed it the quota full (no
   * other live holder may give back units), the lease TTL from the first that named
   * holders to ask. The rest wait: at a full quota for a release (`onReleased`) or the
   * nearest bound; otherwise the holders that may give back units are asked (once every
   * holder of the round answered, or at the first refusal) and the rest wait for an
   * answer, a call to the worker, or the nearest bound.
   */
  private async reclaim(appId: string, lease: AppLease, asks: readonly string[]): Promise<void> {
    const now = Date.now();
    const full = asks.length === 0;
    let until = Infinity;
    let refused = 0;
    const waiting: Waiter[] = [];
    for (const waiter of lease.waiting) {
      const bound = full ? (waiter.fullUntil ??= now + this.options.fullWaitMs) : (waiter.reclaimUntil ??= now + this.options.ttlMs);
      if (now < bound) {
        waiting.push(waiter);
        until = Math.min(until, bound);
      } else {
        waiter.resolve('over_quota');
        refused++;
      }
    }
    lease.waiting = waiting;
    if (refused > 0 && !full) {
      this.options.logger.warn({ appId, holders: asks, refused }, 'connection quota: nodes that may hold spare units did not give them back within the heartbeat TTL; refused');
    }
    if (full || waiting.length === 0) {
      lease.reclaim = undefined;
      if (waiting.length > 0 && !lease.again) await this.sleep(lease, until);
      return;
    }
    const reclaim = (lease.reclaim ??= { id: '', pending: new Set() });
    const live = new Set(asks);
    for (const holder of reclaim.pending) if (!live.has(holder)) reclaim.pending.delete(holder);
    if (reclaim.pending.size === 0) {
      reclaim.id = `${this.holder}/${++this.requests}`;
      reclaim.pending = live;
      lease.tight = true;
      await this.options.sendSignal({ type: 'quota_reclaim', appId, request: reclaim.id, holders: asks }).catch(() => {});
    }
    if (lease.again) return;
    await this.sleep(lease, until);
  }

  /**
   * Waits until `until` (Date.now() ms) or a call to the worker (`lease.wake`); not at
   * all once the node stopped. The timer holds the process: connections wait on it.
   */
  private sleep(lease: AppLease, until: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
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
