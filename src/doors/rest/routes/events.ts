/**
 * Publishing over the signed REST API (Pusher HTTP API "Events" and "Batch events"):
 *
 * POST /apps/:app_id/events        { name, data, channel | channels, socket_id?, info?, idempotency_key? }
 *   → { channels?: { <name>: { subscription_count?, user_count? } }, message_serials: { <name>: <serial> } }
 * POST /apps/:app_id/batch_events  { batch: [event…], idempotency_key? }
 *   → { batch: [ { subscription_count?, user_count?, message_serial } … ] }
 *
 * Every event of a batch is validated before anything is published: one bad event
 * rejects the whole batch with its index (RC_ERR_BATCH_INVALID_EVENT).
 */
import type { AppConfig } from '../../../config/schema.ts';
import type { Core } from '../../../core/core.ts';
import { createError, createErrorWith, isRoomcastError } from '../../../core/errors.ts';
import { validateEvent, type PublishedMessage, type PublishInput } from '../../../core/publish.ts';
import { requireSignedApp } from '../auth.ts';
import { infoFields, parseInfo, type InfoAttribute } from '../info.ts';
import { appParams, eventBody, idempotencyKey } from '../schemas.ts';
import type { AppRoutePlugin } from './index.ts';

/** An event as the JSON body carries it (after ajv). */
export interface EventBody {
  readonly name: string;
  readonly data?: unknown;
  readonly channel?: string;
  readonly channels?: readonly string[];
  readonly socket_id?: string;
  readonly info?: string;
}

interface SingleEventBody extends EventBody {
  readonly idempotency_key?: string;
}

interface BatchBody {
  readonly batch: readonly EventBody[];
  readonly idempotency_key?: string;
}

/** Pusher socket ids are two integers joined by a dot (`123.456`). */
const SOCKET_ID = /^\d{1,20}\.\d{1,20}$/;

/**
 * Names the Pusher protocol reserves for its own frames: a published `pusher:…` event
 * would reach pusher-js as if the server had sent a protocol message.
 */
const RESERVED_NAME = /^pusher(_internal)?:/;

/** Decodes and checks one event; throws the catalogue error of its first problem. */
export function toPublishInput(app: AppConfig, event: EventBody): PublishInput {
  if (typeof event.name === 'string' && RESERVED_NAME.test(event.name)) {
    throw createError('RC_ERR_EVENT_INVALID_NAME', 'uses a prefix the protocol reserves (pusher: or pusher_internal:)');
  }
  if (event.channel !== undefined && event.channels !== undefined) throw createError('RC_ERR_EVENT_CHANNEL_AND_CHANNELS');
  // A channel named twice would get the event twice; publish once per distinct name.
  const channels = [...new Set(event.channels ?? (event.channel === undefined ? [] : [event.channel]))];
  if (event.socket_id !== undefined && !SOCKET_ID.test(event.socket_id)) {
    throw createError('RC_ERR_EVENT_INVALID_SOCKET_ID', JSON.stringify(event.socket_id.slice(0, 40)));
  }
  const input: PublishInput = {
    name: event.name,
    channels,
    data: event.data,
    origin: 'rest',
    sender: { type: 'Server', id: app.id },
    ...(event.socket_id === undefined ? {} : { socketId: event.socket_id }),
  };
  validateEvent(app, input);
  return input;
}

/** `{ <channel>: <fields> }` built without touching Object.prototype (channel names are client text). */
async function channelsInfo(core: Core, appId: string, channels: readonly string[], wanted: ReadonlySet<InfoAttribute>) {
  if (wanted.size === 0) return Object.fromEntries(channels.map((channel) => [channel, {}]));
  const entries = await Promise.all(
    channels.map(async (channel) => [channel, infoFields(await core.channelInfo(appId, channel), wanted)] as const),
  );
  return Object.fromEntries(entries);
}

function serialsOf(published: readonly PublishedMessage[]): Record<string, string> {
  return Object.fromEntries(published.map((message) => [message.channel, message.serial]));
}

const eventSchema = {
  params: appParams,
  body: { ...eventBody, properties: { ...eventBody.properties, idempotency_key: idempotencyKey } },
};

const batchSchema = {
  params: appParams,
  body: {
    type: 'object',
    required: ['batch'],
    properties: {
      batch: { type: 'array', minItems: 1, items: eventBody },
      idempotency_key: idempotencyKey,
    },
  },
};

export const eventRoutes: AppRoutePlugin = async (app, { core }) => {
  app.post('/apps/:app_id/events', { schema: eventSchema }, async (request, reply) => {
    const appConfig = requireSignedApp(request);
    const body = request.body as SingleEventBody;
    const wanted = parseInfo(body.info);
    const input = toPublishInput(appConfig, body);
    const publish = async () => {
      const [published] = await core.publish(appConfig, [input]);
      const result: Record<string, unknown> = {};
      if (wanted.size > 0) result.channels = await channelsInfo(core, appConfig.id, input.channels, wanted);
      result.message_serials = serialsOf(published ?? []);
      return result;
    };
    if (body.idempotency_key === undefined) return publish();
    const outcome = await core.idempotent(appConfig, 'events', body.idempotency_key, body, publish);
    if (outcome.duplicate) void reply.header('Idempotent-Replayed', 'true');
    return outcome.reply;
  });

  app.post('/apps/:app_id/batch_events', { schema: batchSchema }, async (request, reply) => {
    const appConfig = requireSignedApp(request);
    const body = request.body as BatchBody;
    const { maxBatchSize } = appConfig.limits;
    if (body.batch.length > maxBatchSize) throw createError('RC_ERR_BATCH_TOO_LARGE', maxBatchSize, body.batch.length);
    const prepared = body.batch.map((event, index) => {
      try {
        return { input: toPublishInput(appConfig, event), wanted: parseInfo(event.info) };
      } catch (error) {
        if (!isRoomcastError(error)) throw error;
        throw createErrorWith('RC_ERR_BATCH_INVALID_EVENT', { cause: error, details: { index, event_code: error.code } }, index, error.message);
      }
    });
    const publish = async () => {
      const published = await core.publish(appConfig, prepared.map((event) => event.input));
      const items = await Promise.all(
        prepared.map(async ({ input, wanted }, index) => {
          const serials = published[index] ?? [];
          const info = await channelsInfo(core, appConfig.id, input.channels, wanted);
          // Pusher's shape for the usual one-channel event: the info fields flat, plus its serial.
          if (input.channels.length === 1) return { ...info[input.channels[0]!], message_serial: serials[0]?.serial };
          return { ...(wanted.size > 0 ? { channels: info } : {}), message_serials: serialsOf(serials) };
        }),
      );
      return { batch: items };
    };
    if (body.idempotency_key === undefined) return publish();
    const outcome = await core.idempotent(appConfig, 'batch_events', body.idempotency_key, body, publish);
    if (outcome.duplicate) void reply.header('Idempotent-Replayed', 'true');
    return outcome.reply;
  });
};
