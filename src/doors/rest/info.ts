/**
 * The `info` parameter of the REST API: a comma-separated list of channel attributes the
 * caller wants in the reply (Pusher: `info=subscription_count,user_count`).
 */
import type { ChannelInfo } from '../../core/core.ts';
import { createError } from '../../errors.ts';

export type InfoAttribute = 'subscription_count' | 'user_count';

/** Attributes every channel-reporting route understands. */
export const CHANNEL_ATTRIBUTES: readonly InfoAttribute[] = ['subscription_count', 'user_count'];

const NOTHING_WANTED: ReadonlySet<InfoAttribute> = new Set();

/**
 * Parses `info` into the set of attributes asked for. Empty items (`a,,b`, a trailing
 * comma) are ignored; an attribute outside `allowed` is `RC_ERR_INFO_UNKNOWN_ATTRIBUTE`.
 * Without `info` (every usual publish) the answer is one shared empty set.
 */
export function parseInfo(info: string | undefined, allowed: readonly InfoAttribute[] = CHANNEL_ATTRIBUTES): ReadonlySet<InfoAttribute> {
  if (info === undefined) return NOTHING_WANTED;
  const wanted = new Set<InfoAttribute>();
  for (const item of info.split(',')) {
    const name = item.trim();
    if (name === '') continue;
    const known = allowed.find((attribute) => attribute === name);
    if (known === undefined) throw createError('RC_ERR_INFO_UNKNOWN_ATTRIBUTE', JSON.stringify(name.slice(0, 40)), allowed.join(', '));
    wanted.add(known);
  }
  return wanted;
}

/** Pusher's reply fields for one channel: only the attributes asked for and applicable. */
export function infoFields(info: ChannelInfo, wanted: ReadonlySet<InfoAttribute>): Record<string, number> {
  const fields: Record<string, number> = {};
  if (wanted.has('subscription_count')) fields.subscription_count = info.subscriptionCount;
  // user_count exists only for presence channels; Pusher leaves it out for the others.
  if (wanted.has('user_count') && info.userCount !== undefined) fields.user_count = info.userCount;
  return fields;
}
