/**
 * The timesync extension, server side, as CometD's `TimesyncExtension` answers its
 * `TimeSyncExtension` client.
 *
 * A meta request carries `ext.timesync = {tc, l, o}`: the client's clock when it sent the
 * message, and its current lag and offset estimates (ms). The reply carries
 * `ext.timesync = {tc, ts, p, a}`:
 *
 *   tc  the client's `tc`, echoed
 *   ts  the server's clock when the request was received (ms since the epoch)
 *   p   how long the server held the message before replying (ms; a long-poll's hold)
 *   a   the accuracy of the client's estimates: `tc + o + l - ts` (0 when they were exact)
 *
 * The client then computes lag = (now - tc - p) / 2 and offset = ts - tc - lag. A request
 * without a numeric `tc` gets no timesync (nothing to compute from); a non-numeric `l` or
 * `o` counts as 0, so the reply is always finite numbers.
 */

/** The reply's `ext.timesync` for a meta request received at `receivedAt` and answered now, or null. */
export function timesyncReply(ext: unknown, receivedAt: number, now: number = Date.now()): Record<string, number> | null {
  if (ext === null || typeof ext !== 'object') return null;
  const sync = (ext as { timesync?: unknown }).timesync;
  if (sync === null || typeof sync !== 'object') return null;
  const { tc, l, o } = sync as { tc?: unknown; l?: unknown; o?: unknown };
  if (!isFiniteNumber(tc)) return null;
  const lag = isFiniteNumber(l) ? l : 0;
  const offset = isFiniteNumber(o) ? o : 0;
  return { tc, ts: receivedAt, p: Math.max(0, now - receivedAt), a: Math.round(tc + offset + lag - receivedAt) };
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
