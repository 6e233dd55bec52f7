/**
 * What each subscriber saw, in one shape for every kind of client, so one checker judges
 * them all. A track is one client's view of one channel:
 *
 * - `intervals`: when it was subscribed and connected (a pusher-js session from
 *   `subscription_succeeded` to the connection leaving `connected`; a resuming client's
 *   one long interval, since it asks for what it missed; a bot's session from its
 *   `/service/stream` subscribe to its next handshake).
 * - `told`: times it received `roomcast:recovery_failed` (Bayeux `RecoveryFailed`): from
 *   then on, earlier gaps are excused.
 * - `received`: every publish it got, by sequence number.
 */
export type TrackKind = 'pusher-js' | 'resume' | 'bayeux';

export interface Received {
  readonly seq: number;
  readonly at: number;
  /** The serial the frame carried (protocol 2, Bayeux `id`), else null. */
  readonly serial: string | null;
  /** Any epoch the frame carried beside the serial, else null. */
  readonly epoch: string | null;
}

export interface Track {
  readonly name: string;
  readonly kind: TrackKind;
  readonly node: string;
  readonly channel: string;
  readonly intervals: { from: number; to: number | null }[];
  readonly told: number[];
  readonly received: Received[];
}

export function newTrack(name: string, kind: TrackKind, node: string, channel: string): Track {
  return { name, kind, node, channel, intervals: [], told: [], received: [] };
}

/** Opens a coverage interval (no-op when one is open). */
export function openInterval(track: Track, at = Date.now()): void {
  const last = track.intervals[track.intervals.length - 1];
  if (last !== undefined && last.to === null) return;
  track.intervals.push({ from: at, to: null });
}

/** Closes the open coverage interval, if any. */
export function closeInterval(track: Track, at = Date.now()): void {
  const last = track.intervals[track.intervals.length - 1];
  if (last !== undefined && last.to === null) last.to = at;
}

/** The `seq` of a publish's data: an object, or its JSON text. */
export function seqOf(data: unknown): number | null {
  let value = data;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  if (value !== null && typeof value === 'object' && typeof (value as { seq?: unknown }).seq === 'number') return (value as { seq: number }).seq;
  return null;
}
