/**
 * The push service: one object per node that the REST routes call. It wires the stores
 * (on the backend's hashes), the admission path, the delivery worker on the backend's
 * job queue, the provider adapters, and the `extras.push` admission of the channel
 * messages this node appends.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { HashStore, JobQueue } from '../backends/ports.ts';
import type { AppConfig } from '../config/schema.ts';
import type { Core } from '../core/core.ts';
import type { AppendedMessage, OwedRef } from '../core/observers.ts';
import { isCreateRecord, type MessageRecord } from '../core/types.ts';
import { createError } from '../errors.ts';
import { CredentialStore } from './credentials.ts';
import { DeviceRegistry } from './devices.ts';
import { asBody, field, requiredId, requiredString } from './fields.ts';
import { jobIds } from './keys.ts';
import { ApnsProvider } from './providers/apns.ts';
import { FcmProvider } from './providers/fcm.ts';
import type { PushProvider } from './providers/types.ts';
import { WebPushProvider } from './providers/webpush.ts';
import { admitPlan, channelPushId, channelPushNotification, planPublish, resumeAdmission, type AdmissionDeps, type PublishPlan } from './publish.ts';
import { isReceipt, isTerminal, StatusStore, type PublishStatus } from './status.ts';
import { SubscriptionRegistry } from './subscriptions.ts';
import { TemplateStore } from './templates.ts';
import type { Platform } from './types.ts';
import { pushDeadLetters, PushWorker, type DeliveryOutcome, type PushDeadLetter } from './worker.ts';

/** The queue every push job runs on. */
export const PUSH_QUEUE = 'push';
const SYNC_POLL_MS = 50;
/**
 * An `extras.push` admission that fails on the backend is tried this many times in all,
 * waiting CHANNEL_PUSH_RETRY_MS, then twice that, … between tries: the event is already
 * published, and only the node that appended it admits its push.
 */
const CHANNEL_PUSH_ATTEMPTS = 4;
const CHANNEL_PUSH_RETRY_MS = 200;
/**
 * An owed `extras.push` whose tries all failed is tried again every this many
 * milliseconds while this node runs (its marker stays owed meanwhile, so if the node dies
 * first, its reaper takes it over).
 */
const CHANNEL_PUSH_LATER_MS = 2000;
/** Owed pushes kept for those later tries at most; beyond, they wait for this node's reaper. */
const CHANNEL_PUSH_LATER_MAX = 10_000;

export interface PushServiceOptions {
  readonly core: Core;
  readonly logger: Logger;
  /** Provider adapters to use instead of the real ones (tests of the worker only). */
  readonly providers?: Readonly<Record<Platform, PushProvider>>;
  readonly now?: () => number;
}

export interface PublishReply {
  /** 202 when accepted (async, or sync past its bound); 200 when a sync publish finished. */
  readonly httpStatus: 200 | 202;
  readonly body: { readonly publish_id: string; readonly status?: PublishStatus };
}

export class PushService {
  readonly devices: DeviceRegistry;
  readonly subscriptions: SubscriptionRegistry;
  readonly credentials: CredentialStore;
  readonly templates: TemplateStore;
  readonly statuses: StatusStore;
  private readonly core: Core;
  private readonly logger: Logger;
  private readonly hashes: HashStore;
  private readonly queue: JobQueue;
  private readonly providers: Readonly<Record<Platform, PushProvider>>;
  private readonly admission: AdmissionDeps;
  readonly worker: PushWorker;
  /** Stops admitting the `extras.push` of this node's appends; null while stopped. */
  private unobserve: (() => void) | null = null;
  /** Owed pushes whose admission gave up on backend faults, by publish id: tried again every CHANNEL_PUSH_LATER_MS. */
  private readonly later = new Map<string, AppendedMessage>();
  private laterTimer: NodeJS.Timeout | null = null;
  private readonly observers = new Set<(platform: Platform, outcome: DeliveryOutcome) => void>();

