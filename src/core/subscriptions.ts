/**
 * Subscriptions and occupancy: which connections of this node are subscribed to which
 * channel (the local hub), and the cluster-wide subscription counts behind
 * `subscription_count`, `/channels` and `/stats`.
 *
 * Ownership: the hub is this node's alone; the counts live in the backend, one count
 * per channel per registration (this process incarnation, see membership.ts), so every
 * node can answer channel state and a dead registration's counts can be dropped as a
 * whole. A re-registration writes this node's counts again from the hub (`reregister`).
 */
import type { Logger } from 'pino';
import { hasInterest, type Backend } from '../backends/ports.ts';
import { isPresenceChannel, parseStreamKey, streamKey } from './channels.ts';
import type { LocalHub } from './hub.ts';
import type { RegistrationGate } from './registration-gate.ts';
import type { CoreObservers } from './observers.ts';
import type { Subscriber } from './types.ts';
import { warnOutsideOutage } from './failure-run.ts';

/** A channel's occupancy as the REST API reports it. */
export interface ChannelInfo {
  readonly occupied: boolean;
  readonly subscriptionCount: number;
  /** Only for presence channels. */
  readonly userCount?: number;
}

export class Subscriptions {
  constructor(
    private readonly backend: Backend,
    private readonly hub: LocalHub,
    /** The registration id this node counts its subscriptions under (read at each change). */
    private readonly nodeId: () => string,
    private readonly logger: Logger,
    /** Told every count change this node made (with the cluster total it left). */
    private readonly observers?: CoreObservers,
    /** Held while a re-registration writes the counts; changes wait for it. */
    private readonly gate?: RegistrationGate,
  ) {}

  /**
   * Snapshot of this node's counts (taken synchronously when the registration id changed),
   * and the step that writes them under the current id. The step rejects after trying
   * every channel when some write failed.
   */
  reregister(): () => Promise<void> {
    const counts = this.hub.streamCounts();
    return async () => {
      const failures = await inBatches(counts, ([stream, count]) => this.backend.occupancy.adjust(stream, this.nodeId(), count));
      if (failures > 0) throw new Error(`${failures} of ${counts.length} subscription counts could not be registered again`);
    };
  }

  /**
   * Subscribes a connection on this node and counts it cluster-wide; undone when the count
   * fails. On a bus that routes by interest, the channel is watched for as long as it has
   * local subscribers, and this resolves once its messages reach this node (so what the
   * door replays from history afterwards meets the live messages without a gap).
   */
  async subscribe(appId: string, channel: string, subscriber: Subscriber): Promise<void> {
    if (!this.hub.add(appId, channel, subscriber)) return;
    const stream = streamKey(appId, channel);
    const bus = this.backend.bus;
    const watching = hasInterest(bus) ? bus.watch(stream) : undefined;
    let total: number;
    try {
      const held = this.gate?.pass();
      if (held != null) await held;
      total = await this.backend.occupancy.adjust(stream, this.nodeId(), +1);
    } catch (error) {
      this.hub.remove(appId, channel, subscriber);
      if (hasInterest(bus)) bus.unwatch(stream);
      throw error;
    }
    await watching;
    this.observers?.notify('occupancyChanged', appId, channel, total, +1);
  }

  /**
   * Unsubscribes a connection and uncounts it. Never throws (a connection going away must
   * always clean up). Returns false when it was not subscribed.
   */
  async unsubscribe(appId: string, channel: string, subscriber: Subscriber): Promise<boolean> {
    if (!this.hub.remove(appId, channel, subscriber)) return false;
    const bus = this.backend.bus;
    if (hasInterest(bus)) bus.unwatch(streamKey(appId, channel));
    try {
      const held = this.gate?.pass();
      if (held != null) await held;
      const total = await this.backend.occupancy.adjust(streamKey(appId, channel), this.nodeId(), -1);
      this.observers?.notify('occupancyChanged', appId, channel, total, -1);
    } catch (error) {
      // Not retried: a timed-out -1 may still run late, and a second one would undercount.
      warnOutsideOutage(this.logger, this.backend.outage, 'failedUnsubscribes', { err: error, channel }, 'unsubscribe: occupancy update failed');
    }
    return true;
  }

  async channelInfo(appId: string, channel: string): Promise<ChannelInfo> {
    const key = streamKey(appId, channel);
    const subscriptionCount = await this.backend.occupancy.count(key);
    if (!isPresenceChannel(channel)) return { occupied: subscriptionCount > 0, subscriptionCount };
    const userCount = await this.backend.presence.userCount(key);
    return { occupied: subscriptionCount > 0, subscriptionCount, userCount };
  }

  /** Occupied channels of an app whose names start with `prefix`, with subscription counts. */
  async listChannels(appId: string, prefix = ''): Promise<Map<string, number>> {
    const listed = await this.backend.occupancy.list(streamKey(appId, prefix));
    const out = new Map<string, number>();
    for (const [key, count] of listed) out.set(parseStreamKey(key).channel, count);
    return out;
  }
}

/** Channels written per round trip batch when a whole node registers again. */
const BATCH = 64;

/** Runs `step` over `items`, BATCH at a time; returns how many failed. */
export async function inBatches<T>(items: readonly T[], step: (item: T) => Promise<unknown>): Promise<number> {
  let failures = 0;
  for (let start = 0; start < items.length; start += BATCH) {
    const results = await Promise.allSettled(items.slice(start, start + BATCH).map(step));
    failures += results.filter((result) => result.status === 'rejected').length;
  }
  return failures;
}
