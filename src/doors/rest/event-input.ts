/**
 * Turns one REST event body into what the core publishes, checking it against the
 * app's limits first. Shared by `POST /events` and each item of `POST /batch_events`.
 *
 * Channels named `#server-to-user-{user_id}` are not channels: the `pusher` SDK's
 * `sendToUser(user, event, data)` triggers on that name, and Pusher delivers the event
 * to every connection the user signed in with. They go to `core.sendToUser`.
 */
import type { AppConfig } from '../../config/schema.ts';
import { createError } from '../../errors.ts';
import { checkEvent, RESERVED_EVENT_NAME, validateEvent, type PublishInput } from '../../core/publish.ts';
import { parseTags } from '../../core/tag-filter.ts';

/**
 * An event as the JSON body carries it. Nothing is trusted yet: ajv checks only that it is
 * an object (see schemas.ts), and `prepareEvent` checks every field's type, so that a
 * batch item's error always carries its index and no value is coerced (`name: 5`).
 */
export interface EventBody {
  readonly name?: unknown;
  readonly data?: unknown;
  readonly channel?: unknown;
  readonly channels?: unknown;
  readonly socket_id?: unknown;
  readonly info?: unknown;
  /**
   * Passed through to subscribers' records; `extras.push` also notifies the channel's push
   * subscribers; `extras.ephemeral: true` delivers the event without storing it (no serial).
   */
  readonly extras?: unknown;
  /** Publication tags (an object of strings): subscribers' tag filters match against them. */
  readonly tags?: unknown;
}

/** A checked event: channel publish input plus the users it goes to directly. */
export interface PreparedEvent {
  /** The real channels (may be empty when the event only targets users). */
  readonly input: PublishInput;
  /** User ids from `#server-to-user-{id}` targets. */
  readonly userIds: readonly string[];
  /** The event data as the string delivered (objects serialised once). */
  readonly data: string;
  /** The `info` parameter, checked to be a string (parsed by the route). */
  readonly info: string | undefined;
}

/** The pseudo-channel prefix the Pusher SDKs use for server-to-user events. */
export const SERVER_TO_USER_PREFIX = '#server-to-user-';

/** Pusher socket ids are two integers joined by a dot (`123.456`). */
const SOCKET_ID = /^\d{1,20}\.\d{1,20}$/;


/** Pusher user ids: 1–200 characters, no control characters. */
const MAX_USER_ID_LENGTH = 200;
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** Throws RC_ERR_USER_INVALID_ID unless `userId` is a usable user id. */
export function assertUserId(userId: string): void {
  if (userId.length === 0 || userId.length > MAX_USER_ID_LENGTH || CONTROL_CHARACTERS.test(userId)) {
    throw createError('RC_ERR_USER_INVALID_ID', JSON.stringify(userId.slice(0, 60)));
  }
}

/** Longest `info` accepted (the schema's former bound; Pusher's attributes fit many times over). */
const MAX_INFO_LENGTH = 200;
/** Most keys an `extras` object may have: it is stored with every message of the event. */
const MAX_EXTRAS_KEYS = 16;

/** A short, printable rendering of a client value for error messages. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40));
  return `${typeof value} ${String(value).slice(0, 40)}`;
}

/** `maxLength` only where nothing later bounds the value (channel names are checked by the core). */
function optionalString(event: EventBody, field: 'channel' | 'info', maxLength?: number): string | undefined {
  const value = event[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || (maxLength !== undefined && value.length > maxLength)) {
    const expected = maxLength === undefined ? 'a string' : `a string of at most ${maxLength} characters`;
    throw createError('RC_ERR_EVENT_INVALID_FIELD', field, expected, describe(value));
  }
  return value;
}

function optionalChannelList(value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw createError('RC_ERR_EVENT_INVALID_FIELD', 'channels', 'an array of channel names (strings)', describe(value));
  }
  return value;
}

function optionalExtras(value: unknown): Readonly<Record<string, unknown>> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.keys(value).length > MAX_EXTRAS_KEYS) {
    throw createError('RC_ERR_EVENT_INVALID_FIELD', 'extras', `an object of at most ${MAX_EXTRAS_KEYS} keys`, describe(value));
  }
  const extras = value as Readonly<Record<string, unknown>>;
  if (Object.hasOwn(extras, 'ephemeral')) {
    if (typeof extras.ephemeral !== 'boolean') throw createError('RC_ERR_EVENT_INVALID_FIELD', 'extras.ephemeral', 'a boolean', describe(extras.ephemeral));
    // A channel push is deduplicated across nodes by the message serial, which an ephemeral event has not.
    if (extras.ephemeral && Object.hasOwn(extras, 'push')) {
      throw createError('RC_ERR_EVENT_INVALID_FIELD', 'extras', 'either ephemeral or push (an ephemeral event has no serial to deliver a push once by)', 'both');
    }
  }
  return extras;
}

