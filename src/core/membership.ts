/**
 * Node membership: this process's registration in the backend's node registry (its
 * heartbeat), the reaper that removes the entries of registrations whose heartbeat
 * expired, and the re-registration of a node that finds its own registration gone.
 *
 * Ownership, per process incarnation: every process start draws a registration id,
 * `{node.id}#{random}` (`registrationId`), and every entry it stores in the backend
 * (presence members, subscription counts, online users, bot sessions) is tagged with
 * it, not with the configured `node.id`. So a node restarted with a fixed id (a pod or
 * host name) never renews, and never inherits, its previous incarnation's entries: that
 * registration stops beating and is reaped after the TTL like any dead node, its
 * members announced as gone (`member_removed`, a bot's Exit). The configured id names
 * the node in logs, `/stats` and API-Route cookies only.
 *
 * Reaping: any node may reap a dead registration, and `claimDead` makes exactly one of
 * them do it (a reap that fails on a backend fault lists the registration again, already
 * expired, for the next reaper); the entries it stored are removed with it and their users are announced
 * as departed (each with the store's presence version of its leave, so a node that
 * receives the announcement after the user's re-registration drops it; presence-view.ts).
 *
 * Renewal never waits for the rest of a heartbeat: while a beat is still busy (reaping a
 * dead registration, registering again, a slow backend on a loaded machine), each tick
 * renews the registration anyway, so slow work cannot let this live node expire and be
 * reaped by its peers. A renewal that finds the registration absent (claimed meanwhile)
 * makes the next beat register again, as the beat's own renewal would have.
 *
 * Owed side effects: the reaper of a registration also takes over the side effects its
 * appends still owe (a push admission, a message webhook: owed-effects.ts), within the
 * same reap, so a dead node's are taken over within one TTL (plus one heartbeat) of its
 * death. A reap whose take-over failed lists the registration again, like any failed reap.
 *
 * Re-registration: a node whose registration is gone while it still runs (it was frozen
 * past `node.heartbeatTtlMs` by SIGSTOP or a long pause, or partitioned, and was
 * reaped; or the store lost its data) learns it from its next heartbeat (the registry
 * reports the registration absent). It then takes a fresh registration id, lists it in
 * the registry (nothing is written under an id no reaper could find), and registers
 * again, under it, every presence member, subscription count, online user and bot
 * session it still serves, announcing `member_added` again (to every subscriber, its own
 * clients included, who may have been told they left). The fresh id, rather than the old
 * one, keeps a reaper still removing the old registration's entries from removing the
 * new ones. Then it removes whatever the old registration still holds, and tells the
 * observers (`reregistered`).
 *
 * Why re-register rather than close the sockets with a reconnect code: the connections
 * are healthy, only the shared bookkeeping about them was dropped. Re-registering puts
 * it back within one heartbeat, from state this node holds anyway, with no reconnect
 * storm, no lost subscriptions, and no window where messages published meanwhile miss
 * clients that were busy reconnecting. A client that heard itself removed hears itself
 * added back. Bound: within one heartbeat interval of the node running again (plus the
 * time to write its entries), so within one TTL.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Backend } from '../backends/ports.ts';
import type { NodeCounters } from './counters.ts';
import { FailureRun } from './failure-run.ts';
import type { Departure } from './presence.ts';
import { RegistrationGate } from './registration-gate.ts';

export { RegistrationGate };

export interface MembershipOptions {
  readonly backend: Backend;
  /** The configured node id (`node.id`, or one drawn at start); registration ids start with it. */
  readonly nodeId: string;
  /** How often to renew the heartbeat, in milliseconds. */
  readonly heartbeatIntervalMs: number;
  /** A node silent for this long is dead, in milliseconds. */
  readonly heartbeatTtlMs: number;
  /** Announces the users a removed registration's entries held (member_removed). */
  readonly announceDepartures: (left: readonly Departure[]) => Promise<void>;
  /** Runs after each successful heartbeat, before reaping (retries held-up presence leaves). */
  readonly afterHeartbeat: () => Promise<void>;
  /**
   * Called synchronously right after `registrationId` changed: snapshots what this node
   * serves (and holds back new joins and leaves), and returns the step that registers the
   * snapshot under the new id; that step rejects when some entry could not be written
   * (the next heartbeat then registers again). It is always run, even after a failure.
   */
  readonly reregister: () => () => Promise<void>;
  /** Told once a re-registration finished (after the old registration's leftovers were removed). */
  readonly reregistered?: () => void;
  /** Counts heartbeats and reaps. */
  readonly counters?: NodeCounters;
  /** Told after a registration's entries were removed (a dead one's, or this node's own at stop). */
  readonly entriesRemoved?: () => void;
  /**
   * Takes over the side effects a removed registration still owes (owed-effects.ts);
   * rejects when some could not be settled (the reap then counts as failed and is tried again).
   */
  readonly takeOverOwed?: (registration: string) => Promise<void>;
  /** True when a registration still owes side effects: a stopping node then leaves it to be reaped rather than forgotten. */
  readonly owesAnything?: (registration: string) => Promise<boolean>;
  /** Told the channels (stream keys) whose subscription totals a removed registration changed. */
  readonly countsChanged?: (streams: readonly string[]) => void;
  readonly logger: Logger;
}

