/**
 * The webhook service: one per node. It records events into the backend outbox
 * (recorder.ts), runs this node's delivery workers on the `webhooks` job queue
 * (dispatcher.ts), tracks signed-in users for `user_online`/`user_offline`
 * (online-users.ts), and serves the dead-letter list and replay for the signed REST routes.
 *
 * Publishing never waits for webhooks: the core's hooks only hand this service a note
 * (O(1), no await); recording happens after, delivery in the queue's workers.
 */
import type { Logger } from 'pino';
import type { Backend, JobQueue, OutboxStore } from '../backends/ports.ts';
import type { AppConfig, Config } from '../config/schema.ts';
import { DeadLetterBox } from '../delivery/dead-letters.ts';
import { createError } from '../errors.ts';
import type { AppendedMessage, CoreObservers, OwedRef } from '../core/observers.ts';
import type { MessageRecord } from '../core/types.ts';
import { FailureRun } from '../core/failure-run.ts';
import { WebhookDispatcher, SWEEP_INTERVAL_MS, type DeliveryObserver, type WebhookDeadLetter } from './dispatcher.ts';
import { WebhookEndpoints } from './endpoints.ts';
import { botEvent, cacheMiss, eventOf, eventOfMessage, MESSAGE_EVENT_TYPES, parseLaneItem, type BotSessionEvent } from './events.ts';
import { drainJob, WEBHOOK_QUEUE } from './jobs.ts';
import { OnlineUsers } from './online-users.ts';
import { ONLINE_USERS_CHANNEL, WebhookRecorder } from './recorder.ts';
import { HttpWebhookSender, type WebhookSender } from './sender.ts';

/** How long a once-only event (a bot session's end) is remembered against repeats, in milliseconds. */
const ONCE_TTL_MS = 3_600_000;

export interface WebhookServiceOptions {
  readonly config: Config;
  readonly backend: Backend;
  /** The id this node's presence entries are stored under (the core's; read at each use). */
  readonly nodeId: () => string;
  readonly logger: Logger;
  /** Sends requests; default HTTP(S). Tests substitute their own. */
  readonly sender?: WebhookSender;
  readonly now?: () => number;
}

/** A dead letter as the REST route lists it (its events as they were sent). */
export interface DeadLetterView {
  readonly id: string;
  readonly url: string;
  readonly attempts: number;
  readonly reason: string;
  readonly at: string;
  readonly events: readonly Record<string, unknown>[];
}

export class WebhookService {
  readonly endpoints: WebhookEndpoints;
  readonly recorder: WebhookRecorder;
  readonly dispatcher: WebhookDispatcher;
  readonly users: OnlineUsers;
  private readonly outbox: OutboxStore;
  private readonly queue: JobQueue;
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly sender: WebhookSender;
  private readonly deadLetterBox: DeadLetterBox<WebhookDeadLetter>;
  private readonly observers = new Set<DeliveryObserver>();
  private readonly droppedObservers = new Set<(count: number) => void>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private started = false;
  private sweeping: Promise<void> | null = null;
  /** Sweeps failed in a row: the first is a warn, the rest debug lines, and the first success after them a warn. */
  /** The lane sweep's failures in the log (core/failure-run.ts). */
  private readonly sweepFailures: FailureRun;
  /** Apps with an endpoint wanting some message event. */
  private messageApps: ReadonlySet<string> = new Set();
  /** The apps of the running config, by id (the dispatcher signs with their key and secret). */
  private apps: ReadonlyMap<string, AppConfig> = new Map();

