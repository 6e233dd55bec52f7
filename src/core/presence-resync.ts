/**
 * Presence after the bus comes back: announcements sent while this node was off the bus
 * never reached it, so each presence channel with local subscribers is read from the
 * store and the members its subscribers were not told are present are announced
 * (`member_added`, see LocalHub.resyncPresence). Removals missed meanwhile are not
 * inferred from the reading: the next change of those users corrects them.
 */
import type { Logger } from 'pino';
import { isPresenceChannel, parseStreamKey } from './channels.ts';
import type { LocalHub } from './hub.ts';
import { inBatches } from './subscriptions.ts';
import type { Member } from './types.ts';

/** Pauses between attempts to read a channel's members (the command connection may come back after the bus; about 6 s in all), in milliseconds. */
const READ_RETRY_DELAYS_MS = [50, 100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000];

/** Reads and announces what was missed; a read that keeps failing is logged once per channel. Never throws. */
export async function resyncPresence(hub: LocalHub, members: (appId: string, channel: string) => Promise<Member[]>, logger: Logger): Promise<void> {
  const streams = hub
    .streamCounts()
    .map(([stream]) => stream)
    .filter((stream) => isPresenceChannel(parseStreamKey(stream).channel));
  let announced = 0;
  await inBatches(streams, async (stream) => {
    const { appId, channel } = parseStreamKey(stream);
    for (let attempt = 0; ; attempt++) {
      try {
        announced += hub.resyncPresence(appId, channel, await members(appId, channel));
        return;
      } catch (error) {
        if (attempt + 1 >= READ_RETRY_DELAYS_MS.length) {
          logger.warn({ err: error, stream }, 'could not read presence members after the bus came back');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, READ_RETRY_DELAYS_MS[attempt]).unref());
      }
    }
  });
  if (announced > 0) logger.warn({ channels: streams.length, announced }, 'bus back: presence members missed while off the bus announced again');
}
