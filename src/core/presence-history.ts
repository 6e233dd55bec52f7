/**
 * Presence history: joins and leaves of presence channels, recorded in a companion
 * stream of the channel (`{app}:{channel}#presence`) so they get serials, retention
 * and history paging like messages. `#` cannot occur in a channel name, so a companion
 * never collides with a real channel; the core never fans companion entries out.
 */
import type { AppConfig } from '../config/schema.ts';
import type { MessageLog } from '../backends/ports.ts';
import { streamKey } from './channels.ts';
import { retentionOf } from './publish.ts';
import type { MessageRecord } from './types.ts';

const COMPANION_SUFFIX = '#presence';

/** The companion stream holding a presence channel's joins and leaves. */
export function presenceStreamKey(appId: string, channel: string): string {
  return `${streamKey(appId, channel)}${COMPANION_SUFFIX}`;
}

/** True for companion streams: stored, never delivered to subscribers. */
export function isCompanionStream(stream: string): boolean {
  return stream.endsWith(COMPANION_SUFFIX);
}

export type PresenceAction = 'presence.enter' | 'presence.leave';

/**
 * Records that a user entered or left a presence channel (once per user, like
 * `member_added` / `member_removed`). `data` is JSON `{user_id, user_info?}`.
 */
export async function recordPresenceChange(
  log: MessageLog,
  app: AppConfig,
  channel: string,
  action: PresenceAction,
  userId: string,
  userInfo?: unknown,
): Promise<void> {
  const record: MessageRecord = {
    action,
    name: action === 'presence.enter' ? 'pusher_internal:member_added' : 'pusher_internal:member_removed',
    data: JSON.stringify(userInfo === undefined ? { user_id: userId } : { user_id: userId, user_info: userInfo }),
    origin: 'internal',
  };
  await log.append(presenceStreamKey(app.id, channel), JSON.stringify(record), retentionOf(app));
}
