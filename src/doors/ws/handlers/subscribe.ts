/**
 * `pusher:subscribe` { channel, auth?, channel_data? }. Protocol 7:
 * - public channels need nothing; `private-`, `private-encrypted-` and `presence-`
 *   channels MUST carry `auth` = "<key>:<hmac(socket_id:channel[:channel_data])>";
 * - presence channels carry `channel_data` = JSON { user_id, user_info? } (or, when the
 *   connection is signed in, may omit it and join as the signed-in user);
 * - success: `pusher_internal:subscription_succeeded` (presence: data
 *   { presence: { ids, hash, count } }); `cache-` channels then get the last event, or
 *   `pusher:cache_miss`;
 * - failure: `pusher:subscription_error` on the channel (and `pusher:error` 4009 when
 *   the signature is wrong).
 * `#server-to-user-{id}` is the channel pusher-js subscribes after sign-in; it is
 * granted to the signed-in user only.
 *
 * Messages published while the subscribe is in flight are buffered on the subscription
 * and sent after the success frame, so the client never sees an event before it is
 * subscribed, nor the cached event after a newer live one.
 */
import { channelNameProblem, channelTraits, type ChannelTraits } from '../../../core/channels.ts';
import { parseTagFilter, type TagFilter } from '../../../core/tag-filter.ts';
import { createError, createErrorWith, isRoomcastError, type RoomcastError } from '../../../errors.ts';
import type { StreamPosition } from '../../../core/serials.ts';
import type { ChannelMessage, Member } from '../../../core/types.ts';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../../json-depth.ts';
import { channelAuthString, verifyAuthAny } from '../auth.ts';
import type { Connection, Subscription } from '../connection.ts';
import { cacheMiss, echo, encodeChannelMessage, presenceSubscriptionSucceeded, serverToUserChannel, subscriptionSucceeded } from '../frames.ts';
import { deliverAny, fetchRecovery, noteSubscribeOptions, sendRecovery } from '../protocol-v2.ts';

export interface SubscribeRequest {
  readonly channel: string;
  readonly auth: string | undefined;
  readonly channelData: string | undefined;
  /** Recovery (issue 4): the last serial the client saw; what it missed is sent first. */
  readonly lastSerial?: string;
  /** Protocol 2: raw annotation events too. */
  readonly annotations?: boolean;
  /** Sockudo's `tags_filter` (a filter node), or `filter` (`{ tags }`), unvalidated. */
  readonly tagsFilter?: unknown;
  readonly filter?: unknown;
}

const USER_CHANNEL_PREFIX = '#server-to-user-';
/** Longest presence user id accepted (Pusher documents 128). */
const MAX_USER_ID_LENGTH = 128;
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