/** The longest `idempotency_key`: a UUID with a prefix fits, and it stays cheap to store. */
const MAX_IDEMPOTENCY_KEY_LENGTH = 200;

/** A body's `idempotency_key` (a string of 1 to 200 characters, never coerced), or undefined when it has none. */
export function idempotencyKeyOf(body: { readonly idempotency_key?: unknown }): string | undefined {
  const key = body.idempotency_key;
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw createError('RC_ERR_EVENT_INVALID_FIELD', 'idempotency_key', `a string of 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`, describe(key));
  }
  return key;
}

function hasUserTarget(targets: readonly string[]): boolean {
  for (let i = 0; i < targets.length; i++) if (targets[i]!.startsWith(SERVER_TO_USER_PREFIX)) return true;
  return false;
}

/**
 * Decodes and checks one event; throws the catalogue error of its first problem.
 * `data` may be any JSON value (strings are delivered as they are, the rest serialised once).
 */
export function prepareEvent(app: AppConfig, event: EventBody): PreparedEvent {
  const { name } = event;
  if (typeof name !== 'string') {
    throw createError('RC_ERR_EVENT_INVALID_NAME', name === undefined ? 'is missing' : `must be a string; got ${describe(name)}`);
  }
  if (RESERVED_EVENT_NAME.test(name)) {
    throw createError('RC_ERR_EVENT_INVALID_NAME', 'uses a prefix the protocol reserves (pusher: or pusher_internal:)');
  }
  if (event.data === undefined) throw createError('RC_ERR_EVENT_INVALID_FIELD', 'data', 'present (a string or any JSON value)', 'nothing');
  const channel = optionalString(event, 'channel');
  const channelList = optionalChannelList(event.channels);
  if (channel !== undefined && channelList !== undefined) throw createError('RC_ERR_EVENT_CHANNEL_AND_CHANNELS');
  // A channel named twice would get the event twice; deliver once per distinct name.
  const targets = channelList === undefined ? (channel === undefined ? [] : [channel]) : [...new Set(channelList)];
  if (targets.length > app.limits.maxChannelsPerEvent) {
    throw createError('RC_ERR_EVENT_TOO_MANY_CHANNELS', app.limits.maxChannelsPerEvent, targets.length);
  }
  const socketId = event.socket_id;
  if (socketId !== undefined && (typeof socketId !== 'string' || !SOCKET_ID.test(socketId))) {
    throw createError('RC_ERR_EVENT_INVALID_SOCKET_ID', describe(socketId));
  }
  const info = optionalString(event, 'info', MAX_INFO_LENGTH);
  const extras = optionalExtras(event.extras);
  const tags = parseTags(event.tags);
  let channels: string[] = targets;
  const userIds: string[] = [];
  if (hasUserTarget(targets)) {
    channels = [];
    for (const target of targets) {
      if (target.startsWith(SERVER_TO_USER_PREFIX)) {
        const userId = target.slice(SERVER_TO_USER_PREFIX.length);
        assertUserId(userId);
        userIds.push(userId);
      } else {
        channels.push(target);
      }
    }
  }
  // Built field by field (the usual event has none of the optional ones): no spread objects.
  const input: { -readonly [K in keyof PublishInput]: PublishInput[K] } = { name, channels, data: event.data, origin: 'rest', sender: { type: 'Server', id: app.id } };
  if (socketId !== undefined) input.socketId = socketId;
  if (extras !== undefined) input.extras = extras;
  if (tags !== undefined) input.tags = tags;
  // validateEvent checks name, channels and data size; an event for users only has no
  // channel, so it is checked with one stand-in channel (the users were checked above).
  if (channels.length > 0 || userIds.length === 0) {
    // Checked once: the core publishes the checked event (data as the string just made, a
    // JSON value serialised once) without checking it again.
    const checked = checkEvent(app, input);
    return { input: checked, userIds, data: checked.data, info };
  }
  const data = validateEvent(app, { ...input, channels: ['server-to-user'] });
  return { input: typeof event.data === 'string' ? input : { ...input, data }, userIds, data, info };
}
