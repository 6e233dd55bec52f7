/**
 * Subscription count events (Pusher's `pusher_internal:subscription_count`), for apps
 * with `subscriptionCountEvents`: every subscriber of a non-presence channel is told the
 * channel's cluster-wide subscription count whenever a connection subscribes or
 * unsubscribes, on any node. Pusher's throttling: on channels with more than 100
 * subscriptions, at most one event every 5 s while there is activity (the last one
 * carries the count after the latest change).
 *
 * Ownership: the counts are the backend's occupancy counts (one per channel per node).
 * A node that changes a count broadcasts a `subscription_count` signal without the
 * number; each node with local subscribers of the channel then reads the total itself.
 * Reading after the signal, rather than trusting a number carried in it, means two
 * changes on two nodes can never leave a node showing the older count last: the last
 * read follows the last change. Throttling state is per node and per channel, kept
 * only while a channel is above the threshold or a send is due.
 *
 * A registration removed (a dead node reaped) or written again (a node that registers
 * again after it was reaped while alive) changes totals without a subscribe: the core
 * calls `changed` for each channel it touched, so subscribers get the corrected count
 * within the reap's heartbeat.
 */
import type { Logger } from 'pino';
import type { Backend } from '../backends/ports.ts';
import type { AppRegistry } from './apps.ts';
import { isPresenceChannel, streamKey } from './channels.ts';
import type { LocalHub } from './hub.ts';
import type { Signal, SignalSender } from './signals.ts';
import { warnOutsideOutage } from './failure-run.ts';

/** Above this many subscriptions a channel's events are throttled (Pusher's 100). */
export const SUBSCRIPTION_COUNT_THRESHOLD = 100;
/** At most one event per this many milliseconds on a throttled channel (Pusher's 5 s). */
export const SUBSCRIPTION_COUNT_INTERVAL_MS = 5000;

interface ChannelCountState {
  /** Date.now() of the last send (0 before the first). */
  lastSentAt: number;
  /** The count last sent. */
  lastCount: number;
  /** The send that is due, if any. */
  timer: NodeJS.Timeout | null;
}

export class SubscriptionCounts {
  /** Stream key → this node's send state for the channel. */
  private readonly channels = new Map<string, ChannelCountState>();

  constructor(
    private readonly backend: Backend,
    private readonly hub: LocalHub,
    private readonly apps: AppRegistry,
    private readonly sendSignal: SignalSender,
    private readonly logger: Logger,
  ) {}

  /** A connection of this node subscribed to or unsubscribed from the channel. Never throws. */
  changed(appId: string, channel: string): void {
    if (this.apps.findById(appId)?.subscriptionCountEvents !== true || isPresenceChannel(channel)) return;
    this.sendSignal({ type: 'subscription_count', appId, channel }).catch((error: unknown) =>
      warnOutsideOutage(this.logger, this.backend.outage, 'failedSubscriptionCounts', { err: error, channel }, 'could not announce a subscription count change'),
    );
  }

  /** A `subscription_count` signal (from any node): schedules this node's send, throttled. */
  readonly onSignal = (signal: Extract<Signal, { type: 'subscription_count' }>): void => {
    const { appId, channel } = signal;
    if (this.hub.localCount(appId, channel) === 0) return;
    const key = streamKey(appId, channel);
    let state = this.channels.get(key);
    if (state === undefined) {
      state = { lastSentAt: 0, lastCount: 0, timer: null };
      this.channels.set(key, state);
    }
    // A send already due reads the count when it runs, so it covers this change too.
    if (state.timer !== null) return;
    const wait = state.lastCount > SUBSCRIPTION_COUNT_THRESHOLD ? Math.max(0, state.lastSentAt + SUBSCRIPTION_COUNT_INTERVAL_MS - Date.now()) : 0;
    const due = state;
    due.timer = setTimeout(() => void this.send(appId, channel, key, due), wait);
    due.timer.unref();
  };

  /** Stops every due send (the node is stopping). */
  stop(): void {
    for (const state of this.channels.values()) if (state.timer !== null) clearTimeout(state.timer);
    this.channels.clear();
  }

  private async send(appId: string, channel: string, key: string, state: ChannelCountState): Promise<void> {
    // Cleared first: a change during the read schedules another send, which reads again.
    state.timer = null;
    state.lastSentAt = Date.now();
    try {
      const count = await this.backend.occupancy.count(key);
      state.lastCount = count;
      this.hub.dispatchSubscriptionCount(appId, channel, count);
    } catch (error) {
      warnOutsideOutage(this.logger, this.backend.outage, 'failedSubscriptionCounts', { err: error, channel }, 'could not read a subscription count');
    }
    // Below the threshold nothing is throttled: forget the channel until its next change.
    if (state.timer === null && (state.lastCount <= SUBSCRIPTION_COUNT_THRESHOLD || this.hub.localCount(appId, channel) === 0)) {
      if (this.channels.get(key) === state) this.channels.delete(key);
    }
  }
}
