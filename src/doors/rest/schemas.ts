/**
 * ajv schemas shared by the REST routes. Limits that depend on the app (channel count,
 * batch size, data size, name length) are checked in code against the app's config, so
 * they answer with their own catalogue codes rather than a generic validation error.
 *
 * Query schemas never set `additionalProperties: false`: the signature parameters
 * (`auth_key`, …) and future Pusher parameters ride along.
 */

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

/** One event as `POST /events` and each `batch` item take it. */
export const eventBody = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string' },
    // A string, or any JSON value (serialised once when published).
    data: {},
    channel: { type: 'string' },
    channels: { type: 'array', items: { type: 'string' } },
    socket_id: { type: 'string', maxLength: 100 },
    info: infoQuery,
    // `extras.push` sends a push notification to the channel's push subscribers (docs/push.md).
    extras: { type: 'object', maxProperties: 16 },
  },
} as const;

/** An idempotency key: long enough for a UUID plus a prefix, short enough to store. */
export const idempotencyKey = { type: 'string', minLength: 1, maxLength: 200 } as const;

