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
 * sent to bots; the summary carries their effect. A bot subscribed to a mapped channel
 * (`/room/chat`) receives the changes of that channel's messages there, in the same
 * shape plus `event` (the message's event name).
 */
import type { Core } from '../../core/core.ts';
import type { RecoveryFailure } from '../../core/history.ts';
import { parseSerial, type StreamPosition } from '../../core/serials.ts';
import type { ChannelMessage } from '../../core/types.ts';
import { bayeuxOfChannel } from './channel-map.ts';
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
  const data = changeData(message);
  return data === null ? '' : JSON.stringify({ channel: STREAM_CHANNEL, id: message.serial, data });
}

/**
 * The text of a change on a mapped channel (`/room/chat`), or '' for records bots do not
 * get: the stream's change shape plus the event name of the message, as mapped events carry it.
 */
export function encodeMappedChange(message: ChannelMessage): string {
  const data = changeData(message);
  const channel = bayeuxOfChannel(message.channel);
  if (data === null || channel === null) return '';
  return JSON.stringify({ channel, id: message.serial, data: { ...data, event: message.record.name } });
}

function changeData(message: ChannelMessage): Record<string, unknown> | null {
  const { record } = message;
  const messageType = MESSAGE_TYPES.get(record.action);
  if (messageType === undefined) return null;
  const senderID = record.change?.clientId ?? record.origin;
  return {
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
  };
}

/**
 * The `/service/stream` event telling a bot its missed messages cannot be replayed;
 * `code` is `gap_too_old` or `epoch_changed` (the last serial is from another stream epoch).
 */
export function recoveryFailedEvent(lastSerial: string, reason: string, code: RecoveryFailure): string {
  return JSON.stringify({
    channel: STREAM_CHANNEL,
    data: { messageType: 'RecoveryFailed', lastSerial: lastSerial.slice(0, 40), code, contentData: reason, timestamp: Date.now() },
  });
}

/**
 * Recovery for a bot that subscribes to `/service/stream` with `ext.last_serial`. The
 * subscribe handler sets `client.hold` before it subscribes in the core, so every live
 * entry of the room from then on is held, including one published while the core
 * subscription awaits its occupancy round trip. Here history after `lastSerial` is read and
 * queued in order, then the held entries it did not cover (seq above the last one it
 * returned); nothing twice. A gap too old to replay queues one `RecoveryFailed` event, then
 * every held entry.
 */
export async function recoverRoomStream(core: Core, client: BayeuxClient, lastSerial: string): Promise<void> {
  const held = client.hold ?? [];
  client.hold = held;
  // What the bot says it has seen counts as covered (as on the WebSocket door), once
  // recovery confirms it is a position of the stream's current epoch.
  let covered: StreamPosition = { epoch: null, seq: 0 };
  try {
    const recovery = await core.history.since(client.session.appId, client.session.channel, lastSerial);
    core.counters.recoveries.add(recovery.status !== 'recovered' ? 'bayeux\nfailed' : 'bayeux\nok');
    if (recovery.status !== 'recovered') {
      client.pushText(recoveryFailedEvent(lastSerial, recovery.reason, recovery.status));
    } else {
      covered = parseSerial(lastSerial) ?? covered;
      for (const message of recovery.messages) {
        client.replayToStream(message);
        covered = { epoch: message.epoch, seq: message.seq };
      }
    }
  } finally {
    client.hold = null;
    for (const message of held) if (!message.coveredBy(covered.epoch, covered.seq)) client.replayToStream(message);
    // The floor is the later of what recovery covered and the newest held entry.
    const newest = held.at(-1);
    const floor = newest === undefined || newest.coveredBy(covered.epoch, covered.seq) ? covered : newest;
    client.setStreamFloor(floor.epoch, floor.seq);
  }
}
