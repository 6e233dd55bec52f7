/**
 * Node membership: this node's heartbeat in the backend's node registry, and the reaper
 * that removes the members and subscription counts of nodes whose heartbeat expired.
 *
 * Ownership: every node heartbeats under its own id; any node may reap a dead one, and
 * `claimDead` makes exactly one of them do it. The presence and occupancy entries a
 * node stored are removed with it, and their users are announced as departed.
 */
import type { Logger } from 'pino';
import type { Backend } from '../backends/ports.ts';
import type { NodeCounters } from './counters.ts';
import type { Departure } from './presence.ts';

export interface MembershipOptions {
  readonly backend: Backend;
  readonly nodeId: string;
  /** How often to renew the heartbeat, in milliseconds. */
  readonly heartbeatIntervalMs: number;
  /** A node silent for this long is dead, in milliseconds. */
  readonly heartbeatTtlMs: number;
  /** Announces the users a removed node's entries held (member_removed). */
  readonly announceDepartures: (left: readonly Departure[]) => Promise<void>;
  /** Runs after each successful heartbeat, before reaping (retries held-up presence leaves). */
  readonly afterHeartbeat: () => Promise<void>;
  /** Counts heartbeats and reaps. */
  readonly counters?: NodeCounters;
  /** Told after a node's entries were removed (a dead one's, or this node's own at stop). */
  readonly entriesRemoved?: () => void;
  readonly logger: Logger;
}

export class NodeMembership {
  readonly nodeId: string;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: MembershipOptions) {
    this.nodeId = options.nodeId;
  }

  /** Registers this node (first heartbeat) and starts the heartbeat and reaper. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.options.heartbeatIntervalMs);
    this.timer.unref();
  }

  /** Stops the heartbeat and removes this node's entries at once (graceful leave). */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const { backend } = this.options;
    try {
      const left = await backend.presence.removeNode(this.nodeId);
      await backend.occupancy.removeNode(this.nodeId);
      await this.options.announceDepartures(left);
      this.options.entriesRemoved?.();
      await backend.nodes.forget(this.nodeId);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not deregister this node; peers will reap it after the heartbeat TTL');
    }
  }

  /** One heartbeat: renew, run the after-heartbeat work, reap dead nodes. Never throws. */
  async beat(): Promise<void> {
    const { backend, logger } = this.options;
    try {
      await backend.nodes.heartbeat(this.nodeId, this.options.heartbeatTtlMs);
      if (this.options.counters !== undefined) this.options.counters.heartbeats++;
      await this.options.afterHeartbeat();
      for (const dead of await backend.nodes.deadNodes()) {
        if (dead === this.nodeId || !(await backend.nodes.claimDead(dead))) continue;
        logger.warn({ deadNode: dead }, 'reaping a dead node: its members leave');
        const left = await backend.presence.removeNode(dead);
        await backend.occupancy.removeNode(dead);
        await this.options.announceDepartures(left);
        if (this.options.counters !== undefined) this.options.counters.reaps++;
        this.options.entriesRemoved?.();
      }
    } catch (error) {
      logger.warn({ err: error }, 'heartbeat failed');
    }
  }
}
