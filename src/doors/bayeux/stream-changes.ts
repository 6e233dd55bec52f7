/**
 * Message-model changes on the bot room stream (issue 4). Bots receive each change of a
 * room message on `/service/stream`, next to the room's messages, as
 *
 *   {"messageType":"MessageUpdate"|"MessageDelete"|"MessageAppend"|"MessageSummary",
 *    "messageSerial":"…","versionSerial":"…","contentData":"<full text after the change>",
 *    "fragment":"<appended text>"?, "summary":{…}?, "description":"…"?,
 *    "senderType":"API"|"Human","senderID":"…","senderDisplayName":"…","timestamp":…}
 *
 * The event `id` is the entry's serial, like a Message's. Raw annotation events are not
 * sent to bots; the summary carries their effect.
 */
import type { Core } from '../../core/core.ts';
import { isCreateRecord, type ChannelMessage } from '../../core/types.ts';
import type { BayeuxClient } from './client.ts';
import { STREAM_CHANNEL } from './stream.ts';

const MESSAGE_TYPES: ReadonlyMap<string, string> = new Map([
  ['message.update', 'MessageUpdate'],
  ['message.delete', 'MessageDelete'],
  ['message.append', 'MessageAppend'],
  ['message.summary', 'MessageSummary'],
]);

/** The `/service/stream` text of a change, or '' for records bots do not get. Module-level: memoised per message. */
export function encodeStreamChange(message: ChannelMessage): string {
  const { record } = message;
  const messageType = MESSAGE_TYPES.get(record.action);
  if (messageType === undefined) return '';
  const senderID = record.change?.clientId ?? record.origin;
  return JSON.stringify({
    channel: STREAM_CHANNEL,
    id: message.serial,
    data: {
      messageType,
      messageSerial: record.messageSerial,
      versionSerial: message.serial,
      contentData: record.data,
      ...(record.fragment !== undefined ? { fragment: record.fragment } : {}),
      ...(record.summary !== undefined ? { summary: record.summary } : {}),
      ...(record.change?.description !== undefined ? { description: record.change.description } : {}),
      senderType: 'Human',
      senderID,
      senderDisplayName: senderID,
      timestamp: message.time,
    },
  });
}

/** The `/service/stream` event telling a bot its missed messages cannot be replayed. */
export function recoveryFailedEvent(lastSerial: string, reason: string): string {
  return JSON.stringify({
    channel: STREAM_CHANNEL,
    data: { messageType: 'RecoveryFailed', lastSerial: lastSerial.slice(0, 40), contentData: reason, timestamp: Date.now() },
  });
}

/**
 * Recovery for a bot that resubscribes to `/service/stream` with `ext.last_serial`: the
 * room's live messages are held while history is read, the missed ones are queued in
 * order, then the held ones newer than them; nothing twice. A gap too old to replay
 * queues one `RecoveryFailed` event instead.
 */
export async function recoverRoomStream(core: Core, client: BayeuxClient, lastSerial: string): Promise<void> {
  const held: ChannelMessage[] = [];
  client.hold = held;
  let covered = 0;
  try {
    const recovery = await core.history.since(client.session.appId, client.session.channel, lastSerial);
    client.hold = null;
    if (recovery.status === 'gap_too_old') {
      client.pushText(recoveryFailedEvent(lastSerial, recovery.reason));
    } else {
      for (const message of recovery.messages) deliverAny(client, message);
      covered = recovery.messages.at(-1)?.seq ?? 0;
    }
  } finally {
    client.hold = null;
    for (const message of held) if (message.seq > covered) deliverAny(client, message);
  }
}

function deliverAny(client: BayeuxClient, message: ChannelMessage): void {
  if (isCreateRecord(message.record)) client.deliver(message);
  else client.deliverMutation(message);
}