/** A fresh registration id for a node: `{nodeId}#{12 hex digits}`. */
export function newRegistrationId(nodeId: string): string {
  return `${nodeId}#${randomBytes(6).toString('hex')}`;
}

export class NodeMembership {
  readonly nodeId: string;
  private registration: string;
  /** True once a heartbeat succeeded: from then on, a heartbeat that finds the registration absent means it was lost. */
  private registered = false;
  /** True while a heartbeat runs: a slow one (a re-registration, a reap) is not overlapped by the next tick's beat. */
  private beating = false;
  /** Beats that failed in a row: the first is a warn, the rest debug lines, and the first beat that works after them a warn. */
  /** The heartbeat's failures in the log (failure-run.ts). */
  private readonly failedBeats: FailureRun;
  /** The tick's renewal running beside a busy beat, if any. */
  private renewal: Promise<void> | null = null;
  /** The registration id a heartbeat last confirmed as registered (a renewal beside a beat judges only that one). */
  private confirmed: string | null = null;
  /** A renewal beside a busy beat found the registration absent: the next beat registers again. */
  private lostMeanwhile = false;
  /** A re-registration did not complete (a backend fault): the next heartbeat registers again. */
  private incomplete = false;
  /** Earlier registrations of this process whose leftover entries are still to be removed (retried each heartbeat). */
  private readonly leftovers = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: MembershipOptions) {
    this.nodeId = options.nodeId;
    this.registration = newRegistrationId(options.nodeId);
    this.failedBeats = new FailureRun(options.logger, options.backend.outage, 'failedHeartbeats', {
      failed: 'heartbeat failed (further failures are debug lines until a beat works)',
      failedAgain: 'heartbeat failed',
      worksAgain: (failures) => `heartbeat works again after ${failures} failed beats`,
      countField: 'failedBeats',
    });
  }

  /** The id this process's entries are stored under now (changes when it registers again). */
  get registrationId(): string {
    return this.registration;
  }

  /** Registers this node (first heartbeat) and starts the heartbeat and reaper. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => this.tick(), this.options.heartbeatIntervalMs);
    this.timer.unref();
  }

  /** Stops the heartbeat and removes this node's entries at once (graceful leave). */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    // A renewal still on its way would list this registration again after it is forgotten.
    if (this.renewal !== null) await this.renewal;
    const { backend } = this.options;
    const registration = this.registration;
    try {
      // Earlier registrations' leftovers too: no registry entry names them, so no peer would reap them.
      for (const previous of [...this.leftovers]) {
        await this.removeEntriesOf(previous);
        this.leftovers.delete(previous);
      }
      const left = await backend.presence.removeNode(registration);
      await backend.occupancy.removeNode(registration);
      await this.options.announceDepartures(left);
      this.options.entriesRemoved?.();
      // Side effects still owed (an admission or recording that has not finished, or that
      // failed) are left to a peer: listed as already expired, the registration is reaped
      // and its owed effects taken over, instead of forgotten with them.
      if ((await this.options.owesAnything?.(registration)) === true) await backend.nodes.heartbeat(registration, 1);
      else await backend.nodes.forget(registration);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not deregister this node; peers will reap it after the heartbeat TTL');
    }
  }

  /** The interval's tick: a beat, or only a renewal while the previous beat is still busy. */
  private tick(): void {
    if (!this.beating) {
      void this.beat();
      return;
    }
    if (this.renewal !== null || this.confirmed === null) return;
    this.renewal = this.renewMeanwhile().finally(() => (this.renewal = null));
  }

  /** Renews the registration beside a busy beat (see the header). Never throws. */
  private async renewMeanwhile(): Promise<void> {
    const registration = this.registration;
    try {
      const renewed = await this.options.backend.nodes.heartbeat(registration, this.options.heartbeatTtlMs);
      if (this.options.counters !== undefined) this.options.counters.heartbeats++;
      // Absent, and still the id in use: it was claimed, and this renewal listed it again, so the beat's own renewal cannot tell.
      if (!renewed && registration === this.confirmed && registration === this.registration) this.lostMeanwhile = true;
    } catch (error) {
      this.options.logger.debug({ err: error }, 'heartbeat renewal beside a busy beat failed');
    }
  }

  /** One heartbeat: renew (or register again), run the after-heartbeat work, reap dead registrations. Never throws. */
  async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    const { backend, logger } = this.options;
    try {
      const renewed = await backend.nodes.heartbeat(this.registration, this.options.heartbeatTtlMs);
      if (this.options.counters !== undefined) this.options.counters.heartbeats++;
      const lost = this.lostMeanwhile;
      this.lostMeanwhile = false;
      if ((!renewed && this.registered) || this.incomplete || lost) await this.registerAgain();
      this.registered = true;
      this.confirmed = this.registration;
      for (const previous of [...this.leftovers]) {
        await this.removeEntriesOf(previous);
        this.leftovers.delete(previous);
      }
      await this.options.afterHeartbeat();
      for (const dead of await backend.nodes.deadNodes()) {
        if (dead === this.registration || !(await backend.nodes.claimDead(dead))) continue;
        logger.warn({ deadNode: dead }, 'reaping a dead node: its members leave');
        try {
          await this.removeEntriesOf(dead);
        } catch (error) {
          // The claim took it off the registry: list it again, already expired, so a reaper (this
          // one next beat, or a peer) removes what is left instead of nobody ever.
          await backend.nodes.heartbeat(dead, 1).catch(() => undefined);
          throw error;
        }
        if (this.options.counters !== undefined) this.options.counters.reaps++;
      }
      this.failedBeats.succeeded();
    } catch (error) {
      // A backend outage fails every beat until it ends: the backend's episode tells it,
      // or else one warn, then debug lines.
      this.failedBeats.failed(error);
    } finally {
      this.beating = false;
    }
  }

  /**
   * This node's registration is gone: register everything again under a fresh id (see the
   * header). The fresh id is listed in the registry before anything is written under it:
   * an id no registry lists is never reaped, so a node that died (or stayed cut off) right
   * after writing under it would leave its members listed for ever. When that listing
   * fails, nothing is switched and the next heartbeat tries again.
   */
  private async registerAgain(): Promise<void> {
    const { backend, logger } = this.options;
    const previous = this.registration;
    const next = newRegistrationId(this.nodeId);
    this.incomplete = true;
    // No renewal beside this beat meanwhile: it would judge `previous`, which is gone already.
    this.confirmed = null;
    await backend.nodes.heartbeat(next, this.options.heartbeatTtlMs);
    this.registration = next;
    this.confirmed = next;
    // Same tick as the switch: the snapshot and the new id agree on who is served.
    const apply = this.options.reregister();
    logger.warn(
      { previous, registration: next },
      'this node was dropped from the cluster while running (reaped after a stall, or the store lost its data); registering its members again',
    );
    // What the old registration still holds (a reaper that has not finished, or none at
    // all when the store lost its data) is removed after the members joined again (by the
    // caller, this heartbeat or a later one), so only those who really left are announced.
    this.leftovers.add(previous);
    await apply();
    // Listed again as already expired, so any node reaps what it holds even if this
    // process dies before removing it itself.
    await backend.nodes.heartbeat(previous, 1);
    this.incomplete = false;
    this.options.reregistered?.();
  }

  private async removeEntriesOf(registration: string): Promise<void> {
    const { backend } = this.options;
    const left = await backend.presence.removeNode(registration);
    const changed = await backend.occupancy.removeNode(registration);
    await this.options.announceDepartures(left);
    this.options.entriesRemoved?.();
    if (changed.length > 0) this.options.countsChanged?.(changed);
    await this.options.takeOverOwed?.(registration);
  }
}
