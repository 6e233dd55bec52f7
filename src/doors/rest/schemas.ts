/**
 * ajv schemas shared by the REST routes. Limits that depend on the app (channel count,
 * batch size, data size, name length) are checked in code against the app's config, so
 * they answer with their own catalogue codes rather than a generic validation error.
 *
 * Query schemas never set `additionalProperties: false`: the signature parameters
 * (`auth_key`, …) and future Pusher parameters ride along.
 */
import { createError } from '../../errors.ts';

/** `:app_id` as the config allows it. */
export const appIdParam = { type: 'string', minLength: 1, maxLength: 100 } as const;

export const appParams = {
  type: 'object',
  required: ['app_id'],
  properties: { app_id: appIdParam },
} as const;

export const channelParams = {
  type: 'object',
  required: ['app_id', 'channel_name'],
  properties: { app_id: appIdParam, channel_name: { type: 'string', minLength: 1, maxLength: 1000 } },
} as const;

/** `info=a,b` as Pusher sends it. */
export const infoQuery = { type: 'string', maxLength: 200 } as const;

/**
 * One event as `POST /events` and each `batch` item take it: only "an object" here.
 * Field types are checked by `prepareEvent` (event-input.ts), for two reasons: Fastify's
 * ajv coerces scalars (`"name": 5` would be published as the event `"5"`, `"channels":
 * "a"` as `["a"]`), and a batch item's error must carry the item's index, which an ajv
 * error of the whole body does not.
 */
export const eventBody = { type: 'object' } as const;



/**
 * Refuses a body field the route does not know: fields are never silently ignored (a typo
 * such as `desciption` would otherwise be dropped and the change applied without it).
 * `RC_ERR_HTTP_UNKNOWN_FIELD` naming the unknown fields and the known ones.
 */
export function assertKnownFields(body: unknown, known: ReadonlySet<string>): void {
  if (body === null || typeof body !== 'object') return;
  const unknown = Object.keys(body).filter((field) => !known.has(field));
  if (unknown.length > 0) throw createError('RC_ERR_HTTP_UNKNOWN_FIELD', unknown.map((field) => JSON.stringify(field.slice(0, 40))).join(', '), [...known].join(', '));
}
