/**
 * Cache channels (`cache-`, `private-cache-`, `presence-cache-`, `private-encrypted-cache-`):
 * a new subscriber first receives the channel's last event. The "cache" is simply the
 * newest retained `message.create` entry of the channel's log, so it is shared by every
 * node, survives restarts on Redis, and expires with the app's history retention.
 */
import type { MessageLog } from '../backends/ports.ts';
import { streamKey } from './channels.ts';
import { ChannelMessage, type MessageRecord } from './types.ts';

/**
 * How many newest entries to look through for a `message.create`. Later message-model
 * actions (edits, annotations) share the log; a channel whose last 20 entries are all
 * such actions is reported as a cache miss rather than scanned without bound.
 */
const SCAN_LIMIT = 20;

/** The channel's last published event, or null when nothing is retained (a cache miss). */
export async function lastPublishedMessage(log: MessageLog, appId: string, channel: string): Promise<ChannelMessage | null> {
  const entries = await log.read(streamKey(appId, channel), { newestFirst: true, limit: SCAN_LIMIT });
  for (const entry of entries) {
    let record: MessageRecord;
    try {
      record = JSON.parse(entry.body) as MessageRecord;
    } catch {
      continue;
    }
    if (record.action === 'message.create') return new ChannelMessage(appId, channel, entry.epoch, entry.seq, entry.time, record);
  }
  return null;
}
