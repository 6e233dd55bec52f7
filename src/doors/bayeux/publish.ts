/**
 * Publishing — Bayeux 1.0 §5.1 (messages on any non-meta channel).
 *
 * Request  MUST: channel, data.   MAY: clientId, id, ext.
 * Response MUST: channel, successful.   MAY: id, error, ext.
 *
 * `/service/stream` speaks in the bot's room: `data` is the text, or
 * `{"contentData": "…"}` (the stream's own shape); it is published on the room channel
 * through the core (origin `bayeux`, sender `API`), so WebSocket subscribers, history and
 * other bots get it — never the sender itself (as the Sococo API behaves). A channel mapped
 * into the room (see channel-map.ts) publishes `data` there, and follows Bayeux: its
 * subscribers get it, the publishing client too unless its handshake opted out
 * (`ext.broadcastToPublisher: false`; see client.ts). Either way the event name is `message`.
 * While delivery is behind on some node (`backpressure.maxLagMs`) a publish is refused:
 * `successful: false`, `error: "503:<seconds to wait>:publish_backpressure"`.
 */
import { createError, isRoomcastError } from '../../errors.ts';
import { channelNameProblem } from '../../core/channels.ts';
import { channelOfBayeux, isBayeuxInRoom } from './channel-map.ts';
import { failure, failWith, replyTo, unknownClient, type BayeuxMessage, type Reply, type RequestContext } from './context.ts';
import { isChannelName, isMetaChannel, isServiceChannel } from './grammar.ts';
import { BOT_EVENT_NAME, STREAM_CHANNEL } from './stream.ts';

export async function publish(message: BayeuxMessage, context: RequestContext): Promise<Reply> {
  const { door, session } = context;
  const channel = message.channel as string;
  const client = door.registry.get(message.clientId, session);
  if (client === undefined) return unknownClient(message, door);
  client.lastSeen = Date.now();
  if (!isChannelName(channel)) return failWith(message, 'RC_ERR_BAYEUX_CHANNEL_INVALID', [channel]);
  if (!('data' in message) || message.data === undefined) return failWith(message, 'RC_ERR_BAYEUX_FIELD_MISSING', ['data']);

  let target: string;
  let data: unknown = message.data;
  // The hub skips the connection named as the socket: always on the stream, on mapped
  // channels only for a client that opted out of its own publishes.
  let socketId: string | undefined = client.broadcastToPublisher ? undefined : client.id;
  if (channel === STREAM_CHANNEL) {
    target = session.channel;
    socketId = client.id;
    const content = contentOf(message.data);
    if (content === null) return failWith(message, 'RC_ERR_BAYEUX_FIELD_MISSING', ['data (a string or {"contentData": "…"})']);
    data = content;
  } else if (isServiceChannel(channel)) {
    return failWith(message, 'RC_ERR_BAYEUX_CHANNEL_UNKNOWN', [channel]);
  } else if (isMetaChannel(channel) || !isBayeuxInRoom(channel, session.channel)) {
    return failure(message, createError('RC_ERR_BAYEUX_CHANNEL_FORBIDDEN', channel, session.channel), [channel]);
  } else {
    const mapped = channelOfBayeux(channel);
    if (mapped === null) return failWith(message, 'RC_ERR_BAYEUX_CHANNEL_INVALID', [channel]);
    target = mapped;
  }

  const app = door.core.apps.findById(session.appId);
  if (app === undefined || !app.enabled) return failWith(message, 'RC_ERR_BAYEUX_PUBLISH_FAILED', [`app ${session.appId} is disabled`]);
  if (channelNameProblem(target, app.limits.maxChannelNameLength) !== null) return failWith(message, 'RC_ERR_BAYEUX_CHANNEL_INVALID', [channel]);
  // A node of the cluster delivers too late: refuse (core/backpressure.ts); the error's
  // argument is the number of seconds to wait before publishing again.
  const pushedBack = door.core.backpressure.refusal('RC_ERR_BAYEUX_PUBLISH_BACKPRESSURE');
  if (pushedBack !== null) {
    door.core.counters.refusals.add('bayeux\nbackpressure');
    return failure(message, pushedBack, [String(pushedBack.details.retryAfterSec)]);
  }
  let serial: string | undefined;
  try {
    const published = await door.core.publish(app, [
      {
        name: BOT_EVENT_NAME,
        channels: [target],
        data,
        ...(socketId !== undefined ? { socketId } : {}),
        origin: 'bayeux',
        sender: { type: 'API', id: session.bot, displayName: session.displayName },
      },
    ]);
    serial = published[0]?.[0]?.serial;
  } catch (error) {
    // Input problems are the bot's to fix, each with a Bayeux error of its own; anything else is ours.
    if (isRoomcastError(error) && error.code === 'RC_ERR_EVENT_DATA_TOO_LARGE') {
      return failWith(message, 'RC_ERR_BAYEUX_DATA_TOO_LARGE', [String(app.limits.maxEventDataBytes)]);
    }
    if (isRoomcastError(error) && error.status < 500) return failWith(message, 'RC_ERR_BAYEUX_PUBLISH_REFUSED', [error.code]);
    return failure(message, createError('RC_ERR_BAYEUX_PUBLISH_FAILED', isRoomcastError(error) ? error.code : 'internal error'), []);
  }
  // The message's serial (issue 4) rides in the reply's ext, next to the bot's own ext fields.
  const reply = replyTo(message, { successful: true });
  if (serial !== undefined) reply.ext = { ...(isObject(reply.ext) ? reply.ext : {}), message_serial: serial };
  return reply;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function contentOf(data: unknown): string | null {
  if (typeof data === 'string') return data;
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    const content = (data as { contentData?: unknown }).contentData;
    if (typeof content === 'string') return content;
  }
  return null;
}
