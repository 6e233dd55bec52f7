/**
 * Publishing over the signed REST API (Pusher HTTP API "Events" and "Batch events"):
 *
 * POST /apps/:app_id/events        { name, data, channel | channels, socket_id?, info?, idempotency_key?, extras?, tags? }
 *   → { channels?: { <name>: { subscription_count?, user_count? } }, message_serials: { <name>: <serial> } }
 * POST /apps/:app_id/batch_events  { batch: [event…], idempotency_key? }
 *   → { batch: [ { subscription_count?, user_count?, message_serial } … ] }
 *
 * Every event of a batch is validated before anything is published: one bad event
 * rejects the whole batch with its index (RC_ERR_BATCH_INVALID_EVENT, or
 * RC_ERR_BATCH_EVENT_TOO_LARGE, a 413, when the item is past a size limit).
 * A `#server-to-user-{id}` channel (the SDKs' sendToUser) goes to that user's signed-in
 * connections instead of a channel; it has no serial. Neither has an event with
 * `extras.ephemeral: true` (delivered, never stored): its channels are absent from
 * `message_serials`. `tags` are stored with the event for subscribers' tag filters.
 */
import type { FastifyReply } from 'fastify';
import type { AppConfig } from '../../../config/schema.ts';
import type { Core } from '../../../core/core.ts';
import { createError, createErrorWith, isRoomcastError, type RoomcastError } from '../../../errors.ts';
import type { PublishedMessage } from '../../../core/publish.ts';
import { requireSignedApp } from '../auth.ts';
import { handedBackOf } from '../hand-back.ts';
import { channelPushNotification } from '../../../push/publish.ts';
import { idempotencyKeyOf, prepareEvent, type EventBody, type PreparedEvent } from '../event-input.ts';
import { infoFields, parseInfo, type InfoAttribute } from '../info.ts';
import { appParams, eventBody } from '../schemas.ts';
import type { AppRoutePlugin } from './route-plugin.ts';

interface SingleEventBody extends EventBody {
  readonly idempotency_key?: string;
}

interface BatchBody {
  readonly batch: readonly EventBody[];
  readonly idempotency_key?: string;
}

/**
 * Publishes prepared events to their channels in one backend round trip and sends the
 * user-targeted ones; returns each event's published messages (in input order).
 */
async function deliver(core: Core, app: AppConfig, events: readonly PreparedEvent[]): Promise<PublishedMessage[][]> {
  // A node of the cluster delivers too late: push the publisher back (core/backpressure.ts).
  const pushedBack = core.backpressure.refusal();
  if (pushedBack !== null) throw pushedBack;
  const withChannels = events.filter((event) => event.input.channels.length > 0);
  const published = withChannels.length > 0 ? await core.publish(app, withChannels.map((event) => event.input)) : [];
  const toUsers = events.flatMap((event) => event.userIds.map((userId) => core.sendToUser(app.id, userId, event.input.name, event.data)));
  if (toUsers.length > 0) await Promise.all(toUsers);
  let next = 0;
  return events.map((event) => (event.input.channels.length > 0 ? (published[next++] ?? []) : []));
}

/** `{ <channel>: <fields> }` built without touching Object.prototype (channel names are client text). */
async function channelsInfo(core: Core, appId: string, channels: readonly string[], wanted: ReadonlySet<InfoAttribute>) {
  if (wanted.size === 0) return Object.fromEntries(channels.map((channel) => [channel, {}]));
  const entries = await Promise.all(
    channels.map(async (channel) => [channel, infoFields(await core.channelInfo(appId, channel), wanted)] as const),
  );
  return Object.fromEntries(entries);
}

/** `{ <channel>: <serial> }`; ephemeral events have no serial and are left out. */
function serialsOf(published: readonly PublishedMessage[]): Record<string, string> {
  const serials: Record<string, string> = {};
  for (const message of published) {
    if (message.serial === '') continue;
    // A channel named `__proto__` is a key like any other (assignment would set the prototype).
    if (message.channel === '__proto__') Object.defineProperty(serials, message.channel, { value: message.serial, enumerable: true, writable: true, configurable: true });
    else serials[message.channel] = message.serial;
  }
  return serials;
}