  constructor(options: WebhookServiceOptions) {
    const { backend, config } = options;
    if (backend.outbox === undefined || backend.queues === undefined || backend.hashes === undefined) {
      throw createError('RC_ERR_WEBHOOKS_UNAVAILABLE', backend.driver);
    }
    this.config = config;
    this.logger = options.logger.child({ module: 'webhooks' });
    this.sweepFailures = new FailureRun(this.logger, backend.outage, 'failedWebhookSweeps', {
      failed: 'webhook sweep failed; trying again later (further failures are debug lines until one works)',
      failedAgain: 'webhook sweep failed; trying again later',
      worksAgain: (failures) => `webhook sweep works again after ${failures} failed sweeps`,
      countField: 'failedSweeps',
    });
    this.outbox = backend.outbox;
    this.queue = backend.queues.queue(WEBHOOK_QUEUE, { lockMs: config.webhookDelivery.failoverMs });
    this.endpoints = new WebhookEndpoints(config.apps, config.webhookDelivery.lanesPerEndpoint);
    this.sender = options.sender ?? new HttpWebhookSender(config.webhookDelivery.timeoutMs);
    this.deadLetterBox = new DeadLetterBox<WebhookDeadLetter>(backend.hashes, (appId) => `wh:dlq:${appId}`, config.webhookDelivery.deadLetterTtlSec * 1000);
    this.recorder = new WebhookRecorder({
      backend,
      endpoints: this.endpoints,
      queue: this.queue,
      config: config.webhookDelivery,
      logger: this.logger,
      events: { dropped: (count) => this.droppedObservers.forEach((listener) => listener(count)) },
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    this.dispatcher = new WebhookDispatcher({
      outbox: this.outbox,
      queue: this.queue,
      endpoints: this.endpoints,
      recorder: this.recorder,
      sender: this.sender,
      deadLetters: this.deadLetterBox,
      apps: (appId) => this.apps.get(appId),
      config: config.webhookDelivery,
      logger: this.logger,
      observe: (appId, outcome, events, latencyMs) => {
        for (const observer of this.observers) {
          try {
            observer(appId, outcome, events, latencyMs);
          } catch (error) {
            this.logger.warn({ err: error }, 'a webhook delivery observer threw');
          }
        }
      },
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    this.users = new OnlineUsers(backend.presence, this.recorder, options.nodeId, this.logger);
    this.reconfigure(config);
  }

  /**
   * Applies the apps of a (reloaded) config: endpoints, their filters and event types,
   * and the key and secret requests are signed with. Delivery settings
   * (`webhookDelivery`) apply after a restart.
   */
  reconfigure(config: Config): void {
    this.endpoints.update(config.apps);
    this.apps = new Map(config.apps.map((app) => [app.id, app]));
    this.messageApps = new Set(config.apps.filter((app) => MESSAGE_EVENT_TYPES.some((type) => this.endpoints.wants(app.id, type))).map((app) => app.id));
  }

  /** Listens to the core's reports of what this node did. Returns the function that stops listening. */
  attach(observers: CoreObservers): () => void {
    const { recorder } = this;
    return observers.add({
      occupancyChanged: (appId, channel, total, delta) => recorder.channelCountChanged(appId, channel, total, delta),
      memberChanged: (appId, channel, userId, joined) =>
        channel === ONLINE_USERS_CHANNEL ? recorder.userChanged(appId, userId, joined) : recorder.memberChanged(appId, channel, userId, joined),
      entriesRemoved: () => this.nodeReaped(),
      reregistered: () => {
        this.users.rejoinAll();
        this.nodeReaped();
      },
      wantsMessages: (appId) => this.messageApps.has(appId),
      messageAppended: (message) => this.messagePublished(message),
      owes: (appId, channel, record) => this.owes(appId, channel, record),
      settleOwed: (message) => this.takeOver(message),
      cacheMissed: (appId, channel) => this.cacheMissed(appId, channel),
      userSignedIn: (appId, connectionId, userId) => this.users.signedIn(appId, connectionId, userId),
      userSignedOut: (appId, connectionId) => this.users.signedOut(appId, connectionId),
      botSession: ({ kind, ...event }) => this.botSession(kind, event),
    });
  }

  /** Registers a listener for delivery outcomes on this node (metrics). */
  observeDeliveries(listener: DeliveryObserver): void {
    this.observers.add(listener);
  }

  /** Registers a listener for events dropped before they were recorded (metrics). */
  observeDropped(listener: (count: number) => void): void {
    this.droppedObservers.add(listener);
  }

  /** Starts this node's workers (when `webhookDelivery.workers`) and the lane sweep. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.config.webhookDelivery.workers) this.queue.process(this.dispatcher.handle, this.config.webhookDelivery.concurrency);
    this.users.start();
    this.sweepTimer = setInterval(() => void this.periodicSweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  /** Records what is still buffered, then stops the workers (running deliveries finish) and closes connections. */
  async close(): Promise<void> {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.users.stop();
    await this.sweeping;
    await this.recorder.close();
    await this.queue.close().catch((error: unknown) => this.logger.warn({ err: error }, 'closing the webhook queue failed'));
    this.sender.close();
  }

  // --- what the core reports (each returns at once; recording happens after)

  /**
   * A message this node appended (every door's publishes, mutations and annotations).
   * When its append stored an owed `webhook` marker, the recording settles it.
   */
  messagePublished(message: AppendedMessage): void {
    const body = eventOfMessage(message);
    const owed = message.owed?.kinds.includes('webhook') === true ? message.owed : undefined;
    const settles = owed === undefined ? undefined : { owner: owed.owner, stream: owed.stream, seq: owed.seq };
    if (body === null || !this.recorder.wants(message.appId, body.name)) {
      // Owed when the append asked, not wanted now (the endpoints changed meanwhile).
      if (settles !== undefined) void this.recorder.settleUnrecorded(settles);
      return;
    }
    this.recorder.record(message.appId, body, message.channel, message.channel, messageEventId(message), settles);
  }

  /**
   * Whether a publish about to be appended owes a webhook: some endpoint of its app takes
   * its event (type and channel filter). Only apps with message events configured do any
   * work here.
   */
  private owes(appId: string, channel: string, record: MessageRecord): 'webhook' | null {
    if (!this.messageApps.has(appId)) return null;
    const body = eventOfMessage({ appId, channel, serial: '', time: 0, record });
    return body !== null && this.endpoints.lanesFor(appId, body.name, channel, channel).length > 0 ? 'webhook' : null;
  }

  /** Records the webhook event a removed registration owed (its reaper calls this); see WebhookRecorder.recordOwed. */
  private async takeOver(message: AppendedMessage & { readonly owed: OwedRef }): Promise<void> {
    const { owed } = message;
    if (!owed.kinds.includes('webhook')) return;
    const settles = { owner: owed.owner, stream: owed.stream, seq: owed.seq };
    const body = eventOfMessage(message);
    if (body === null) await this.recorder.settleUnrecorded(settles, true);
    else await this.recorder.recordOwed(message.appId, body, message.channel, messageEventId(message), settles);
  }

  /** A subscriber of a cache channel found nothing cached. */
  cacheMissed(appId: string, channel: string): void {
    if (this.recorder.wants(appId, 'cache_miss')) this.recorder.record(appId, cacheMiss(channel), channel, channel);
  }

  /** A bot session joined or left its room (once per session and kind, whichever node reports it). */
  botSession(kind: 'bot_joined' | 'bot_left', event: BotSessionEvent): void {
    if (!this.recorder.wants(event.appId, kind)) return;
    void this.recorder
      .recordOnce(event.appId, botEvent(kind, event), event.channel, event.channel, `${kind}/${event.session}`, ONCE_TTL_MS)
      .catch((error: unknown) => this.logger.warn({ err: error, app: event.appId }, `${kind} could not be recorded`));
  }

  /** After a dead node's members and subscriptions were removed: announce what that changed. */
  nodeReaped(): void {
    for (const appId of this.endpoints.appIds()) this.recorder.unsettledApps.add(appId);
    void this.periodicSweep();
  }

  // --- operators

  /** The app's dead letters, with their events as they were (and will be) sent. */
  async deadLetters(appId: string): Promise<DeadLetterView[]> {
    const letters = await this.deadLetterBox.list(appId);
    return letters.map(({ id, letter }) => ({
      id,
      url: letter.url,
      attempts: letter.attempts,
      reason: letter.reason,
      at: letter.at,
      events: letter.items.flatMap((text) => {
        const item = parseLaneItem(text);
        return item === null ? [] : [eventOf(item)];
      }),
    }));
  }

  /**
   * Puts dead letters back at the end of their lanes (delivered after what is queued
   * there now). `ids` undefined: every listed letter, oldest recorded event first, so the
   * letters of one lane keep their order (the store lists them in no order); `ids` given:
   * in that order. Each letter is replayed once even when two operators replay it at the
   * same time. Returns the ids replayed.
   */
  async replay(appId: string, ids?: readonly string[]): Promise<string[]> {
    const wanted = ids ?? (await this.deadLetterBox.list(appId)).sort(byFirstRecorded).map((letter) => letter.id);
    const replayed: string[] = [];
    for (const id of wanted) {
      const letter = await this.deadLetterBox.take(appId, id);
      if (letter === null) {
        if (ids !== undefined) throw createError('RC_ERR_WEBHOOKS_DEAD_LETTER_NOT_FOUND', JSON.stringify(id));
        continue;
      }
      const drains = await this.outbox.append(letter.items.map((item) => ({ lane: letter.lane, item })));
      if (drains.length > 0) await this.queue.enqueue(drains.map(drainJob));
      replayed.push(id);
    }
    return replayed;
  }

  /** Items waiting in lanes, cluster-wide (for metrics). */
  async queuedEvents(): Promise<number> {
    let total = 0;
    for (const { length } of (await this.outbox.activeLanes()).values()) total += length;
    return total;
  }

  private periodicSweep(): Promise<void> {
    // One sweep at a time; a request during one is served by the next timer tick.
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    try {
      for (const appId of [...this.recorder.unsettledApps]) {
        this.recorder.unsettledApps.delete(appId);
        try {
          await this.recorder.sweep(appId);
        } catch (error) {
          this.recorder.unsettledApps.add(appId);
          throw error;
        }
      }
      await this.dispatcher.sweepLanes();
      this.sweepFailures.succeeded();
    } catch (error) {
      // A backend outage fails every sweep until it ends: the backend's episode tells it,
      // or else one warn, then debug lines.
      this.sweepFailures.failed(error);
    }
  }
}

/** The id of a message's webhook event: the same on every node, whoever records it. */
function messageEventId(message: AppendedMessage): string {
  return `m/${message.channel}/${message.serial}`;
}

/** When a dead letter's first event was recorded (its lane order), then when it was dead-lettered. */
function byFirstRecorded(a: { readonly letter: WebhookDeadLetter }, b: { readonly letter: WebhookDeadLetter }): number {
  const recorded = (letter: WebhookDeadLetter): number => parseLaneItem(letter.items[0] ?? '')?.t ?? Number.MAX_SAFE_INTEGER;
  return recorded(a.letter) - recorded(b.letter) || a.letter.at.localeCompare(b.letter.at);
}
