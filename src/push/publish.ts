/**
 * Publish admission: validate, render, store, enqueue. A publish is accepted (202) only
 * once its body, its status and its queue job are stored, so an accepted publish
 * survives this node dying. Device lookup happens later, in the expand job, so
 * admission costs the same for one device or for a channel of 100,000.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { HashStore, JobQueue } from '../backends/ports.ts';
import type { PushConfig } from '../config/schema.ts';
import { channelNameProblem } from '../core/channels.ts';
import { createError } from '../errors.ts';
import { asBody, checkId, field, optionalObject, optionalString, type Body } from './fields.ts';
import { jobIds, pushKeys } from './keys.ts';
import type { StatusStore } from './status.ts';
import { renderTemplate, stringMapOf, type TemplateStore } from './templates.ts';
import type { ExpandJob, Notification, Recipient, StoredPublish } from './types.ts';

/** A publish request after validation and rendering. */
export interface PublishPlan {
  readonly recipients: readonly Recipient[];
  readonly notifications: Record<string, Notification>;
  readonly notBefore: number;
  readonly expiresAt: number;
  readonly sync: boolean;
  readonly idempotencyKey?: string;
}

export interface AdmissionDeps {
  readonly config: PushConfig;
  readonly hashes: HashStore;
  readonly queue: JobQueue;
  readonly statuses: StatusStore;
  readonly templates: TemplateStore;
  readonly maxChannelNameLength: number;
  readonly now: () => number;
}

/** Validates a publish body (snake_case or camelCase) and renders its notification(s). */
export async function planPublish(deps: AdmissionDeps, appId: string, raw: unknown): Promise<PublishPlan> {
  const body = asBody(raw, 'the push publish');
  const recipients = recipientsOf(field(body, 'recipients'), deps);
  const notifications = await notificationsOf(body, deps, appId);
  const now = deps.now();
  const notBefore = timeOf(field(body, 'not_before'), 'not_before') ?? 0;
  const expiresAt = timeOf(field(body, 'expires_at'), 'expires_at') ?? 0;
  if (notBefore > now + deps.config.maxScheduleAheadSec * 1000) {
    throw createError('RC_ERR_PUSH_BAD_SCHEDULE', `not_before is more than ${deps.config.maxScheduleAheadSec} s ahead`);
  }
  if (expiresAt !== 0 && expiresAt <= Math.max(now, notBefore)) {
    throw createError('RC_ERR_PUSH_BAD_SCHEDULE', 'expires_at must be later than now and than not_before');
  }
  const sync = field(body, 'sync');
  if (sync !== undefined && typeof sync !== 'boolean') throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'sync must be a boolean');
  const idempotencyKey = optionalString(body, 'idempotency_key', 200);
  return {
    recipients,
    notifications,
    notBefore: notBefore > now ? notBefore : 0,
    expiresAt,
    sync: sync === true,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  };
}

/**
 * Stores and enqueues a plan. With `fixedId` (channel events with `extras.push`), only
 * the first caller cluster-wide admits it; the others get `null`.
 *
 * If storing or enqueueing fails after the status is claimed, the claim is released
 * (status, body and any expand job removed) before the error is thrown: otherwise the
 * status would say `queued` for a publish no job will ever run, and a fixed id could
 * never be admitted again. Releasing is best effort (the backend that just failed may
 * still be failing); if it fails too, the original error is the one thrown.
 */
export async function admitPlan(deps: AdmissionDeps, appId: string, plan: PublishPlan, fixedId?: string): Promise<string | null> {
  const publishId = fixedId ?? `pub_${randomUUID().replaceAll('-', '')}`;
  const now = deps.now();
  if (!(await deps.statuses.claim(appId, publishId))) return null;
  const jobId = jobIds.expand(appId, publishId);
  try {
    await storeAndEnqueue(deps, appId, publishId, plan, now, jobId);
  } catch (error) {
    await releaseClaim(deps, appId, publishId, jobId).catch(() => undefined);
    throw error;
  }
  return publishId;
}

/**
 * Admits a fixed id for an admitter that died (a reaper taking over an `extras.push` its
 * dead publisher owed; core/owed-effects.ts), whatever the dead one got done:
 * - nothing: admitted here;
 * - the claim only (no `base` in the status yet: it never initialised): the claim is
 *   released and the id admitted here;
 * - the status initialised: the body is stored when missing, and the expand job enqueued
 *   under its id, a no-op when the job exists or already ran (the queue keeps finished
 *   ids for an hour; a take-over comes within a heartbeat TTL).
 * So the publish is admitted once whichever step the dead admitter reached. A claim taken
 * again between the release and the admission belongs to whoever took it.
 */
