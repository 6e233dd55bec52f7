/**
 * The delivery pipeline. Two job kinds run on one queue:
 *
 * - expand: at `not_before`, finds the recipients' active devices, records `planned`
 *   and enqueues one device job per device (job id = publish + device, so a re-run
 *   after a crash adds nothing twice);
 * - device: sends one notification to one device and classifies the answer: delivered,
 *   gone (device invalidated), rejected (failed at once, with the reason), or retry
 *   (exponential backoff with jitter, never sooner than the provider's Retry-After; after
 *   `maxAttempts`, or when Retry-After is past `retryAfterMaxMs`, the job goes to the
 *   dead-letter list; a retry that could only run at or after `expires_at` is counted
 *   expired at once).
 *
 * At-least-once: a job whose node dies runs again elsewhere. A per-device "delivered"
 * marker (a hash field per publish) makes the re-run skip devices that were already delivered, so a device
 * gets a notification twice only if the node died between the provider's 200 and the
 * marker write.
 */
import type { Logger } from 'pino';
import type { HashStore, JobOutcome, JobQueue, RunningJob } from '../backends/ports.ts';
import type { PushConfig } from '../config/schema.ts';
import { DeadLetterBox } from '../delivery/dead-letters.ts';
import { backoffDelay } from '../delivery/retry.ts';
import type { CredentialStore } from './credentials.ts';
import type { DeviceRegistry } from './devices.ts';
import { jobIds, pushKeys } from './keys.ts';
import type { DeliveryResult, PushProvider } from './providers/types.ts';
import type { StatusStore } from './status.ts';
import type { SubscriptionRegistry } from './subscriptions.ts';
import type { Device, DeviceJob, Notification, Platform, PushJob, StoredPublish } from './types.ts';

/** Stored publishes cached per node (device jobs of one publish all need the same body). */
const PUBLISH_CACHE_SIZE = 1000;
/** Device jobs are enqueued in batches of this many (one round trip each on Redis). */
const ENQUEUE_BATCH = 500;

export interface WorkerDeps {
  readonly config: PushConfig;
  readonly hashes: HashStore;
  readonly queue: JobQueue;
  readonly statuses: StatusStore;
  readonly devices: DeviceRegistry;
  readonly subscriptions: SubscriptionRegistry;
  readonly credentials: CredentialStore;
  readonly providers: Readonly<Record<Platform, PushProvider>>;
  readonly logger: Logger;
  readonly now: () => number;
  readonly random?: () => number;
  /** Told every delivery outcome (metrics). Must not throw. */
  readonly observe?: (platform: Platform, outcome: DeliveryOutcome) => void;
}

/** What happened to one provider request (or to a device job that never reached one). */
export type DeliveryOutcome = 'delivered' | 'gone' | 'rejected' | 'retry' | 'dead_lettered';

/** A push dead letter, as `GET push/deadLetters` lists it. */
export interface PushDeadLetter {
  readonly job_id: string;
  readonly publish_id: string;
  readonly device_id: string;
  readonly attempts: number;
  readonly reason: string;
  readonly at: string;
}

/** The push dead-letter list of each app (`push:dlq:{app}`), kept `statusTtlSec`. */
export function pushDeadLetters(hashes: HashStore, config: PushConfig): DeadLetterBox<PushDeadLetter> {
  return new DeadLetterBox<PushDeadLetter>(hashes, pushKeys.deadLetters, config.statusTtlSec * 1000);
}

export class PushWorker {
  private readonly publishes = new Map<string, StoredPublish>();
  private readonly deadLetters: DeadLetterBox<PushDeadLetter>;

  constructor(private readonly deps: WorkerDeps) {
    this.deadLetters = pushDeadLetters(deps.hashes, deps.config);
  }

  /** The queue handler. Never throws for a bad job body: it is logged and dropped. */
  readonly handle = async (job: RunningJob): Promise<JobOutcome> => {
    let parsed: PushJob;
    try {
      parsed = JSON.parse(job.data) as PushJob;
    } catch {
      this.deps.logger.error({ jobId: job.id }, 'dropping a push job whose body is not JSON');
      return;
    }
    return parsed.kind === 'expand' ? this.expand(parsed.appId, parsed.publishId) : this.deliver(parsed, job);
  };

