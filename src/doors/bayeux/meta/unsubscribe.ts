/**
 * /meta/unsubscribe — Bayeux 1.0 §4.6.
 *
 * Request  MUST: channel, clientId, subscription (or an array).   MAY: ext, id.
 * Response MUST: channel, successful, clientId, subscription.    MAY: error, advice, ext, id, timestamp.
 *
 * Unsubscribing from something not subscribed succeeds (idempotent).
 */
import { failWith, replyTo, unknownClient, type BayeuxMessage, type Reply, type RequestContext } from '../context.ts';
import { isChannelName, isChannelPattern } from '../grammar.ts';
import { subscriptionsOf } from './subscribe.ts';

export async function unsubscribe(message: BayeuxMessage, context: RequestContext): Promise<Reply> {
  const { door } = context;
  const client = door.registry.get(message.clientId, context.session);
  if (client === undefined) return unknownClient(message, door, { subscription: message.subscription });
  client.lastSeen = Date.now();
  const fields = { clientId: client.id, subscription: message.subscription };
  const given = subscriptionsOf(message);
  if (given === null) return failWith(message, 'RC_ERR_BAYEUX_FIELD_MISSING', ['subscription'], fields);
  const invalid = given.find((s) => !isChannelName(s) && !isChannelPattern(s));
  if (invalid !== undefined) return failWith(message, 'RC_ERR_BAYEUX_CHANNEL_INVALID', [invalid], fields);
  for (const subscription of given) client.subscriptions.delete(subscription);
  await door.registry.syncSubscriptions(client);
  return replyTo(message, { ...fields, successful: true });
}
