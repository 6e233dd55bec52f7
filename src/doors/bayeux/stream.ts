/**
 * The room stream's wire format. A bot subscribed to `/service/stream` receives its room
 * channel's messages and its people's joins and leaves as
 *
 *   {"messageType":"Message"|"Join"|"Exit","contentData":"…","senderType":"API"|"Human",
 *    "senderID":"…","senderDisplayName":"…","timestamp":<ms since the epoch>}
 *
 * Encoders are module-level functions, so `ChannelMessage.encode` builds each Bayeux
 * event's text once per publish and every bot of the room shares it.
 */
import type { ChannelMessage, PresenceChange } from '../../core/types.ts';
import { bayeuxOfChannel } from './channel-map.ts';

/** The Bayeux channel of the room stream. */
export const STREAM_CHANNEL = '/service/stream';
/** The event name under which Bayeux publishes enter the app's channels (Bayeux has no event names). */
export const BOT_EVENT_NAME = 'message';

export interface StreamMessage {
  readonly messageType: 'Message' | 'Join' | 'Exit';
  readonly contentData: string;
  readonly senderType: 'API' | 'Human';
  readonly senderID: string;
  readonly senderDisplayName: string;
  readonly timestamp: number;
}

/** The bot-API view of a channel message. Bots are `API`; people and servers publishing for them are `Human`. */
export function streamMessageOf(message: ChannelMessage): StreamMessage {
  const { record } = message;
  const sender = record.sender;
  const senderID = sender?.id ?? record.userId ?? record.origin;
  return {
    messageType: 'Message',
    contentData: record.data,
    senderType: sender?.type === 'API' ? 'API' : 'Human',
    senderID,
    senderDisplayName: sender?.displayName ?? senderID,
    timestamp: message.time,
  };
}

/** `/service/stream` event text of a channel message (room channel only). */
export function encodeStreamEvent(message: ChannelMessage): string {
  return JSON.stringify({ channel: STREAM_CHANNEL, id: message.serial, data: streamMessageOf(message) });
}

/** Event text of a message on a mapped channel: the same shape plus the event name. */
export function encodeMappedEvent(message: ChannelMessage): string {
  return JSON.stringify({
    channel: bayeuxOfChannel(message.channel),
    id: message.serial,
    data: { ...streamMessageOf(message), event: message.record.name },
  });
}

/** Join/Exit texts, built once per presence change and shared by the room's bots on this node. */
const presenceTexts = new WeakMap<PresenceChange, string>();

export function encodePresenceEvent(change: PresenceChange): string {
  let text = presenceTexts.get(change);
  if (text === undefined) {
    const info = change.member.userInfo;
    const named = info !== null && typeof info === 'object' ? (info as { name?: unknown; displayName?: unknown }) : {};
    const displayName = typeof named.name === 'string' ? named.name : typeof named.displayName === 'string' ? named.displayName : change.member.userId;
    const data: StreamMessage = {
      messageType: change.kind === 'member_added' ? 'Join' : 'Exit',
      contentData: '',
      senderType: 'Human',
      senderID: change.member.userId,
      senderDisplayName: displayName,
      timestamp: Date.now(),
    };
    text = JSON.stringify({ channel: STREAM_CHANNEL, data });
    presenceTexts.set(change, text);
  }
  return text;
}