export async function handleSubscribe(connection: Connection, request: SubscribeRequest): Promise<void> {
  const { channel } = request;
  const { app, core } = connection;
  if (channel.startsWith(USER_CHANNEL_PREFIX)) {
    subscribeUserChannel(connection, channel);
    return;
  }
  const problem = channelNameProblem(channel, app.limits.maxChannelNameLength);
  if (problem !== null) {
    connection.sendSubscriptionError(channel.slice(0, 200), createError('RC_ERR_CHANNEL_INVALID_NAME', echo(channel), problem));
    return;
  }
  if (connection.subscriptions.has(channel)) {
    connection.sendError(createError('RC_ERR_WS_ALREADY_SUBSCRIBED', echo(channel)), channel);
    return;
  }
  const limit = core.config.websocket.maxSubscriptionsPerConnection;
  if (limit > 0 && connection.subscriptions.size >= limit) {
    connection.sendSubscriptionError(channel, createError('RC_ERR_WS_TOO_MANY_SUBSCRIPTIONS', limit));
    return;
  }
  const traits = channelTraits(channel);
  let member: Member | undefined;
  try {
    member = traits.requiresAuth ? authorize(connection, request, traits) : undefined;
  } catch (thrown) {
    connection.sendSubscriptionError(channel, asError(thrown));
    return;
  }

  let tagsFilter: TagFilter | undefined;
  try {
    tagsFilter = tagsFilterOf(request);
  } catch (thrown) {
    connection.sendSubscriptionError(channel, asError(thrown));
    return;
  }

  const subscription: Subscription = { channel, traits, state: 'pending', buffered: [], bufferedPresence: [] };
  if (member !== undefined) subscription.member = member;
  if (tagsFilter !== undefined) {
    subscription.tagsFilter = tagsFilter;
    connection.usesTagFilters = true;
  }
  connection.subscriptions.set(channel, subscription);
  connection.pendingCount++;
  try {
    let members: Member[] | null = null;
    if (member !== undefined) {
      // `limits.maxPresenceMembers` distinct users per channel on every node together,
      // checked atomically with the join.
      const limit = app.limits.maxPresenceMembers;
      members = await core.joinPresence(app.id, channel, connection, member, limit);
      if (members === null) throw createError('RC_ERR_WS_PRESENCE_FULL', echo(channel), limit);
    } else {
      await core.subscribe(app.id, channel, connection);
    }
    // `null` = cache miss; `undefined` = not a cache channel.
    const cached = traits.cached ? await core.lastMessage(app.id, channel) : undefined;
    const recovery = request.lastSerial === undefined ? undefined : await fetchRecovery(connection, channel, request.lastSerial);
    if (!connection.isOpen) {
      // Disconnected meanwhile: the pending subscription is ours to undo.
      await undo(connection, subscription);
      return;
    }
    connection.sendText(members === null ? subscriptionSucceeded(channel) : presenceSubscriptionSucceeded(channel, members));
    let replayed: StreamPosition | null = null;
    noteSubscribeOptions(connection, channel, request.annotations === true);
    // A recovered subscriber gets what it missed instead of the cached last event.
    const recovered = recovery === undefined ? null : sendRecovery(connection, channel, request.lastSerial!, recovery);
    if (recovered !== null) {
      replayed = recovered;
    } else if (cached === null) {
      connection.sendText(cacheMiss(channel));
    } else if (cached !== undefined) {
      replayed = { epoch: cached.epoch, seq: cached.seq };
      // A filtered subscription gets the cached event only when it matches (else nothing, not a miss).
      if (connection.wants(cached)) connection.sendText(cached.encode(encodeChannelMessage));
    }
    subscription.state = 'active';
    // Live copies of what the replay sent, fanned out later (a catch-up from the log), are skipped.
    if (replayed !== null) connection.setFloor(subscription, replayed);
    if (subscription.bufferedCount !== undefined) connection.subscriptionCountChanged(channel, subscription.bufferedCount);
    // Changes that arrived while subscribing and that the snapshot already covers (as new or newer) are not news.
    const snapshot = new Map((members ?? []).map((present) => [present.userId, present.version ?? 0]));
    for (const change of subscription.bufferedPresence) {
      if (change.version === undefined || change.version > (snapshot.get(change.member.userId) ?? 0)) connection.presenceChanged(change);
    }
    flushBuffered(connection, subscription.buffered, replayed);
    subscription.buffered = [];
    subscription.bufferedPresence = [];
  } catch (thrown) {
    await undo(connection, subscription);
    if (connection.isOpen) connection.sendSubscriptionError(channel, asError(thrown));
  } finally {
    connection.pendingCount--;
  }
}

/** Undoes a pending subscription's hub entry and membership (failure, or the connection closed). */
async function undo(connection: Connection, subscription: Subscription): Promise<void> {
  if (connection.subscriptions.get(subscription.channel) === subscription) {
    connection.clearFloor(subscription);
    connection.subscriptions.delete(subscription.channel);
  }
  await connection.core.unsubscribe(connection.app.id, subscription.channel, connection);
}

/**
 * Sends what arrived while pending, skipping what the cached replay or recovery already
 * covered (same stream epoch, seq at or below it). Ephemeral messages (seq 0) are in no
 * replay, and a message of another epoch is not ordered against it: both always go.
 */
function flushBuffered(connection: Connection, buffered: readonly ChannelMessage[], replayed: StreamPosition | null): void {
  for (const message of buffered) {
    if (replayed === null || !message.coveredBy(replayed.epoch, replayed.seq)) deliverAny(connection, message);
  }
}

/**
 * The subscribe's tag filter: Sockudo's `tags_filter`, or `filter: { tags }`. Other
 * `filter` keys (`events`, `expression`) are refused rather than ignored, so a client
 * never receives what it asked to be spared.
 */
function tagsFilterOf(request: SubscribeRequest): TagFilter | undefined {
  const { channel } = request;
  if (request.filter === undefined) return request.tagsFilter === undefined ? undefined : parseTagFilter(request.tagsFilter, channel);
  if (request.tagsFilter !== undefined) throw createError('RC_ERR_WS_BAD_TAGS_FILTER', echo(channel), 'give tags_filter or filter, not both');
  const filter = request.filter;
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) throw createError('RC_ERR_WS_BAD_TAGS_FILTER', echo(channel), 'filter must be an object { tags }');
  const other = Object.keys(filter).filter((key) => key !== 'tags');
  if (other.length > 0) {
    throw createError('RC_ERR_WS_BAD_TAGS_FILTER', echo(channel), `filter.${other[0]!.slice(0, 20)} is not supported; only filter.tags`);
  }
  const tags = (filter as { tags?: unknown }).tags;
  return tags === undefined || tags === null ? undefined : parseTagFilter(tags, channel);
}