  private async expand(appId: string, publishId: string): Promise<void> {
    const { statuses } = this.deps;
    const base = await statuses.base(appId, publishId);
    if (base === null || base === 'cancelled' || base === 'expired') return;
    const publish = await this.publish(appId, publishId);
    if (publish === null) return;
    await statuses.setBase(appId, publishId, 'expanding');

    const deviceIds = new Set<string>();
    for (const recipient of publish.recipients) {
      if (recipient.type === 'device') deviceIds.add(recipient.deviceId);
      else if (recipient.type === 'client') for (const id of await this.deps.devices.idsOfClient(appId, recipient.clientId)) deviceIds.add(id);
      else await this.deps.subscriptions.deviceIdsOfChannel(appId, recipient.channel, deviceIds);
    }
    const ids = [...deviceIds];
    if (publish.expiresAt > 0 && this.deps.now() >= publish.expiresAt) {
      await statuses.setPlanned(appId, publishId, ids.length);
      await statuses.count(appId, publishId, 'expired', ids.length);
      await statuses.setBase(appId, publishId, 'expired');
      return;
    }
    // `planned` is set (not added), so a re-run of this job after a crash keeps it right.
    await statuses.setPlanned(appId, publishId, ids.length);
    for (let start = 0; start < ids.length; start += ENQUEUE_BATCH) {
      const slice = ids.slice(start, start + ENQUEUE_BATCH);
      // Delivery callbacks are accepted only for these devices.
      await statuses.recordPlanned(appId, publishId, slice);
      const batch = slice.map((deviceId) => {
        const body: DeviceJob = { kind: 'device', appId, publishId, deviceId };
        return { id: jobIds.device(appId, publishId, deviceId), data: JSON.stringify(body) };
      });
      await this.deps.queue.enqueue(batch);
    }
  }

  private async deliver(job: DeviceJob, running: RunningJob): Promise<JobOutcome> {
    const { appId, publishId, deviceId } = job;
    const { statuses, config } = this.deps;
    // This run no longer waits for its retry. The marker was set when the retry was
    // scheduled; removing it is atomic (HDEL on Redis), so a retry run that stalls and
    // runs again (BullMQ re-runs it with the same attempt number) un-counts it only once.
    // Checked on every run, not only attempt > 1: a node that dies after scheduling the
    // retry but before the queue recorded it re-runs the job as the same attempt.
    if (await this.deps.hashes.remove(pushKeys.retrying(appId, publishId), deviceId)) await statuses.count(appId, publishId, 'retrying', -1);
    const deliveredKey = pushKeys.delivered(appId, publishId);
    if ((await this.deps.hashes.get(deliveredKey, deviceId)) !== null) return;
    const base = await statuses.base(appId, publishId);
    if (base === null) return; // status expired: nothing to report to
    // Unreachable today (cancel only removes a not-yet-expanded publish's expand job), kept
    // so a device job that ever meets a cancelled publish is counted rather than sent.
    if (base === 'cancelled') return statuses.count(appId, publishId, 'cancelled');
    const publish = await this.publish(appId, publishId);
    if (publish === null) return statuses.countFailure(appId, publishId, 'publish body expired');
    if (publish.expiresAt > 0 && this.deps.now() >= publish.expiresAt) return statuses.count(appId, publishId, 'expired');

    const device = await this.deps.devices.find(appId, deviceId);
    if (device === null) return statuses.countFailure(appId, publishId, 'device not registered');
    if (device.state === 'invalid') return statuses.countFailure(appId, publishId, `device invalid (${device.invalidReason ?? 'gone'})`);
    const credentials = await this.deps.credentials.find(appId, device.platform);
    if (credentials === null) return statuses.countFailure(appId, publishId, `no ${device.platform} credentials`);

    await statuses.count(appId, publishId, 'sent');
    const result = await this.send(device, notificationFor(publish, device), credentials, publish.expiresAt, running.id);
    const waitTooLong = result.kind === 'retry' && result.retryAfterMs !== undefined && result.retryAfterMs > config.retryAfterMaxMs;
    const dead = result.kind === 'retry' && (running.attempt >= config.maxAttempts || waitTooLong);
    this.deps.observe?.(device.platform, dead ? 'dead_lettered' : result.kind);
    switch (result.kind) {
      case 'delivered':
        await this.deps.hashes.set(deliveredKey, deviceId, '1');
        await this.deps.hashes.expire(deliveredKey, config.statusTtlSec * 1000);
        await statuses.count(appId, publishId, 'succeeded');
        return;
      case 'gone':
        await this.deps.devices.invalidate(appId, deviceId, result.reason);
        return statuses.countFailure(appId, publishId, result.reason);
      case 'rejected':
        return statuses.countFailure(appId, publishId, result.reason);
      case 'retry': {
        if (running.attempt >= config.maxAttempts) {
          await this.deadLetter(job, running, result.reason);
          return statuses.countFailure(appId, publishId, `${result.reason} (dead-lettered after ${running.attempt} attempts)`);
        }
        if (result.retryAfterMs !== undefined && result.retryAfterMs > config.retryAfterMaxMs) {
          // Sending before the provider's Retry-After would break its instruction (and
          // typically be refused again); waiting past our bound parks a job for too long.
          const reason = `${result.reason} (dead-lettered: Retry-After ${Math.ceil(result.retryAfterMs / 1000)} s is longer than push.retryAfterMaxMs)`;
          await this.deadLetter(job, running, reason);
          return statuses.countFailure(appId, publishId, reason);
        }
        const retryInMs = this.retryDelay(running.attempt, result.retryAfterMs);
        // The next run would find the notification expired: say so now instead of keeping
        // the publish `delivering` until then.
        if (publish.expiresAt > 0 && this.deps.now() + retryInMs >= publish.expiresAt) return statuses.count(appId, publishId, 'expired');
        // A run that stalled past its lock may wake after another run delivered the device:
        // its retry would be refused by the queue and never un-count `retrying`.
        if ((await this.deps.hashes.get(deliveredKey, deviceId)) !== null) return;
        await this.markRetrying(appId, publishId, deviceId);
        return { retryInMs };
      }
    }
  }

