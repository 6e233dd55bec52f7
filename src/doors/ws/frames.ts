/**
 * Pusher protocol 7 frames: parsing and validating what clients send into typed
 * requests, and encoding what the server sends.
 *
 * Wire shape (both ways): a text frame holding one JSON object
 *   { "event": "<name>", "channel"?: "<channel>", "data"?: <value> }
 * Server → client: `data` is a JSON-encoded *string* for events and for
 * `pusher:`/`pusher_internal:` events, except `pusher:error`, whose data is an object
 * (what Pusher sends and pusher-js expects). Client → server: pusher-js sends `data` as
 * an object; other clients send a string of JSON, so both are accepted.
 */
import { createError, isRoomcastError } from '../../errors.ts';
import { assertJsonDepth } from '../json-depth.ts';
import type { ChannelMessage, Member, RecoveryFailure, WatchlistEvent } from '../../core/types.ts';
import { errorPayload } from './close-codes.ts';
import type { RoomcastError } from '../../errors.ts';

/** What a client can ask for, after validation. */
export type ClientRequest =
  | { readonly kind: 'ping' }
  | { readonly kind: 'pong' }
  | {
      readonly kind: 'subscribe';
      readonly channel: string;
      readonly auth: string | undefined;
      readonly channelData: string | undefined;
      /** Recovery: the last serial the client saw on this channel (issue 4). */
      readonly lastSerial?: string;
      /** Protocol 2: also send raw annotation events of this channel. */
      readonly annotations?: boolean;
      /** Sockudo's `tags_filter`, or its `filter` object, as sent (the subscribe handler validates them). */
      readonly tagsFilter?: unknown;
      readonly filter?: unknown;
    }
  | { readonly kind: 'unsubscribe'; readonly channel: string }
  | { readonly kind: 'signin'; readonly auth: string; readonly userData: string }
  | { readonly kind: 'client_event'; readonly event: string; readonly channel: string; readonly data: unknown };

/** Longest channel name or event name kept in an error message, so echoes stay short. */
const ECHO_LIMIT = 60;
/** Longest channel name echoed as the `channel` of an error frame (Pusher's name limit). */
const SCOPE_LIMIT = 200;

/**
 * The channel a refused frame named (`channel` of a client event, `data.channel` of a
 * subscribe or unsubscribe), by the error `parseClientFrame` threw for it: the
 * `pusher:error` then carries that channel, so pusher-js hands it to the channel object.
 */
const rejectedScopes = new WeakMap<RoomcastError, string>();

/** The channel of the frame `error` was thrown for by `parseClientFrame`, if it named one. */
export function scopeOfRejectedFrame(error: RoomcastError): string | undefined {
  return rejectedScopes.get(error);
}

/**
 * The exact texts of `pusher:ping` and `pusher:pong` as clients send them (pusher-js:
 * `"data":{}`; some SDKs: `"data":"{}"`), so the heartbeat skips the JSON parse. Any other
 * spelling takes the parse and means the same.
 */
const HEARTBEATS: ReadonlyMap<string, ClientRequest> = new Map<string, ClientRequest>(
  (['ping', 'pong'] as const).flatMap((kind) => {
    const request: ClientRequest = { kind };
    return [
      [JSON.stringify({ event: `pusher:${kind}`, data: {} }), request],
      [JSON.stringify({ event: `pusher:${kind}`, data: '{}' }), request],
    ] as const;
  }),
);

/**
 * Parses one text frame. Throws `RC_ERR_WS_BAD_FRAME` (not JSON, not an object, a
 * missing or mistyped field) or `RC_ERR_WS_UNKNOWN_EVENT`; when the frame named a
 * channel, `scopeOfRejectedFrame(error)` gives it. Channel names are only type-checked
 * here; the subscribe handler validates them so the client gets a channel-scoped
 * `pusher:subscription_error`.
 */
export function parseClientFrame(text: string): ClientRequest {
  // The heartbeat: one of these per idle connection per activity timeout, answered unparsed.
  const heartbeat = HEARTBEATS.get(text);
  if (heartbeat !== undefined) return heartbeat;
  assertJsonDepth(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw createError('RC_ERR_WS_BAD_FRAME', 'not valid JSON');
  }
  try {
    return requestOf(value);
  } catch (thrown) {
    const channel = isRoomcastError(thrown) ? scopeOf(value) : undefined;
    if (channel !== undefined) rejectedScopes.set(thrown as RoomcastError, channel);
    throw thrown;
  }
}

