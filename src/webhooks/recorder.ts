/**
 * Records webhook events into the outbox. Two kinds:
 *
 * - Transitions (channel occupied/vacated, member added/removed, user online/offline,
 *   subscription count): the caller only says "this subject may have changed"; the
 *   outbox's `reconcile` reads the actual state and the announced one in one atomic step
 *   and records what changed, once cluster-wide however many nodes ask. Callers ask when
 *   their own backend step reported an edge (an occupancy total of 1 after +1 or 0 after
 *   −1, a user's first or last connection), so the steady state costs nothing. A leave
 *   waits `leaveDelayMs` in a delayed check job and is dropped when the subject is back.
 * - Edges (messages, client events, cache misses, bot sessions): the node where the event
 *   happened records it, batched per event-loop turn into one outbox append. Publishing
 *   never waits for it.
 *
 * - Owed edges: a message whose append stored an owed `webhook` marker (backends/ports.ts,
 *   OwedEffectLedger) is recorded by the outbox append that settles the marker, in one
 *   atomic step, only if the marker is still owed. So a node killed before its batch is
 *   written loses nothing: its reaper records the event from the marker (`recordOwed`),
 *   and never twice.
 *
 * A node that dies between its backend step and its reconcile leaves the announced state
 * behind the actual one: `sweep` (run after any dead node is reaped, and after this node's
 * own reconcile failures) compares the two for a whole app and reconciles what differs.
 */
import type { Logger } from 'pino';
import type { Backend, JobQueue, OutboxAppendItem, OutboxDrain, OutboxReconcile, OutboxSubject } from '../backends/ports.ts';
import type { WebhookDeliveryConfig, WebhookEventType } from '../config/schema.ts';
import { parseStreamKey, streamKey } from '../core/channels.ts';
import type { WebhookEndpoints } from './endpoints.ts';
import {
  channelOccupied,
  channelVacated,
  laneItemText,
  memberAdded,
  memberRemoved,
  subscriptionCount,
  userOffline,
  userOnline,
  type WebhookEventBody,
} from './events.ts';
import { checkJob, drainJob } from './jobs.ts';

/**
 * The presence "channel" whose members are an app's signed-in users (`{appId}:#online` in
 * the presence store): `#` cannot start a channel name, so it never meets a real one.
 */
export const ONLINE_USERS_CHANNEL = '#online';

/** Items one outbox append carries at most. */
const APPEND_BATCH = 500;
/** Edge items waiting for the backend past which the oldest are dropped (logged and counted). */
const MAX_BUFFERED = 100_000;
/** Tries of a reconcile on backend faults before the app is left to the next sweep. */
const RECONCILE_TRIES = 4;
/** First pause between those tries and between failed appends, in milliseconds (doubled each time, capped at 5 s). */
const RETRY_BASE_MS = 100;

/** The owed `webhook` marker an event settles (OutboxAppendItem.settles). */
export type OwedWebhook = NonNullable<OutboxAppendItem['settles']>;

/** What the recorder reports for metrics. */
export interface RecorderEvents {
  /** Items dropped because the backend stayed unreachable (never silent). */
  dropped?(count: number): void;
}

export interface RecorderOptions {
  readonly backend: Backend;
  readonly endpoints: WebhookEndpoints;
  readonly queue: JobQueue;
  readonly config: WebhookDeliveryConfig;
  readonly logger: Logger;
  readonly events?: RecorderEvents;
  readonly now?: () => number;
}