/**
 * Checks the signature; for presence, returns the member from channel_data or the
 * signed-in user. Presence signs `socket_id:channel:channel_data` whenever channel_data
 * is sent. Private and encrypted channels sign `socket_id:channel`, or, when the client
 * sent channel_data (pusher-js relays whatever the auth endpoint returned, and the
 * SDKs' `authorizeChannel(socket, channel, data)` signs it for any channel),
 * `socket_id:channel:channel_data`: either form is accepted when its signature verifies.
 * Both bind the socket id and the channel, so neither opens anything the other does not.
 */
function authorize(connection: Connection, request: SubscribeRequest, traits: ChannelTraits): Member | undefined {
  const { channel, auth, channelData } = request;
  const presence = traits.kind === 'presence';
  const signed = channelAuthString(connection.socketId, channel, presence ? channelData : undefined);
  const candidates = !presence && channelData !== undefined ? [signed, channelAuthString(connection.socketId, channel, channelData)] : [signed];
  if (!verifyAuthAny(connection.app, candidates, auth)) {
    const expected = candidates.map((text) => JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}…` : text)).join(' or ');
    throw createError('RC_ERR_WS_UNAUTHORIZED', echo(channel), expected);
  }
  if (traits.kind !== 'presence') return undefined;
  let member: Member;
  if (channelData === undefined) {
    if (connection.user === null) {
      throw createError('RC_ERR_WS_BAD_CHANNEL_DATA', echo(channel), 'is missing: presence channels need { user_id }, or sign in first');
    }
    member = { userId: connection.user.userId, userInfo: connection.user.userInfo };
  } else {
    member = parseChannelData(channel, channelData);
  }
  // Every member's info reaches every subscriber on each join: bounded per member.
  const infoBytes = Buffer.byteLength(JSON.stringify(member.userInfo ?? null));
  const limit = connection.app.limits.maxPresenceMemberBytes;
  if (infoBytes > limit) throw createError('RC_ERR_WS_BAD_CHANNEL_DATA', echo(channel), `has a user_info of ${infoBytes} bytes; the limit is ${limit} (apps[].limits.maxPresenceMemberBytes)`);
  return member;
}

function parseChannelData(channel: string, text: string): Member {
  // user_info is re-serialised for the presence store; a deep one would overflow there.
  if (jsonTooDeep(text)) throw createError('RC_ERR_WS_BAD_CHANNEL_DATA', echo(channel), `nests deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw createError('RC_ERR_WS_BAD_CHANNEL_DATA', echo(channel), 'is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw createError('RC_ERR_WS_BAD_CHANNEL_DATA', echo(channel), 'must be a JSON object');
  }
  const { user_id: rawId, user_info: userInfo } = value as { user_id?: unknown; user_info?: unknown };
  // Pusher accepts numeric ids; they are strings on the wire.
  const userId = typeof rawId === 'number' && Number.isFinite(rawId) ? String(rawId) : rawId;
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > MAX_USER_ID_LENGTH || CONTROL_CHARACTERS.test(userId)) {
    throw createError('RC_ERR_WS_BAD_CHANNEL_DATA', echo(channel), `needs user_id: a string of 1–${MAX_USER_ID_LENGTH} printable characters`);
  }
  return { userId, userInfo: userInfo ?? null };
}

/** `#server-to-user-{id}`: granted to the connection signed in as `{id}` only. */
function subscribeUserChannel(connection: Connection, channel: string): void {
  const user = connection.user;
  if (user === null || channel !== serverToUserChannel(user.userId)) {
    connection.sendSubscriptionError(channel.slice(0, 200), createError('RC_ERR_WS_SIGNIN_FAILED', `only the signed-in user may subscribe to ${echo(channel)}`));
    return;
  }
  connection.userChannelSubscribed = true;
  connection.sendText(subscriptionSucceeded(channel));
}

function asError(thrown: unknown): RoomcastError {
  return isRoomcastError(thrown) ? thrown : createErrorWith('RC_ERR_INTERNAL', { cause: thrown });
}
