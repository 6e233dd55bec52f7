/**
 * Message-model changes as bots see them. Each change of a room message reaches
 * `/service/stream`, next to the room's messages, as
 *
 *   {"messageType":"MessageUpdate"|"MessageDelete"|"MessageAppend"|"MessageSummary",
 *    "event":"<the message's event name>","messageSerial":"…","versionSerial":"…",
 *    "contentData":"<the message's full text after the change>",
 *    "fragment":"<appended text>"?, "summary":{…}?, "description":"…"?,
 *    "senderType":"Human","senderID":"…","senderDisplayName":"…","timestamp":…}
 *
 * The event `id` is the entry's serial, like a Message's. `contentData` is always the
 * message's text after the change ('' once deleted); a summary carries the text the message
 * had when it was annotated. Raw annotation events are not sent to bots; the summary
 * carries their effect. A bot subscribed to a mapped channel in the envelope shape receives
 * the changes of that channel's messages there in the same shape (see stream.ts, `BotWire`).
 */
import type { ChannelMessage } from '../../core/types.ts';
import type { DisplayNames } from './display-names.ts';

const MESSAGE_TYPES: ReadonlyMap<string, string> = new Map([
  ['message.update', 'MessageUpdate'],
  ['message.delete', 'MessageDelete'],
  ['message.append', 'MessageAppend'],
  ['message.summary', 'MessageSummary'],
]);

/** The stream data of a change, or null for records bots do not get (raw annotations). */
export function changeData(message: ChannelMessage, names: DisplayNames): Record<string, unknown> | null {
  const { record } = message;
  const messageType = MESSAGE_TYPES.get(record.action);
  if (messageType === undefined) return null;
  const senderID = record.change?.clientId ?? record.origin;
  return {
    messageType,
    event: record.name,
    messageSerial: record.messageSerial,
    versionSerial: message.serial,
    contentData: record.action === 'message.summary' ? (record.text ?? record.data) : record.data,
    ...(record.fragment !== undefined ? { fragment: record.fragment } : {}),
    ...(record.summary !== undefined ? { summary: record.summary } : {}),
    ...(record.change?.description !== undefined ? { description: record.change.description } : {}),
    senderType: 'Human',
    senderID,
    senderDisplayName: names.get(message.appId, senderID) ?? senderID,
    timestamp: message.time,
  };
}