  constructor(options: PushServiceOptions) {
    const { core } = options;
    const hashes = core.backend.hashes;
    const queues = core.backend.queues;
    if (hashes === undefined || queues === undefined) throw createError('RC_ERR_PUSH_UNAVAILABLE', core.backend.driver);
    const config = core.config.push;
    const now = options.now ?? Date.now;
    this.core = core;
    this.logger = options.logger.child({ module: 'push' });
    this.hashes = hashes;
    this.queue = queues.queue(PUSH_QUEUE);
    this.devices = new DeviceRegistry(hashes, now, config.webPushAllowHttp);
    const maxChannel = Math.max(...core.config.apps.map((app) => app.limits.maxChannelNameLength), 200);
    this.subscriptions = new SubscriptionRegistry(hashes, this.devices, maxChannel, now);
    this.credentials = new CredentialStore(hashes, now);
    this.templates = new TemplateStore(hashes, now);
    this.statuses = new StatusStore(hashes, config.statusTtlSec * 1000, now);
    this.providers = options.providers ?? {
      apns: new ApnsProvider({ baseUrl: config.apnsBaseUrl, timeoutMs: config.providerTimeoutMs, now }),
      fcm: new FcmProvider({ baseUrl: config.fcmBaseUrl, timeoutMs: config.providerTimeoutMs }),
      web: new WebPushProvider({ timeoutMs: config.providerTimeoutMs }),
    };
    this.admission = { config, hashes, queue: this.queue, statuses: this.statuses, templates: this.templates, maxChannelNameLength: maxChannel, now };
    this.worker = new PushWorker({
      config,
      hashes,
      queue: this.queue,
      statuses: this.statuses,
      devices: this.devices,
      subscriptions: this.subscriptions,
      credentials: this.credentials,
      providers: this.providers,
      logger: this.logger,
      now,
      observe: (platform, outcome) => {
        for (const observer of this.observers) {
          try {
            observer(platform, outcome);
          } catch (error) {
            this.logger.warn({ err: error }, 'a delivery observer threw');
          }
        }
      },
    });
  }

  /** Registers a listener for every delivery outcome on this node (metrics). */
  observeDeliveries(listener: (platform: Platform, outcome: DeliveryOutcome) => void): void {
    this.observers.add(listener);
  }

  /**
   * Starts this node's delivery workers and the `extras.push` admission. A channel event's
   * push is admitted by the node that appended it, from the append it confirmed, so no
   * node needs to receive channels it has no subscribers in (interest routing), and a
   * node without workers admits what it publishes for the workers elsewhere.
   */
  start(): void {
    if (this.core.config.push.workers) this.queue.process(this.worker.handle, this.core.config.push.concurrency);
    this.unobserve ??= this.core.observers.add({
      wantsMessages: () => true,
      messageAppended: (message) => this.onChannelMessage(message),
      owes: (_appId, _channel, record) => (pushOf(record) === undefined ? null : 'push'),
      settleOwed: (message) => this.takeOver(message),
    });
  }

  /** Stops the admission and the workers (running deliveries finish) and closes provider connections. */
  async close(): Promise<void> {
    this.unobserve?.();
    this.unobserve = null;
    if (this.laterTimer !== null) clearTimeout(this.laterTimer);
    this.laterTimer = null;
    await this.queue.close().catch((error: unknown) => this.logger.warn({ err: error }, 'closing the push queue failed'));
    await Promise.all(Object.values(this.providers).map((provider) => provider.close().catch(() => undefined)));
  }

  /**
   * Admits a publish. Async: 202 with the id once durable. Sync: waits for a terminal
   * state up to `push.syncTimeoutMs`, then answers 200 with the status (or 202 if still
   * running). A replayed `idempotency_key` returns the first publish id and enqueues nothing.
   */
  async publish(app: AppConfig, raw: unknown): Promise<PublishReply> {
    const plan = await planPublish(this.admission, app.id, raw);
    const admit = async (): Promise<string> => (await admitPlan(this.admission, app.id, plan))!;
    const publishId = plan.idempotencyKey === undefined ? await admit() : (await this.core.idempotent(app, 'push-publish', plan.idempotencyKey, raw, admit)).reply;
    if (!plan.sync) return { httpStatus: 202, body: { publish_id: publishId } };
    const deadline = Date.now() + this.core.config.push.syncTimeoutMs;
    for (;;) {
      const status = await this.statuses.read(app.id, publishId);
      if (isTerminal(status.state)) return { httpStatus: 200, body: { publish_id: publishId, status } };
      if (Date.now() >= deadline) return { httpStatus: 202, body: { publish_id: publishId, status } };
      await new Promise((resolve) => setTimeout(resolve, SYNC_POLL_MS));
    }
  }

  status(appId: string, publishId: string): Promise<PublishStatus> {
    return this.statuses.read(appId, publishId);
  }

