/**
 * The bot API's wire format. A bot subscribed to `/service/stream` receives its room
 * channel's events and its people's joins and leaves as
 *
 *   {"messageType":"Message"|"Typing"|"Event"|"Join"|"Exit","event":"<event name>","contentData":"…",
 *    "senderType":"API"|"Human","senderID":"…","senderDisplayName":"…","timestamp":<ms since the epoch>}
 *
 * `messageType` is what a bot switches on: `Message` for chat (`config.bots.chatEvents`),
 * `Typing` for typing indicators, `Event` for every other event (its name in `event`);
 * Join/Exit for presence. Message changes are in stream-changes.ts.
 *
 * One `BotWire` per door: its encoders are fields (stable functions), so
 * `ChannelMessage.encode` builds each event's text once per publish and every bot of the
 * node shares it. It owns the door's display-name book, so a person has one name on every
 * event a bot sees of them (Join, their messages, Exit), whatever the event itself carries.
 */
import { randomUUID } from 'node:crypto';
import type { BotApiConfig } from '../../config/types.ts';
import type { ChannelMessage, PresenceChange } from '../../core/types.ts';
import { bayeuxOfChannel } from './channel-map.ts';
import { patternMatches } from './grammar.ts';
import { DisplayNames, isBotInfo, nameInInfo } from './display-names.ts';
import { changeData } from './stream-changes.ts';

/** The Bayeux channel of the room stream. */
export const STREAM_CHANNEL = '/service/stream';
/** The event name under which Bayeux publishes enter the app's channels (Bayeux has no event names). */
export const BOT_EVENT_NAME = 'message';
/** Event names that are typing indicators (`Typing`). */
export const TYPING_EVENTS: ReadonlySet<string> = new Set(['typing', 'client-typing']);

export type StreamMessageType = 'Message' | 'Typing' | 'Event' | 'Join' | 'Exit';

export interface StreamMessage {
  readonly messageType: StreamMessageType;
  /** The event name (`pusher_internal:member_added` / `…_removed` for Join / Exit). */
  readonly event: string;
  readonly contentData: string;
  readonly senderType: 'API' | 'Human';
  readonly senderID: string;
  readonly senderDisplayName: string;
  readonly timestamp: number;
}

/** `Message`, `Typing` or `Event` for an event name. */
export function messageTypeOf(name: string, chatEvents: readonly string[]): 'Message' | 'Typing' | 'Event' {
  if (chatEvents.includes(name)) return 'Message';
  return TYPING_EVENTS.has(name) ? 'Typing' : 'Event';
}

/** One door's encoders (see the file comment). `config` is read at each encode, so a reload applies to the next event. */
export class BotWire {
  readonly names = new DisplayNames();
  /** Join/Exit texts, built once per presence change and shared by the room's bots on this node. */
  private readonly presenceTexts = new WeakMap<PresenceChange, string>();

  constructor(private readonly config: () => BotApiConfig) {}

  /** The stream view of a published event. Bots are `API`; people and servers publishing for them are `Human`. */
  streamMessageOf(message: ChannelMessage): StreamMessage {
    const { record } = message;
    const sender = record.sender;
    const senderID = sender?.id ?? record.userId ?? record.origin;
    if (sender?.displayName !== undefined) this.names.learn(message.appId, senderID, sender.displayName, sender.type === 'API');
    return {
      messageType: messageTypeOf(record.name, this.config().chatEvents),
      event: record.name,
      contentData: record.data,
      senderType: sender?.type === 'API' ? 'API' : 'Human',
      senderID,
      senderDisplayName: this.names.get(message.appId, senderID) ?? senderID,
      timestamp: message.time,
    };
  }

  /** `/service/stream` text of a published event (room channel only). */
  readonly streamEvent = (message: ChannelMessage): string =>
    JSON.stringify({ channel: STREAM_CHANNEL, id: message.serial, data: this.streamMessageOf(message) });

  /** Text of a published event on a mapped channel, in the envelope: the stream's shape. */
  readonly mappedEvent = (message: ChannelMessage): string =>
    JSON.stringify({ channel: bayeuxOfChannel(message.channel), id: message.serial, data: this.streamMessageOf(message) });

  /** Text of a published event on a raw-data channel: the published data itself (JSON object and array texts parsed). */
  readonly mappedRaw = (message: ChannelMessage): string =>
    JSON.stringify({ channel: bayeuxOfChannel(message.channel), id: message.serial, data: rawDataOf(message.record.data) });

  /** `/service/stream` text of a change, or '' for records bots do not get. */
  readonly streamChange = (message: ChannelMessage): string => {
    const data = changeData(message, this.names);
    return data === null ? '' : JSON.stringify({ channel: STREAM_CHANNEL, id: message.serial, data });
  };

  /** Text of a change on a mapped channel (envelope channels only), or '' for records bots do not get. */
  readonly mappedChange = (message: ChannelMessage): string => {
    const data = changeData(message, this.names);
    const channel = bayeuxOfChannel(message.channel);
    return data === null || channel === null ? '' : JSON.stringify({ channel, id: message.serial, data });
  };

  /** Does the app channel map to a Bayeux channel listed in `config.bots.rawDataChannels`? */
  isRawChannel(channel: string): boolean {
    const patterns = this.config().rawDataChannels;
    if (patterns.length === 0) return false;
    const bayeux = bayeuxOfChannel(channel);
    return bayeux !== null && patterns.some((pattern) => patternMatches(pattern, bayeux));
  }

  /**
   * Join/Exit on `/service/stream`. The `id` is `presence-<uuid>` (unique, and never a
   * serial: recovery takes the id of a message event). The display name is the one the
   * person joined with, on Exit too (a leave carries no `user_info`).
   */
  presenceEvent(change: PresenceChange): string {
    let text = this.presenceTexts.get(change);
    if (text === undefined) {
      const { userId, userInfo } = change.member;
      this.names.learn(change.appId, userId, nameInInfo(userInfo), isBotInfo(userInfo));
      const data: StreamMessage = {
        messageType: change.kind === 'member_added' ? 'Join' : 'Exit',
        event: `pusher_internal:${change.kind}`,
        contentData: '',
        senderType: this.names.isBot(change.appId, userId) ? 'API' : 'Human',
        senderID: userId,
        senderDisplayName: this.names.get(change.appId, userId) ?? userId,
        timestamp: Date.now(),
      };
      text = JSON.stringify({ channel: STREAM_CHANNEL, id: `presence-${randomUUID()}`, data });
      this.presenceTexts.set(change, text);
    }
    return text;
  }
}

/** The published data as a Bayeux app sent it: JSON object and array texts parsed, any other text as is. */
export function rawDataOf(data: string): unknown {
  const first = data.trimStart()[0];
  if (first !== '{' && first !== '[') return data;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return data;
  }
}