export async function resumeAdmission(deps: AdmissionDeps, appId: string, plan: PublishPlan, publishId: string): Promise<void> {
  if ((await admitPlan(deps, appId, plan, publishId)) !== null) return;
  if ((await deps.statuses.base(appId, publishId)) === null) {
    await deps.statuses.release(appId, publishId);
    await admitPlan(deps, appId, plan, publishId);
    return;
  }
  const key = pushKeys.publish(appId, publishId);
  if ((await deps.hashes.get(key, 'body')) === null) {
    const stored: StoredPublish = { publishId, appId, recipients: plan.recipients, notifications: plan.notifications, notBefore: plan.notBefore, expiresAt: plan.expiresAt, createdAt: deps.now() };
    await deps.hashes.set(key, 'body', JSON.stringify(stored));
    await deps.hashes.expire(key, deps.config.statusTtlSec * 1000);
  }
  const job: ExpandJob = { kind: 'expand', appId, publishId };
  await deps.queue.enqueue([{ id: jobIds.expand(appId, publishId), data: JSON.stringify(job), delayMs: Math.max(0, plan.notBefore - deps.now()) }]);
}

async function storeAndEnqueue(deps: AdmissionDeps, appId: string, publishId: string, plan: PublishPlan, now: number, jobId: string): Promise<void> {
  await deps.statuses.initialise(appId, publishId, plan.notBefore > now ? 'scheduled' : 'queued', plan.notBefore, plan.expiresAt);
  const stored: StoredPublish = {
    publishId,
    appId,
    recipients: plan.recipients,
    notifications: plan.notifications,
    notBefore: plan.notBefore,
    expiresAt: plan.expiresAt,
    createdAt: now,
  };
  const key = pushKeys.publish(appId, publishId);
  await deps.hashes.set(key, 'body', JSON.stringify(stored));
  await deps.hashes.expire(key, deps.config.statusTtlSec * 1000);
  const job: ExpandJob = { kind: 'expand', appId, publishId };
  await deps.queue.enqueue([{ id: jobId, data: JSON.stringify(job), delayMs: Math.max(0, plan.notBefore - now) }]);
}

/**
 * Undoes a failed admission. The job first: an enqueue that timed out may still have
 * landed, and a job left behind would find no status and drop the publish, while its id
 * (kept by the queue after it completes) would make the re-admission's enqueue a no-op.
 * The status last, so the id cannot be claimed again before the rest is gone. (A job
 * that already started cannot be removed; an enqueue that timed out yet ran within that
 * moment is the one case this does not undo.)
 */
async function releaseClaim(deps: AdmissionDeps, appId: string, publishId: string, jobId: string): Promise<void> {
  // Each step is tried even when the one before failed: the status above all, or the id
  // would stay claimed by an admission that never happened.
  const outcomes = await settleInOrder([
    () => deps.queue.remove(jobId),
    () => deps.hashes.drop(pushKeys.publish(appId, publishId)),
    () => deps.statuses.release(appId, publishId),
  ]);
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
}

/** Runs the steps one after another, each whatever happened to the ones before. */
async function settleInOrder(steps: readonly (() => Promise<unknown>)[]): Promise<PromiseSettledResult<unknown>[]> {
  const outcomes: PromiseSettledResult<unknown>[] = [];
  for (const step of steps) {
    try {
      outcomes.push({ status: 'fulfilled', value: await step() });
    } catch (reason) {
      outcomes.push({ status: 'rejected', reason });
    }
  }
  return outcomes;
}

/** The deterministic publish id of a channel message's push, the same on every node. */
export function channelPushId(appId: string, channel: string, serial: string): string {
  return `ch_${createHash('sha256').update(`${appId}\n${channel}\n${serial}`).digest('hex').slice(0, 32)}`;
}

function recipientsOf(value: unknown, deps: AdmissionDeps): Recipient[] {
  if (!Array.isArray(value) || value.length === 0) throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'recipients must be a non-empty array');
  if (value.length > deps.config.maxRecipients) {
    throw createError('RC_ERR_PUSH_INVALID_REQUEST', `recipients may hold at most ${deps.config.maxRecipients} entries`);
  }
  return value.map((item, index) => recipientOf(item, index, deps));
}

