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
 * and the client becomes a presence member of the bot's room (registry.ts `joinRoom`)
 * before the reply. `ext.broadcastToPublisher: false` opts the client out of receiving its
 * own publishes on mapped channels (CometD's server-side `broadcastToPublisher`; Faye and
 * CometD clients have no wire option of their own, and receive them by default).
 */
import { adviceOf, failWith, replyTo, type BayeuxMessage, type Reply, type RequestContext } from '../context.ts';

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
  await door.registry.joinRoom(client);
  return replyTo(message, { ...common, clientId: client.id, successful: true });
}
