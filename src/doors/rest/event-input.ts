/**
 * Turns one REST event body into what the core publishes, checking it against the
 * app's limits first. Shared by `POST /events` and each item of `POST /batch_events`.
 *
 * Channels named `#server-to-user-{user_id}` are not channels: the `pusher` SDK's
 * `sendToUser(user, event, data)` triggers on that name, and Pusher delivers the event
 * to every connection the user signed in with. They go to `core.sendToUser`.
 */
import type { AppConfig } from '../../config/schema.ts';
import { createError } from '../../core/errors.ts';
import { validateEvent, type PublishInput } from '../../core/publish.ts';

/** An event as the JSON body carries it (after ajv). */
export interface EventBody {
  readonly name: string;
  readonly data?: unknown;
  readonly channel?: string;
  readonly channels?: readonly string[];
  readonly socket_id?: string;
  readonly info?: string;
  /** Passed through to subscribers' records; `extras.push` also notifies the channel's push subscribers. */
  readonly extras?: Readonly<Record<string, unknown>>;
}

/** A checked event: channel publish input plus the users it goes to directly. */
export interface PreparedEvent {
  /** The real channels (may be empty when the event only targets users). */
  readonly input: PublishInput;
  /** User ids from `#server-to-user-{id}` targets. */
  readonly userIds: readonly string[];
  /** The event data as the string delivered (objects serialised once). */
  readonly data: string;
}

/** The pseudo-channel prefix the Pusher SDKs use for server-to-user events. */
export const SERVER_TO_USER_PREFIX = '#server-to-user-';

/** Pusher socket ids are two integers joined by a dot (`123.456`). */
const SOCKET_ID = /^\d{1,20}\.\d{1,20}$/;

/**
 * Names the Pusher protocol reserves for its own frames: a published `pusher:…` event
 * would reach pusher-js as if the server had sent a protocol message.
 */
const RESERVED_NAME = /^pusher(_internal)?:/;

/** Pusher user ids: 1–200 characters, no control characters. */
const MAX_USER_ID_LENGTH = 200;
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** Throws RC_ERR_USER_INVALID_ID unless `userId` is a usable user id. */
export function assertUserId(userId: string): void {
  if (userId.length === 0 || userId.length > MAX_USER_ID_LENGTH || CONTROL_CHARACTERS.test(userId)) {
    throw createError('RC_ERR_USER_INVALID_ID', JSON.stringify(userId.slice(0, 60)));
  }
}

/** Decodes and checks one event; throws the catalogue error of its first problem. */
export function prepareEvent(app: AppConfig, event: EventBody): PreparedEvent {
  if (typeof event.name === 'string' && RESERVED_NAME.test(event.name)) {
    throw createError('RC_ERR_EVENT_INVALID_NAME', 'uses a prefix the protocol reserves (pusher: or pusher_internal:)');
  }
  if (event.channel !== undefined && event.channels !== undefined) throw createError('RC_ERR_EVENT_CHANNEL_AND_CHANNELS');
  // A channel named twice would get the event twice; deliver once per distinct name.
  const targets = [...new Set(event.channels ?? (event.channel === undefined ? [] : [event.channel]))];
  if (targets.length > app.limits.maxChannelsPerEvent) {
    throw createError('RC_ERR_EVENT_TOO_MANY_CHANNELS', app.limits.maxChannelsPerEvent, targets.length);
  }
  if (event.socket_id !== undefined && !SOCKET_ID.test(event.socket_id)) {
    throw createError('RC_ERR_EVENT_INVALID_SOCKET_ID', JSON.stringify(event.socket_id.slice(0, 40)));
  }
  const channels: string[] = [];
  const userIds: string[] = [];
  for (const target of targets) {
    if (typeof target === 'string' && target.startsWith(SERVER_TO_USER_PREFIX)) {
      const userId = target.slice(SERVER_TO_USER_PREFIX.length);
      assertUserId(userId);
      userIds.push(userId);
    } else {
      channels.push(target);
    }
  }
  const input: PublishInput = {
    name: event.name,
    channels,
    data: event.data,
    origin: 'rest',
    sender: { type: 'Server', id: app.id },
    ...(event.socket_id === undefined ? {} : { socketId: event.socket_id }),
    ...(event.extras === undefined ? {} : { extras: event.extras }),
  };
  // validateEvent checks name, channels and data size; an event for users only has no
  // channel, so it is checked with one stand-in channel (the users were checked above).
  const data = validateEvent(app, channels.length > 0 || userIds.length === 0 ? input : { ...input, channels: ['server-to-user'] });
  return { input, userIds, data };
}