function recipientOf(item: unknown, index: number, deps: AdmissionDeps): Recipient {
  const body = asBody(item, `recipients[${index}]`);
  const channel = field(body, 'channel');
  const deviceId = field(body, 'device_id');
  const clientId = field(body, 'client_id');
  const type = field(body, 'type') ?? (channel !== undefined ? 'channel' : deviceId !== undefined ? 'device' : clientId !== undefined ? 'client' : undefined);
  const where = `recipients[${index}]`;
  switch (type) {
    case 'channel': {
      const problem = channelNameProblem(channel, deps.maxChannelNameLength);
      if (problem !== null) throw createError('RC_ERR_CHANNEL_INVALID_NAME', JSON.stringify(String(channel).slice(0, 60)), problem);
      return { type: 'channel', channel: channel as string };
    }
    case 'device':
      if (typeof deviceId !== 'string') throw createError('RC_ERR_PUSH_INVALID_REQUEST', `${where} of type device needs device_id`);
      return { type: 'device', deviceId: checkId(deviceId, `${where}.device_id`) };
    case 'client':
      if (typeof clientId !== 'string') throw createError('RC_ERR_PUSH_INVALID_REQUEST', `${where} of type client needs client_id`);
      return { type: 'client', clientId: checkId(clientId, `${where}.client_id`) };
    default:
      throw createError('RC_ERR_PUSH_INVALID_REQUEST', `${where}.type must be channel, device or client`);
  }
}

async function notificationsOf(body: Body, deps: AdmissionDeps, appId: string): Promise<Record<string, Notification>> {
  const templateId = optionalString(body, 'template_id', 128);
  const payload = optionalObject(body, 'payload');
  let notifications: Record<string, Notification>;
  if (templateId !== undefined) {
    const template = await deps.templates.get(appId, templateId);
    notifications = renderTemplate(template, optionalObject(body, 'template_data') ?? {});
    if (payload !== undefined) {
      // Payload fields override the template's (e.g. extra data for one publish).
      const extra = notificationOf(payload);
      for (const [locale, n] of Object.entries(notifications)) {
        notifications[locale] = { ...n, ...extra, data: { ...n.data, ...extra.data } };
      }
    }
  } else if (payload !== undefined) {
    notifications = { '': notificationOf(payload) };
  } else {
    throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'a publish needs payload or template_id');
  }
  for (const notification of Object.values(notifications)) {
    if (notification.title === undefined && notification.body === undefined && notification.data === undefined) {
      throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'payload needs title, body or data');
    }
    const size = Buffer.byteLength(JSON.stringify(notification));
    if (size > deps.config.maxPayloadBytes) throw createError('RC_ERR_PUSH_PAYLOAD_TOO_LARGE', size, deps.config.maxPayloadBytes);
  }
  return notifications;
}

/**
 * Checks a channel event's `extras.push` (`{ title, body, data, apns, fcm, web }`, or the
 * same under `notification`) and returns its notification. The REST door calls it before
 * publishing, so a bad one is that request's 4xx rather than a notification dropped later.
 */
export function channelPushNotification(value: unknown, maxPayloadBytes: number): Notification {
  const push = asBody(value, 'extras.push');
  const notification = notificationOf(asBody(field(push, 'notification') ?? push, 'extras.push'));
  if (notification.title === undefined && notification.body === undefined && notification.data === undefined) {
    throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'extras.push needs title, body or data');
  }
  const size = Buffer.byteLength(JSON.stringify(notification));
  if (size > maxPayloadBytes) throw createError('RC_ERR_PUSH_PAYLOAD_TOO_LARGE', size, maxPayloadBytes);
  return notification;
}

/** The notification of a `payload` object (also used for `extras.push` of channel events). */
export function notificationOf(payload: Body): Notification {
  const title = optionalString(payload, 'title', 65536);
  const body = optionalString(payload, 'body', 65536);
  const dataValue = field(payload, 'data');
  const data = dataValue === undefined ? undefined : stringMapOf(dataValue, 'payload.data');
  const platform = (name: string): Record<string, unknown> | undefined => optionalObject(payload, name) as Record<string, unknown> | undefined;
  const apns = platform('apns');
  const fcm = platform('fcm');
  const web = platform('web');
  return {
    ...(title === undefined ? {} : { title }),
    ...(body === undefined ? {} : { body }),
    ...(data === undefined ? {} : { data }),
    ...(apns === undefined ? {} : { apns }),
    ...(fcm === undefined ? {} : { fcm }),
    ...(web === undefined ? {} : { web }),
  };
}

/** ISO 8601 text or epoch milliseconds → epoch milliseconds. */
function timeOf(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const time = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(time) || time < 0) throw createError('RC_ERR_PUSH_BAD_SCHEDULE', `${name} must be an ISO 8601 date or epoch milliseconds`);
  return time;
}