  /** Cancels a publish whose expand job has not started (scheduled, or still queued). */
  async cancel(appId: string, publishId: string): Promise<PublishStatus> {
    const status = await this.statuses.read(appId, publishId);
    if (status.state === 'cancelled') return status;
    if (status.state !== 'scheduled' && status.state !== 'queued') throw createError('RC_ERR_PUSH_NOT_CANCELLABLE', JSON.stringify(publishId), status.state);
    // Removal fails when a worker has just taken the job: then it is no longer cancellable.
    if (!(await this.queue.remove(jobIds.expand(appId, publishId)))) {
      throw createError('RC_ERR_PUSH_NOT_CANCELLABLE', JSON.stringify(publishId), 'already started');
    }
    await this.statuses.setBase(appId, publishId, 'cancelled');
    return this.statuses.read(appId, publishId);
  }

  /**
   * A provider's (or the app's) delivery callback: `{ publish_id, device_id, status:
   * delivered | failed | gone, reason? }`. Only a device the publish was sent to may
   * report (anything else is 404, so a stray or forged callback cannot skew the status),
   * and only its first callback is counted in `receipts`; a repeat answers the status
   * unchanged. `gone` invalidates the device like a provider error would, repeat or not
   * (invalidating twice changes nothing).
   */
  async deliveryStatus(appId: string, raw: unknown): Promise<PublishStatus> {
    const body = asBody(raw, 'the delivery status');
    const publishId = requiredString(body, 'publish_id', 128);
    const deviceId = requiredId(body, 'device_id');
    const outcome = field(body, 'status');
    if (!isReceipt(outcome)) throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'status must be delivered, failed or gone');
    const reasonValue = field(body, 'reason');
    const reason = typeof reasonValue === 'string' && reasonValue !== '' ? reasonValue.slice(0, 200) : outcome;
    await this.statuses.read(appId, publishId); // 404 for an unknown publish
    if (!(await this.statuses.isPlanned(appId, publishId, deviceId))) {
      throw createError('RC_ERR_PUSH_DEVICE_NOT_IN_PUBLISH', JSON.stringify(deviceId), JSON.stringify(publishId));
    }
    await this.statuses.recordReceipt(appId, publishId, deviceId, outcome, reason);
    if (outcome === 'gone') await this.devices.invalidate(appId, deviceId, `callback: ${reason}`);
    return this.statuses.read(appId, publishId);
  }

  /** Jobs not finished on the push queue, cluster-wide; null when the queue cannot tell. */
  async queueDepth(): Promise<{ waiting: number; delayed: number; active: number } | null> {
    return (await this.queue.depth?.()) ?? null;
  }

  /** The app's dead letters (newest retention window). */
  deadLetters(appId: string): Promise<PushDeadLetter[]> {
    return pushDeadLetters(this.hashes, this.core.config.push).all(appId);
  }

  /**
   * A channel event carrying `extras.push`, appended by this node, goes to the channel's
   * push subscribers. The publish id is derived from the message serial and its status is
   * claimed atomically, so it is admitted once even if the append were reported twice.
   * Message changes (updates, deletes, annotations) carry no push.
   */
  private onChannelMessage(message: AppendedMessage): void {
    const push = pushOf(message.record);
    if (push === undefined) return;
    void this.admitChannelPush(message, push)
      .then((admitted) => {
        // Settled once admitted (or found admitted); a push not admitted stays owed, and the
        // node that reaps this one takes it over (core/owed-effects.ts).
        if (admitted) return this.settle(message);
      })
      .catch((error: unknown) => {
        const owed = message.owed?.kinds.includes('push') === true;
        this.logger.warn({ err: error, channel: message.channel, serial: message.serial }, owed ? 'extras.push was not admitted yet; it stays owed' : 'extras.push was not admitted');
        if (owed && this.later.size < CHANNEL_PUSH_LATER_MAX) {
          this.later.set(channelPushId(message.appId, message.channel, message.serial), message);
          this.retryLaterSoon();
        }
      });
  }

  private retryLaterSoon(): void {
    if (this.laterTimer !== null || this.unobserve === null) return;
    this.laterTimer = setTimeout(() => void this.retryLater(), CHANNEL_PUSH_LATER_MS);
    this.laterTimer.unref();
  }

  /**
   * Tries the owed pushes that gave up again, as a reaper would (`takeOver`: whatever
   * step the failed tries reached, the push is admitted once), and forgets each once
   * settled. No admission of them is in flight here any more, so none races this one.
   */
  private async retryLater(): Promise<void> {
    for (const [publishId, message] of [...this.later]) {
      if (this.unobserve === null) return;
      try {
        await this.takeOver(message as AppendedMessage & { readonly owed: OwedRef });
        this.later.delete(publishId);
      } catch (error) {
        this.logger.warn({ err: error, channel: message.channel, serial: message.serial }, 'extras.push still not admitted; trying again later');
        break;
      }
    }
    this.laterTimer = null;
    if (this.later.size > 0) this.retryLaterSoon();
  }

  /**
   * Takes over the `extras.push` a removed registration owed (its reaper calls this):
   * admits it under its derived id whatever step the dead publisher reached
   * (`resumeAdmission`), then settles the marker. Rejects on backend faults (the marker
   * stays for the next reap).
   */
  private async takeOver(message: AppendedMessage & { readonly owed: OwedRef }): Promise<void> {
    if (!message.owed.kinds.includes('push')) return;
    const push = pushOf(message.record);
    const plan = push === undefined ? null : this.channelPlan(message, push);
    if (plan !== null) await resumeAdmission(this.admission, message.appId, plan, channelPushId(message.appId, message.channel, message.serial));
    await this.settle(message);
  }

  /** Settles the message's owed `push` marker, if it has one. */
  private async settle(message: AppendedMessage): Promise<void> {
    const { owed } = message;
    if (owed === undefined || !owed.kinds.includes('push')) return;
    await this.core.backend.owed?.settle(owed.owner, 'push', owed.stream, owed.seq);
  }

  /** The plan of a channel event's push; null (logged) when its `extras.push` is not a valid notification, which no retry can change. */
  private channelPlan(message: AppendedMessage, push: Record<string, unknown>): PublishPlan | null {
    try {
      const notification = channelPushNotification(push, this.core.config.push.maxPayloadBytes);
      return { recipients: [{ type: 'channel', channel: message.channel }], notifications: { '': notification }, notBefore: 0, expiresAt: 0, sync: false };
    } catch (error) {
      this.logger.warn({ err: error, channel: message.channel, serial: message.serial }, 'extras.push is not a valid notification; no push');
      return null;
    }
  }

  /** Admits a channel event's push; true once admitted here or found admitted, false when there is nothing to admit or the service stopped. */
  private async admitChannelPush(message: AppendedMessage, push: Record<string, unknown>): Promise<boolean> {
    const plan = this.channelPlan(message, push);
    if (plan === null) return true;
    const publishId = channelPushId(message.appId, message.channel, message.serial);
    const { statuses } = this.admission;
    let failedHere = false;
    for (let attempt = 1; attempt <= CHANNEL_PUSH_ATTEMPTS; attempt++) {
      if (attempt > 1) await sleep(CHANNEL_PUSH_RETRY_MS * 2 ** (attempt - 2));
      if (this.unobserve === null) return false;
      try {
        // null: the id is claimed. Before any failure here, it was admitted already (the
        // same append reported twice). After one, the claim is the one our failed try could
        // not release, and nobody else will admit it: free it and try again (a job our
        // failed try may have left has the same id, so it cannot run twice).
        if ((await admitPlan(this.admission, message.appId, plan, publishId)) !== null || !failedHere) return true;
        await statuses.release(message.appId, publishId);
      } catch (error) {
        failedHere = true;
        if (attempt === CHANNEL_PUSH_ATTEMPTS) throw error;
        this.logger.warn({ err: error, channel: message.channel, serial: message.serial, attempt }, 'extras.push admission failed; trying again');
      }
    }
    throw createError('RC_ERR_BACKEND_UNAVAILABLE', 'push', `extras.push of ${message.channel} was not admitted after ${CHANNEL_PUSH_ATTEMPTS} tries`);
  }
}

/** A channel event's `extras.push` object; undefined when it carries none (message changes carry none either). */
function pushOf(record: MessageRecord): Record<string, unknown> | undefined {
  if (!isCreateRecord(record)) return undefined;
  const extras = record.extras;
  const push = extras !== undefined && Object.hasOwn(extras, 'push') ? extras.push : undefined;
  return push === undefined || push === null || typeof push !== 'object' ? undefined : (push as Record<string, unknown>);
}
