/**
 * /meta/connect — Bayeux 1.0 §4.2.
 *
 * Request  MUST: channel, clientId, connectionType.   MAY: ext, id.
 * Response MUST: channel, successful, clientId.        MAY: error, advice, ext, id, timestamp.
 *
 * Long-polling: the reply is held until an event is queued for the client or the timeout
 * (`advice.timeout`, i.e. `config.bots.connectTimeoutMs`, or less if the client asks for
 * less) passes. `timeout: 0` in the request's advice, or a connect batched with other
 * messages, is answered at once. A connect superseded by a newer one from the same client
 * is answered `409::connect_superseded` (a Bayeux error in a 200, never HTTP 408).
 * While a connect is held the login session is kept alive; see core/bot-sessions.ts.
 * With the ack extension, `ext.ack` acknowledges the batches up to it (later ones are sent
 * again in this reply) and the reply's `ext.ack` names its own batch (transport.ts); a
 * connect acknowledging less than the bot already did is late, and answered at once with
 * nothing, the bot's current connect staying held. Without it, a connect sent again with
 * the `id` of the last one whose reply took events (faye's retry after its request timed
 * out) gets those events again (client.ts `resent`).
 */
import type { BayeuxClient } from '../client.ts';
import { adviceOf, failWith, replyTo, unknownClient, type BayeuxMessage, type Reply, type RequestContext } from '../context.ts';
import { ackedBatch } from '../ext/ack.ts';

export interface ConnectStep {
  readonly reply: Reply;
  /** The client to hold for (absent when the reply is final, e.g. an error). */
  readonly client?: BayeuxClient;
  /** How long to hold, in milliseconds (0: answer now with what is queued). */
  readonly holdMs: number;
}

export function connect(message: BayeuxMessage, context: RequestContext): ConnectStep {
  const { door } = context;
  const client = door.registry.get(message.clientId, context.session);
  if (client === undefined) return { reply: unknownClient(message, door), holdMs: 0 };
  client.lastSeen = Date.now();
  const acked = client.ackEnabled ? ackedBatch(message.ext) : null;
  // A late connect (an acknowledgement older than one received): answered at once, empty.
  if (acked !== null && client.isLateAck(acked)) return { reply: replyTo(message, { clientId: client.id, successful: true, advice: adviceOf(door.config) }), holdMs: 0 };
  client.supersede();
  // A connect that names no batch takes everything sent as received (as without the extension).
  if (client.ackEnabled) client.acknowledge(ackedBatch(message.ext) ?? client.batch);
  // Sent again with its id: the reply to it never reached the bot, whose events it gets now.
  else client.resent(message.id);
  if (message.connectionType !== 'long-polling') {
    const given = typeof message.connectionType === 'string' ? message.connectionType : 'none';
    return {
      reply: failWith(message, 'RC_ERR_BAYEUX_CONNECTION_TYPE', [given], { clientId: client.id, advice: adviceOf(door.config) }),
      holdMs: 0,
    };
  }
  const asked = (message.advice as { timeout?: unknown } | undefined)?.timeout;
  const limit = door.config.connectTimeoutMs;
  const holdMs = context.batched ? 0 : typeof asked === 'number' && asked >= 0 ? Math.min(asked, limit) : limit;
  return { reply: replyTo(message, { clientId: client.id, successful: true, advice: adviceOf(door.config) }), client, holdMs };
}