/** The channel a frame names, if any: where a channel-scoped error is routed. */
function scopeOf(value: unknown): string | undefined {
  if (!isObject(value)) return undefined;
  if (typeof value.channel === 'string' && value.channel.length > 0) return value.channel.slice(0, SCOPE_LIMIT);
  let data = value.data;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch {
      return undefined;
    }
  }
  if (isObject(data) && typeof data.channel === 'string' && data.channel.length > 0) return data.channel.slice(0, SCOPE_LIMIT);
  return undefined;
}

function requestOf(value: unknown): ClientRequest {
  if (!isObject(value)) throw createError('RC_ERR_WS_BAD_FRAME', 'a frame must be a JSON object');
  const event = value.event;
  if (typeof event !== 'string' || event.length === 0) throw createError('RC_ERR_WS_BAD_FRAME', '"event" must be a non-empty string');

  switch (event) {
    case 'pusher:ping':
      return { kind: 'ping' };
    case 'pusher:pong':
      return { kind: 'pong' };
    case 'pusher:subscribe': {
      const data = objectData(value.data, event);
      return {
        kind: 'subscribe',
        channel: requireString(data.channel, 'data.channel', event),
        auth: optionalString(data.auth, 'data.auth', event),
        channelData: optionalString(data.channel_data, 'data.channel_data', event),
        ...subscribeOptions(data, event),
        ...(data.tags_filter === undefined || data.tags_filter === null ? {} : { tagsFilter: data.tags_filter }),
        ...(data.filter === undefined || data.filter === null ? {} : { filter: data.filter }),
      };
    }
    case 'pusher:unsubscribe': {
      const data = objectData(value.data, event);
      return { kind: 'unsubscribe', channel: requireString(data.channel, 'data.channel', event) };
    }
    case 'pusher:signin': {
      const data = objectData(value.data, event);
      return {
        kind: 'signin',
        auth: requireString(data.auth, 'data.auth', event),
        userData: requireString(data.user_data, 'data.user_data', event),
      };
    }
    default:
      break;
  }
  if (event.startsWith('client-')) {
    return { kind: 'client_event', event, channel: requireString(value.channel, 'channel', event), data: value.data };
  }
  throw createError('RC_ERR_WS_UNKNOWN_EVENT', JSON.stringify(event.slice(0, ECHO_LIMIT)));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `data` of a `pusher:` request: an object, or a string holding one. */
function objectData(data: unknown, event: string): Record<string, unknown> {
  let value = data;
  if (typeof value === 'string') {
    assertJsonDepth(value);
    try {
      value = JSON.parse(value);
    } catch {
      throw createError('RC_ERR_WS_BAD_FRAME', `${event}: "data" is a string but not JSON`);
    }
  }
  if (!isObject(value)) throw createError('RC_ERR_WS_BAD_FRAME', `${event}: "data" must be an object`);
  return value;
}

function requireString(value: unknown, field: string, event: string): string {
  if (typeof value !== 'string' || value.length === 0) throw createError('RC_ERR_WS_BAD_FRAME', `${event}: "${field}" must be a non-empty string`);
  return value;
}

function optionalString(value: unknown, field: string, event: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw createError('RC_ERR_WS_BAD_FRAME', `${event}: "${field}" must be a string`);
  return value;
}

/** The message-model options of `pusher:subscribe` (issue 4): `last_serial`, `annotations`. */
function subscribeOptions(data: Record<string, unknown>, event: string): { lastSerial?: string; annotations?: boolean } {
  const lastSerial = optionalString(data.last_serial, 'data.last_serial', event);
  if (lastSerial !== undefined && lastSerial.length > 40) throw createError('RC_ERR_WS_BAD_FRAME', `${event}: "data.last_serial" is not a serial`);
  if (data.annotations !== undefined && typeof data.annotations !== 'boolean') throw createError('RC_ERR_WS_BAD_FRAME', `${event}: "data.annotations" must be a boolean`);
  return { ...(lastSerial !== undefined ? { lastSerial } : {}), ...(data.annotations === true ? { annotations: true } : {}) };
}

/** A name shortened for error messages (client-supplied text is echoed bounded). */
export function echo(name: string): string {
  return JSON.stringify(name.length > ECHO_LIMIT ? `${name.slice(0, ECHO_LIMIT)}…` : name);
}

// --- server → client

/**
 * The encoder of channel messages for this door. Module-level, so
 * `message.encode(encodeChannelMessage)` builds the text once per publish and every
 * subscriber on this node shares it. Presence client events carry `user_id`.
 */
export function encodeChannelMessage(message: ChannelMessage): string {
  const { name, data, userId } = message.record;
  return userId === undefined
    ? JSON.stringify({ event: name, channel: message.channel, data })
    : JSON.stringify({ event: name, channel: message.channel, data, user_id: userId });
}

export function connectionEstablished(socketId: string, activityTimeoutSec: number): string {
  return JSON.stringify({
    event: 'pusher:connection_established',
    data: JSON.stringify({ socket_id: socketId, activity_timeout: activityTimeoutSec }),
  });
}

export const PING_FRAME = JSON.stringify({ event: 'pusher:ping', data: {} });
export const PONG_FRAME = JSON.stringify({ event: 'pusher:pong', data: {} });

/** `pusher:error`, optionally scoped to a channel. */
export function errorFrame(error: RoomcastError, channel?: string): string {
  return channel === undefined
    ? JSON.stringify({ event: 'pusher:error', data: errorPayload(error) })
    : JSON.stringify({ event: 'pusher:error', channel, data: errorPayload(error) });
}

/**
 * `pusher:subscription_error` on the channel: pusher-js emits it on the channel object,
 * where applications bind their handler. `type`/`error`/`status` mirror what pusher-js
 * emits for a failed auth request; `code` is the Pusher code (4009 for a bad signature).
 */
export function subscriptionErrorFrame(channel: string, error: RoomcastError): string {
  const { code, message, rc_code } = errorPayload(error);
  const type = error.status === 401 ? 'AuthError' : 'SubscriptionError';
  return JSON.stringify({
    event: 'pusher:subscription_error',
    channel,
    data: { type, error: message, status: error.status, code, rc_code },
  });
}

export function subscriptionSucceeded(channel: string): string {
  return JSON.stringify({ event: 'pusher_internal:subscription_succeeded', channel, data: '{}' });
}

/** Presence subscription success: { presence: { ids, hash, count } }, one entry per user. */
export function presenceSubscriptionSucceeded(channel: string, members: readonly Member[]): string {
  const ids = members.map((member) => member.userId);
  // fromEntries defines own properties, so an id such as "__proto__" stays a plain key.
  const hash = Object.fromEntries(members.map((member) => [member.userId, member.userInfo ?? null]));
  const data = JSON.stringify({ presence: { ids, hash, count: ids.length } });
  return JSON.stringify({ event: 'pusher_internal:subscription_succeeded', channel, data });
}

export function memberAdded(channel: string, member: Member): string {
  const data = JSON.stringify({ user_id: member.userId, user_info: member.userInfo ?? null });
  return JSON.stringify({ event: 'pusher_internal:member_added', channel, data });
}

export function memberRemoved(channel: string, userId: string): string {
  return JSON.stringify({ event: 'pusher_internal:member_removed', channel, data: JSON.stringify({ user_id: userId }) });
}

/** `pusher_internal:subscription_count`; pusher-js emits it on the channel as `pusher:subscription_count`. */
export function subscriptionCount(channel: string, count: number): string {
  return JSON.stringify({ event: 'pusher_internal:subscription_count', channel, data: JSON.stringify({ subscription_count: count }) });
}

/** `pusher:cache_miss`: the event and the channel only, no `data` (what Pusher sends). */
export function cacheMiss(channel: string): string {
  return JSON.stringify({ event: 'pusher:cache_miss', channel });
}

export function signinSuccess(userData: string): string {
  return JSON.stringify({ event: 'pusher:signin_success', data: JSON.stringify({ user_data: userData }) });
}

/**
 * `pusher_internal:watchlist_events`: no channel; `data` a JSON string of
 * `{ events: [ { name: "online" | "offline", user_ids: [...] } ] }`, which pusher-js's
 * watchlist facade turns into `pusher.user.watchlist` events named `online` / `offline`.
 */
export function watchlistEvents(events: readonly WatchlistEvent[]): string {
  return JSON.stringify({ event: 'pusher_internal:watchlist_events', data: JSON.stringify({ events }) });
}

/** The private channel pusher-js listens on for server-to-user events after sign-in. */
export function serverToUserChannel(userId: string): string {
  return `#server-to-user-${userId}`;
}

export function userEvent(userId: string, name: string, data: string): string {
  return JSON.stringify({ event: name, channel: serverToUserChannel(userId), data });
}

/** `data.code`: `gap_too_old` (missed messages not all retained, or too many) or `epoch_changed` (the serial is from another stream epoch). */
export function recoveryFailedFrame(channel: string, lastSerial: string, reason: string, code: RecoveryFailure): string {
  return JSON.stringify({ event: 'roomcast:recovery_failed', channel, data: JSON.stringify({ channel, last_serial: lastSerial.slice(0, 40), code, reason }) });
}