const eventSchema = {
  params: appParams,
  // `name` stays required here so the single route keeps its ajv message naming the field;
  // its type and every other field's are checked by prepareEvent (schemas.ts says why).
  body: { ...eventBody, required: ['name'] },
};

const batchSchema = {
  params: appParams,
  body: {
    type: 'object',
    required: ['batch'],
    properties: {
      batch: { type: 'array', minItems: 1, items: eventBody },
    },
  },
};

/** A bad `extras.push` is this request's 4xx (checked before publishing), not a notification silently dropped later. */
function checkPushExtras(core: Core, event: PreparedEvent): void {
  const { extras } = event.input;
  const push = extras === undefined || !Object.hasOwn(extras, 'push') ? undefined : extras.push;
  if (push !== undefined) channelPushNotification(push, core.config.push.maxPayloadBytes);
}

/**
 * Publishes one event; the reply of POST /events. The usual event (channels only, no
 * `info`) takes one promise from the core to the reply.
 */
function publishOne(core: Core, app: AppConfig, event: PreparedEvent, wanted: ReadonlySet<InfoAttribute>): Promise<Record<string, unknown>> {
  if (wanted.size > 0 || event.userIds.length > 0 || event.input.channels.length === 0) return publishOneInFull(core, app, event, wanted);
  const pushedBack = core.backpressure.refusal();
  if (pushedBack !== null) return Promise.reject(pushedBack);
  return core.publish(app, [event.input], singleReply);
}

/** The route template of POST /events (what its access lines and metrics name). */
export const EVENTS_ROUTE = '/apps/:app_id/events';

/**
 * True for a body the route's schema accepts as it is (nothing coerced, nothing added):
 * an object with a string `name` and no `idempotency_key`.
 */
export function isPlainEventBody(body: unknown): boolean {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false;
  const event = body as SingleEventBody;
  return typeof event.name === 'string' && event.idempotency_key === undefined;
}

/**
 * Starts the publish of a `POST /events` body of the usual kind, for the fast lane
 * (fast-lane.ts): a plain body (`isPlainEventBody`), one event that checks out,
 * for channels only, without `info`, while the cluster takes publishes. Its promise is
 * the route's (`publishOne`). Null, having done nothing, for any other body: the route
 * answers it.
 */
export function startPlainPublish(core: Core, app: AppConfig, body: unknown): Promise<Record<string, unknown>> | null {
  if (!isPlainEventBody(body)) return null;
  const event = body as SingleEventBody;
  let prepared: PreparedEvent;
  try {
    prepared = prepareEvent(app, event);
    if (prepared.info !== undefined || prepared.userIds.length > 0 || prepared.input.channels.length === 0) return null;
    checkPushExtras(core, prepared);
  } catch {
    return null;
  }
  if (core.backpressure.refusal() !== null) return null;
  return core.publish(app, [prepared.input], singleReply);
}

/** The reply of POST /events for its one event, built in the publish's own step. */
function singleReply(published: readonly PublishedMessage[][]): Record<string, unknown> {
  return { message_serials: serialsOf(published[0] ?? []) };
}

async function publishOneInFull(core: Core, app: AppConfig, event: PreparedEvent, wanted: ReadonlySet<InfoAttribute>): Promise<Record<string, unknown>> {
  const [published] = await deliver(core, app, [event]);
  const result: Record<string, unknown> = {};
  if (wanted.size > 0) result.channels = await channelsInfo(core, app.id, event.input.channels, wanted);
  result.message_serials = serialsOf(published ?? []);
  return result;
}

/**
 * Wraps an item's error with its index. A size limit stays a 413 (the issue: "413 past
 * the data limit"), so a client that handles 413 for /events handles it for batches too.
 */
