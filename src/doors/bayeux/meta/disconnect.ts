/**
 * /meta/disconnect — Bayeux 1.0 §4.4.
 *
 * Request  MUST: channel, clientId.   MAY: ext, id.
 * Response MUST: channel, clientId, successful.   MAY: error, ext, id.
 *
 * Ends the client (its held connect is answered, its subscriptions dropped). The login
 * session stays: the bot may handshake again until it expires. A connect the client still had
 * held is answered successfully with advice `reconnect: none` (CometD fails its disconnect
 * callback when that connect comes back as an error).
 */
import { clientMoved, replyTo, unknownClient, type BayeuxMessage, type Reply, type RequestContext } from '../context.ts';

export async function disconnect(message: BayeuxMessage, context: RequestContext): Promise<Reply> {
  const { door } = context;
  const client = door.registry.get(message.clientId, context.session);
  if (client === undefined) return unknownClient(message, door);
  // Its record names another node: that node adopted the client and serves it; the bot sends the disconnect again.
  if (!(await door.registry.remove(client, true))) return clientMoved(message, door, client.id);
  return replyTo(message, { clientId: client.id, successful: true });
}
