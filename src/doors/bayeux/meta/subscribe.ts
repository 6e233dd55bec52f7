/**
 * /meta/subscribe — Bayeux 1.0 §4.5.
 *
 * Request  MUST: channel, clientId, subscription (a channel, a pattern, or — as Faye and
 *                CometD send — an array of them).   MAY: ext, id.
 * Response MUST: channel, successful, clientId, subscription.   MAY: error, advice, ext, id, timestamp.
 *
 * Allowed: `/service/stream` (the room stream), and channels or patterns that map into the
 * bot's room (see channel-map.ts). `/meta/…` and everything outside the room is
 * `403::channel_forbidden`; other `/service/…` channels are `404::channel_unknown`; a name
 * that is not Bayeux grammar is `405::channel_invalid`. An array is all or nothing.
 *
 * `ext.last_serial` asks for what was missed (recovery.ts); the reply's `ext.recovery`
 * lists, per channel, whether it was recovered and how many entries were replayed.
 */
import { createError, type RoomcastError } from '../../../errors.ts';
import { channelNameProblem } from '../../../core/channels.ts';
import { channelOfBayeuxBase, isBayeuxInRoom } from '../channel-map.ts';
import { MAX_SUBSCRIPTIONS } from '../client.ts';
import { failure, failWith, replyTo, unknownClient, type BayeuxMessage, type Reply, type RequestContext } from '../context.ts';
import { isChannelName, isChannelPattern, isMetaChannel, isServiceChannel } from '../grammar.ts';
import { holdAll, planRecoveries, recover, type RecoveryResult } from '../recovery.ts';
import { STREAM_CHANNEL } from '../stream.ts';

/** The subscriptions of a (un)subscribe message, or null when the field is missing or malformed. */
export function subscriptionsOf(message: BayeuxMessage): string[] | null {
  const value = message.subscription;
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((s) => typeof s === 'string')) {
    return value as string[];
  }
  return null;
}

/**
 * Why `subscription` may not be used by a bot of `roomChannel`, or null when it may. A
 * name (or a pattern's fixed part) must map to an app channel of at most `maxChannelLength`
 * characters: a subscription that could never receive anything is refused, as a publish
 * to it is.
 */
export function subscriptionProblem(subscription: string, roomChannel: string, maxChannelLength: number): RoomcastError | null {
  if (!isChannelName(subscription) && !isChannelPattern(subscription)) {
    return createError('RC_ERR_BAYEUX_CHANNEL_INVALID', subscription);
  }
  if (subscription === STREAM_CHANNEL) return null;
  if (isMetaChannel(subscription)) return createError('RC_ERR_BAYEUX_CHANNEL_FORBIDDEN', subscription, roomChannel);
  if (isServiceChannel(subscription)) return createError('RC_ERR_BAYEUX_CHANNEL_UNKNOWN', subscription);
  if (!isBayeuxInRoom(subscription, roomChannel)) return createError('RC_ERR_BAYEUX_CHANNEL_FORBIDDEN', subscription, roomChannel);
  const channel = channelOfBayeuxBase(subscription);
  if (channel === null || channelNameProblem(channel, maxChannelLength) !== null) return createError('RC_ERR_BAYEUX_CHANNEL_INVALID', subscription);
  return null;
}

export async function subscribe(message: BayeuxMessage, context: RequestContext): Promise<Reply> {
  const { door } = context;
  const client = door.registry.get(message.clientId, context.session);
  if (client === undefined) return unknownClient(message, door, { subscription: message.subscription });
  client.lastSeen = Date.now();
  const fields = { clientId: client.id, subscription: message.subscription };
  const wanted = subscriptionsOf(message);
  if (wanted === null) return failWith(message, 'RC_ERR_BAYEUX_FIELD_MISSING', ['subscription'], fields);
  if (wanted.length > MAX_SUBSCRIPTIONS) return failWith(message, 'RC_ERR_BAYEUX_TOO_MANY_SUBSCRIPTIONS', [String(MAX_SUBSCRIPTIONS)], fields);
  const maxChannelLength = door.core.apps.findById(context.session.appId)?.limits.maxChannelNameLength ?? Infinity;
  for (const subscription of wanted) {
    const problem = subscriptionProblem(subscription, context.session.channel, maxChannelLength);
    if (problem !== null) return failure(message, problem, [subscription], fields);
  }
  const added = wanted.filter((s) => !client.subscriptions.has(s));
  if (client.subscriptions.size + added.length > MAX_SUBSCRIPTIONS) {
    return failWith(message, 'RC_ERR_BAYEUX_TOO_MANY_SUBSCRIPTIONS', [String(MAX_SUBSCRIPTIONS)], fields);
  }
  // Recovery: the subscribe may name the last serial seen per channel (see recovery.ts).
  const asked = (message.ext as { last_serial?: unknown } | undefined)?.last_serial;
  const { plans, refused } = planRecoveries(asked, added, client);
  // Hold the recovering channels' live entries before the core subscription starts
  // delivering them: one published while that subscription awaits its occupancy round trip
  // would otherwise be queued at once and then replayed again from history (out of order, and twice).
  const running = holdAll(client, plans);
  for (const subscription of added) client.subscriptions.add(subscription);
  try {
    await door.registry.syncSubscriptions(client);
  } catch (error) {
    for (const plan of running) client.finishRecovery(plan.channel, [], { epoch: null, seq: 0 }, plan.to);
    for (const subscription of added) client.subscriptions.delete(subscription);
    await door.registry.syncSubscriptions(client).catch(() => undefined);
    throw error;
  }
  const results: RecoveryResult[] = [...refused];
  for (const plan of plans) {
    if (!running.includes(plan)) results.push({ channel: plan.bayeux, recovered: false, replayed: 0, reason: 'a recovery of this channel is already under way' });
  }
  for (const plan of running) results.push(await recover(door.core, door.registry.wire, client, plan));
  const reply = replyTo(message, { ...fields, successful: true });
  if (asked !== undefined) reply.ext = { ...(isObject(reply.ext) ? reply.ext : {}), recovery: results };
  return reply;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