function batchItemError(error: RoomcastError, index: number): RoomcastError {
  const code = error.status === 413 ? 'RC_ERR_BATCH_EVENT_TOO_LARGE' : 'RC_ERR_BATCH_INVALID_EVENT';
  return createErrorWith(code, { cause: error, details: { index, event_code: error.code } }, index, error.message);
}

/**
 * The one namespace of `idempotency_key`s of /events and /batch_events: a key names one
 * request whichever route it came by, so the same key on the other route (a different
 * request) is a conflict, never a second publish.
 */
const EVENTS_SCOPE = 'events';

/** POST /events with an `idempotency_key`: the first reply is replayed for the key's window. */
async function publishIdempotent(
  core: Core,
  app: AppConfig,
  key: string,
  body: SingleEventBody,
  event: PreparedEvent,
  wanted: ReadonlySet<InfoAttribute>,
  reply: FastifyReply,
): Promise<unknown> {
  const outcome = await core.idempotent(app, EVENTS_SCOPE, key, ['events', body], () => publishOne(core, app, event, wanted));
  if (outcome.duplicate) void reply.header('Idempotent-Replayed', 'true');
  return outcome.reply;
}

export const eventRoutes: AppRoutePlugin = async (app, { core }) => {
  // Not async: the usual publish hands the core's one promise straight to Fastify (an
  // async handler returning a promise adds a wrapper and microtask hops). A throw before
  // it is answered like a rejection (Fastify catches a synchronous handler's errors).
  app.post(EVENTS_ROUTE, { schema: eventSchema }, (request, reply) => {
    // Published by the fast lane, whose publish failed: the answer is that failure.
    const handed = handedBackOf(request.raw);
    if (handed?.publishFailed === true) throw handed.publishError;
    const appConfig = requireSignedApp(request);
    const body = request.body as SingleEventBody;
    const event = prepareEvent(appConfig, body);
    const wanted = parseInfo(event.info);
    checkPushExtras(core, event);
    // No closure unless an idempotency key needs one: this is the publish hot path.
    if (body.idempotency_key === undefined) return publishOne(core, appConfig, event, wanted);
    return publishIdempotent(core, appConfig, idempotencyKeyOf(body)!, body, event, wanted, reply);
  });

  app.post('/apps/:app_id/batch_events', { schema: batchSchema }, async (request, reply) => {
    const appConfig = requireSignedApp(request);
    const body = request.body as BatchBody;
    const { maxBatchSize } = appConfig.limits;
    if (body.batch.length > maxBatchSize) throw createError('RC_ERR_BATCH_TOO_LARGE', maxBatchSize, body.batch.length);
    const prepared = body.batch.map((event, index) => {
      try {
        const prepared = prepareEvent(appConfig, event);
        const wanted = parseInfo(prepared.info);
        checkPushExtras(core, prepared);
        return { event: prepared, wanted };
      } catch (error) {
        if (!isRoomcastError(error)) throw error;
        throw batchItemError(error, index);
      }
    });
    const publish = async () => {
      const published = await deliver(core, appConfig, prepared.map((item) => item.event));
      const items = await Promise.all(
        prepared.map(async ({ event: { input }, wanted }, index) => {
          const serials = published[index] ?? [];
          const info = await channelsInfo(core, appConfig.id, input.channels, wanted);
          // Pusher's shape for the usual one-channel event: the info fields flat, plus its serial.
          if (input.channels.length === 1) return { ...info[input.channels[0]!], message_serial: serials[0]?.serial || undefined };
          return { ...(wanted.size > 0 ? { channels: info } : {}), message_serials: serialsOf(serials) };
        }),
      );
      return { batch: items };
    };
    const key = idempotencyKeyOf(body);
    if (key === undefined) return publish();
    const outcome = await core.idempotent(appConfig, EVENTS_SCOPE, key, ['batch_events', body], publish);
    if (outcome.duplicate) void reply.header('Idempotent-Replayed', 'true');
    return outcome.reply;
  });
};
