/**
 * /meta/handshake — Bayeux 1.0 §4.1.
 *
 * Request  MUST: channel, version, supportedConnectionTypes.   MAY: minimumVersion, ext, id.
 * Success  MUST: channel, version, supportedConnectionTypes, clientId, successful.
 *          MAY:  minimumVersion, advice, ext, id, authSuccessful.
 * Failure  MUST: channel, successful (false), error.
 *          MAY:  supportedConnectionTypes, advice, version, minimumVersion, ext, id.
 *
 * The login session (cookies) is already checked; each handshake makes a new client of it,
 * served by this node (its home) and recorded in the backend before the reply (records.ts),
 * and the client becomes a presence member of the bot's room (registry.ts `joinRoom`)
 * before the reply. `ext.broadcastToPublisher: false` opts the client out of receiving its
 * own publishes on mapped channels (CometD's server-side `broadcastToPublisher`; Faye and
 * CometD clients have no wire option of their own, and receive them by default).
 * `ext.ack: true` asks for the ack extension (ext/ack.ts); the reply says `ext.ack: true`.
 */
import { addExt, adviceOf, failWith, replyTo, type BayeuxMessage, type Reply, type RequestContext } from '../context.ts';
import { wantsAck } from '../ext/ack.ts';

export const BAYEUX_VERSION = '1.0';
export const CONNECTION_TYPES = ['long-polling'] as const;

export async function handshake(message: BayeuxMessage, context: RequestContext): Promise<Reply> {
  const { door } = context;
  const common = { version: BAYEUX_VERSION, supportedConnectionTypes: [...CONNECTION_TYPES], advice: adviceOf(door.config) };
  const offered = message.supportedConnectionTypes;
  if (!Array.isArray(offered)) return failWith(message, 'RC_ERR_BAYEUX_FIELD_MISSING', ['supportedConnectionTypes'], common);
  if (!offered.includes('long-polling')) {
    return failWith(message, 'RC_ERR_BAYEUX_CONNECTION_TYPE', [offered.filter((t) => typeof t === 'string').join(' ') || 'none'], common);
  }
  const client = door.registry.create(context.session);
  const ext = message.ext as { broadcastToPublisher?: unknown } | undefined;
  if (ext !== null && typeof ext === 'object' && ext.broadcastToPublisher === false) client.broadcastToPublisher = false;
  const reply = replyTo(message, { ...common, clientId: client.id, successful: true });
  if (wantsAck(message.ext)) {
    client.ackEnabled = true;
    addExt(reply, { ack: true });
  }
  // The record first: the bot's next request may reach any node. Then the login's bound.
  try {
    await door.registry.persist(client, true);
    await door.registry.enrol(client);
  } catch (error) {
    await door.registry.remove(client);
    throw error;
  }
  await door.registry.joinRoom(client);
  return reply;
}