  /**
   * Counts a scheduled retry in `retrying`, once: the per-device marker gates the
   * increment (a run that stalled and re-ran before handing its retry to the queue finds
   * the marker set). The next run removes the marker and un-counts it.
   */
  private async markRetrying(appId: string, publishId: string, deviceId: string): Promise<void> {
    const key = pushKeys.retrying(appId, publishId);
    if (await this.deps.hashes.setIfAbsent(key, deviceId, '1')) await this.deps.statuses.count(appId, publishId, 'retrying');
    await this.deps.hashes.expire(key, this.deps.config.statusTtlSec * 1000);
  }

  private async send(device: Device, notification: Notification, credentials: Parameters<PushProvider['send']>[0]['credentials'], expiresAt: number, dedupeKey: string): Promise<DeliveryResult> {
    try {
      return await this.deps.providers[device.platform].send({ device, notification, credentials, expiresAt, dedupeKey });
    } catch (error) {
      // A provider adapter bug must not lose the job: treat it as temporary.
      this.deps.logger.error({ err: error, platform: device.platform }, 'push provider threw');
      return { kind: 'retry', reason: `${device.platform}: ${(error as Error).message}` };
    }
  }

  /**
   * The delay before retrying after `attempt` failed: exponential backoff with jitter from
   * `retryBaseMs` up to `retryMaxMs`, or the provider's Retry-After plus a little jitter
   * (see `backoffDelay`). Retry-After is not capped here: the caller dead-letters a
   * delivery whose Retry-After is past `retryAfterMaxMs` instead of sending it early.
   */
  retryDelay(attempt: number, retryAfterMs?: number): number {
    const { retryBaseMs, retryMaxMs } = this.deps.config;
    return backoffDelay({ baseMs: retryBaseMs, maxMs: retryMaxMs }, attempt, this.deps.random ?? Math.random, retryAfterMs);
  }

  private async deadLetter(job: DeviceJob, running: RunningJob, reason: string): Promise<void> {
    const letter = { job_id: running.id, publish_id: job.publishId, device_id: job.deviceId, attempts: running.attempt, reason, at: new Date(this.deps.now()).toISOString() };
    await this.deadLetters.put(job.appId, running.id, letter);
    this.deps.logger.warn({ publishId: job.publishId, deviceId: job.deviceId, reason }, 'push dead-lettered');
  }

  private async publish(appId: string, publishId: string): Promise<StoredPublish | null> {
    const cached = this.publishes.get(publishId);
    if (cached !== undefined) return cached;
    const text = await this.deps.hashes.get(pushKeys.publish(appId, publishId), 'body');
    if (text === null) return null;
    const publish = JSON.parse(text) as StoredPublish;
    if (this.publishes.size >= PUBLISH_CACHE_SIZE) this.publishes.delete(this.publishes.keys().next().value!);
    this.publishes.set(publishId, publish);
    return publish;
  }
}

/** The device's locale text (metadata.locale, then its language), else the default. */
function notificationFor(publish: StoredPublish, device: Device): Notification {
  const locale = typeof device.metadata.locale === 'string' ? device.metadata.locale : '';
  const all = publish.notifications;
  const exact = Object.hasOwn(all, locale) ? all[locale] : undefined;
  const language = locale.split(/[-_]/)[0] ?? '';
  const byLanguage = Object.hasOwn(all, language) ? all[language] : undefined;
  return exact ?? byLanguage ?? all['']!;
}