export class WebhookRecorder {
  private readonly backend: Backend;
  private readonly endpoints: WebhookEndpoints;
  private readonly queue: JobQueue;
  private readonly config: WebhookDeliveryConfig;
  private readonly logger: Logger;
  private readonly now: () => number;
  private buffer: OutboxAppendItem[] = [];
  private flushing = false;
  private flushTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Reconciles started and not finished (close waits for them). */
  private readonly inflight = new Set<Promise<void>>();
  /** Apps whose reconcile failed here: swept when the backend answers again. */
  readonly unsettledApps = new Set<string>();
  private idCounter = 0;
  private readonly idPrefix = `e${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

  constructor(private readonly options: RecorderOptions) {
    this.backend = options.backend;
    this.endpoints = options.endpoints;
    this.queue = options.queue;
    this.config = options.config;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
  }

  // --- transitions

  /** After an occupancy change of `delta` that left `total` subscriptions on the channel. */
  channelCountChanged(appId: string, channel: string, total: number, delta: number): void {
    const stream = streamKey(appId, channel);
    const occupied = delta > 0 && total === delta;
    if ((occupied || (delta < 0 && total === 0)) && (this.endpoints.wants(appId, 'channel_occupied') || this.endpoints.wants(appId, 'channel_vacated'))) {
      this.reconcileSoon(appId, { kind: 'channel', stream }, occupied);
    }
    // Pusher sends subscription counts for every channel but presence ones.
    if (this.endpoints.wants(appId, 'subscription_count') && !channel.startsWith('presence-')) {
      this.reconcileSoon(appId, { kind: 'count', stream });
    }
  }

  /** After a user's first connection joined (`joined`), or last one left, a presence channel. */
  memberChanged(appId: string, channel: string, userId: string, joined: boolean): void {
    if (!this.endpoints.wants(appId, 'member_added') && !this.endpoints.wants(appId, 'member_removed')) return;
    this.reconcileSoon(appId, { kind: 'member', stream: streamKey(appId, channel), userId }, joined);
  }

  /** After a signed-in user's first connection opened (`online`), or last one closed, anywhere in the cluster. */
  userChanged(appId: string, userId: string, online: boolean): void {
    if (!this.wantsUsers(appId)) return;
    this.reconcileSoon(appId, { kind: 'member', stream: streamKey(appId, ONLINE_USERS_CHANNEL), userId }, online);
  }

  wantsUsers(appId: string): boolean {
    return this.endpoints.wants(appId, 'user_online') || this.endpoints.wants(appId, 'user_offline');
  }

  /**
   * Reconciles a subject now and schedules its drains; while a leave waits, schedules its
   * check too (unless `scheduleCheck` is false: the caller is that check). `edge` says the
   * caller's own step saw the subject become present (see OutboxReconcile.edge). Returns
   * the milliseconds until the leave may be recorded (0: none waits). Rejects on backend faults.
   */
  async reconcile(appId: string, subject: OutboxSubject, edge = false, scheduleCheck = true): Promise<number> {
    const outbox = this.backend.outbox!;
    const request = this.requestFor(appId, subject);
    const result = await outbox.reconcile(edge ? { ...request, edge: 'up' } : request);
    await this.scheduleDrains(result.drains);
    if (result.dueInMs > 0 && scheduleCheck) await this.queue.enqueue([checkJob(appId, subject, result.dueInMs, result.absentSince)]);
    return result.dueInMs;
  }

  /**
   * Compares the announced state of an app's channels, members and users with the actual
   * one and reconciles every subject that differs (see the module comment).
   */
  async sweep(appId: string): Promise<void> {
    const outbox = this.backend.outbox!;
    const reported = await outbox.reportedUp(appId);
    const reportedChannels = new Set<string>();
    const reportedMembers = new Map<string, Set<string>>();
    for (const subject of reported) {
      if (subject.kind === 'channel') reportedChannels.add(subject.stream);
      else if (subject.kind === 'member') setOf(reportedMembers, subject.stream).add(subject.userId);
    }
    const occupied = await this.backend.occupancy.list(streamKey(appId, ''));
    if (this.endpoints.wants(appId, 'channel_occupied') || this.endpoints.wants(appId, 'channel_vacated')) {
      for (const stream of new Set([...occupied.keys(), ...reportedChannels])) {
        if ((occupied.get(stream) ?? 0) > 0 !== reportedChannels.has(stream)) await this.reconcile(appId, { kind: 'channel', stream });
      }
    }
    const memberStreams = new Set(reportedMembers.keys());
    if (this.endpoints.wants(appId, 'member_added') || this.endpoints.wants(appId, 'member_removed')) {
      for (const stream of occupied.keys()) if (parseStreamKey(stream).channel.startsWith('presence-')) memberStreams.add(stream);
    }
    if (this.wantsUsers(appId)) memberStreams.add(streamKey(appId, ONLINE_USERS_CHANNEL));
    for (const stream of memberStreams) {
      const actual = new Set((await this.backend.presence.members(stream)).map((member) => member.userId));
      const announced = reportedMembers.get(stream) ?? new Set<string>();
      for (const userId of new Set([...actual, ...announced])) {
        if (actual.has(userId) !== announced.has(userId)) await this.reconcile(appId, { kind: 'member', stream, userId });
      }
    }
  }

  private reconcileSoon(appId: string, subject: OutboxSubject, edge = false): void {
    const work = (async () => {
      for (let attempt = 1; attempt <= RECONCILE_TRIES && !this.closed; attempt++) {
        try {
          await this.reconcile(appId, subject, edge);
          return;
        } catch (error) {
          if (attempt === RECONCILE_TRIES) {
            this.unsettledApps.add(appId);
            this.logger.warn({ err: error, app: appId }, 'webhook state could not be recorded; the app will be swept when the backend answers');
            return;
          }
          await pause(Math.min(5000, RETRY_BASE_MS * 2 ** (attempt - 1)));
        }
      }
    })();
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
  }

  private requestFor(appId: string, subject: OutboxSubject): OutboxReconcile {
    const { channel } = parseStreamKey(subject.stream);
    const downDelayMs = this.config.leaveDelayMs;
    if (subject.kind === 'channel') {
      return this.transition(appId, subject, downDelayMs, channel, channel, channelOccupied(channel), channelVacated(channel));
    }
    if (subject.kind === 'count') {
      const body = subscriptionCount(channel);
      return this.transition(appId, subject, 0, channel, channel, body, body);
    }
    if (channel === ONLINE_USERS_CHANNEL) {
      return this.transition(appId, subject, downDelayMs, undefined, subject.userId, userOnline(subject.userId), userOffline(subject.userId));
    }
    return this.transition(appId, subject, downDelayMs, channel, channel, memberAdded(channel, subject.userId), memberRemoved(channel, subject.userId));
  }

  private transition(
    appId: string,
    subject: OutboxSubject,
    downDelayMs: number,
    channel: string | undefined,
    partitionKey: string,
    up: WebhookEventBody,
    down: WebhookEventBody,
  ): OutboxReconcile {
    return {
      subject,
      scope: appId,
      downDelayMs,
      up: { lanes: this.endpoints.lanesFor(appId, up.name, channel, partitionKey), body: JSON.stringify(up) },
      down: { lanes: subject.kind === 'count' ? [] : this.endpoints.lanesFor(appId, down.name, channel, partitionKey), body: JSON.stringify(down) },
    };
  }

  // --- edges

  /** True when some endpoint of the app wants this event type (check before building an event). */
  wants(appId: string, type: WebhookEventType): boolean {
    return this.endpoints.wants(appId, type);
  }

  /**
   * Records an event that happened on this node. `channel` is matched against endpoint
   * filters (undefined: no channel); `id` defaults to a fresh one.
   */
  record(appId: string, body: WebhookEventBody, channel: string | undefined, partitionKey: string, id?: string, settles?: OwedWebhook): void {
    const lanes = this.endpoints.lanesFor(appId, body.name, channel, partitionKey);
    if (lanes.length === 0 || this.closed) {
      // Owed but not wanted any more (the endpoints changed since the append asked): nothing to record, nothing owed.
      if (settles !== undefined && lanes.length === 0) void this.settleUnrecorded(settles);
      return;
    }
    const item = laneItemText(id ?? this.nextId(), this.now(), body);
    const stream = orderStream(appId, channel);
    if (settles === undefined) for (const lane of lanes) this.buffer.push({ lane, item, stream });
    else for (const lane of lanes) this.buffer.push({ lane, item, stream, settles });
    if (this.buffer.length > MAX_BUFFERED) {
      const dropped = this.buffer.length - MAX_BUFFERED;
      this.buffer.splice(0, dropped);
      this.logger.error({ dropped }, 'webhook events dropped: the backend has not taken them for too long');
      this.options.events?.dropped?.(dropped);
    }
    this.flushSoon(0);
  }

  /**
   * Records, now, an event whose owed `webhook` marker another registration left (a dead
   * node's, taken over by its reaper): recorded only if the marker is still owed, in the
   * outbox append that settles it (so the dead node's own recording, had it happened,
   * and this one are never both kept). Rejects on backend faults (the marker stays).
   */
  async recordOwed(appId: string, body: WebhookEventBody, channel: string, id: string, settles: OwedWebhook): Promise<void> {
    const lanes = this.endpoints.lanesFor(appId, body.name, channel, channel);
    if (lanes.length === 0) return this.settleUnrecorded(settles, true);
    const item = laneItemText(id, this.now(), body);
    const stream = orderStream(appId, channel);
    const drains = await this.backend.outbox!.append(lanes.map((lane) => ({ lane, item, stream, settles })));
    await this.scheduleDrains(drains);
  }

  /**
   * Settles an owed `webhook` marker whose event is not recorded (no endpoint takes it
   * now). A failure is logged and the marker left to this node's reaper, or, with
   * `rethrow` (a reaper's own take-over), thrown.
   */
  async settleUnrecorded(settles: OwedWebhook, rethrow = false): Promise<void> {
    try {
      await this.backend.owed?.settle(settles.owner, 'webhook', settles.stream, settles.seq);
    } catch (error) {
      if (rethrow) throw error;
      this.logger.warn({ err: error }, 'an owed webhook marker could not be settled; the reaper of this node will');
    }
  }

  /**
   * Records an event that several nodes may report (e.g. a bot session's end): recorded
   * once per `onceKey` within `onceTtlMs`.
   */
  async recordOnce(appId: string, body: WebhookEventBody, channel: string | undefined, partitionKey: string, onceKey: string, onceTtlMs: number): Promise<void> {
    const lanes = this.endpoints.lanesFor(appId, body.name, channel, partitionKey);
    if (lanes.length === 0) return;
    const item = laneItemText(onceKey, this.now(), body);
    const stream = orderStream(appId, channel);
    const drains = await this.backend.outbox!.append(lanes.map((lane) => ({ lane, item, stream })), { key: onceKey, ttlMs: onceTtlMs });
    await this.scheduleDrains(drains);
  }

  /** Waits until the buffer is written and started reconciles are done (tests, shutdown). */
  async flush(): Promise<void> {
    for (let i = 0; i < 1000 && (this.buffer.length > 0 || this.flushing || this.inflight.size > 0); i++) {
      if (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      else await pause(5);
    }
  }

  async close(): Promise<void> {
    await Promise.race([this.flush(), pause(2000)]);
    this.closed = true;
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    if (this.buffer.length > 0) this.logger.warn({ items: this.buffer.length }, 'closing with webhook events not yet recorded');
  }

  private flushSoon(delayMs: number): void {
    if (this.flushing || this.flushTimer !== null) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flushNow();
    }, delayMs);
  }

  private async flushNow(): Promise<void> {
    this.flushing = true;
    let failures = 0;
    try {
      while (this.buffer.length > 0 && !this.closed) {
        const batch = this.buffer.slice(0, batchEnd(this.buffer));
        try {
          const drains = await this.backend.outbox!.append(batch);
          this.buffer.splice(0, batch.length);
          failures = 0;
          await this.scheduleDrains(drains).catch((error: unknown) => this.logger.warn({ err: error }, 'webhook drains not scheduled; the lane sweep will'));
        } catch (error) {
          failures++;
          if (failures === 1) this.logger.warn({ err: error, items: this.buffer.length }, 'webhook events wait for the backend');
          await pause(Math.min(5000, RETRY_BASE_MS * 2 ** (failures - 1)));
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async scheduleDrains(drains: readonly OutboxDrain[]): Promise<void> {
    if (drains.length > 0) await this.queue.enqueue(drains.map(drainJob));
  }

  private nextId(): string {
    return `${this.idPrefix}-${(++this.idCounter).toString(36)}`;
  }
}

/**
 * The stream whose transitions an event recorded here must stay in order with (a store
 * that keeps lanes in parts keeps each stream's items in one): its channel's, or, for
 * user events without a channel, the online-users stream of `user_online`/`user_offline`.
 */
function orderStream(appId: string, channel: string | undefined): string {
  return streamKey(appId, channel ?? ONLINE_USERS_CHANNEL);
}

/**
 * Where the next append's batch ends: APPEND_BATCH items, extended so that the items of
 * one owed marker (one event's lanes, contiguous in the buffer) are never split, since the
 * append that settles a marker records only the items it carries.
 */
function batchEnd(buffer: readonly OutboxAppendItem[]): number {
  let end = Math.min(APPEND_BATCH, buffer.length);
  const last = buffer[end - 1]?.settles;
  while (last !== undefined && end < buffer.length && buffer[end]!.settles === last) end++;
  return end;
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  return set;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
