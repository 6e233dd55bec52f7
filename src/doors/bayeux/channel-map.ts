/**
 * The one rule that maps Bayeux channels to the app's channel space, and back:
 *
 *   Bayeux `/s1/s2/…/sn`  ⇄  channel `s1.s2.….sn`
 *
 * Segments are joined with ".", which Bayeux segments cannot contain, so the rule is
 * reversible. It covers the characters both grammars share (`A-Z a-z 0-9 _ - @`); a
 * Bayeux segment with `! ~ ( ) $`, or a channel with `= , ;` or empty segments, has no
 * counterpart.
 *
 * Confinement: a bot may only use its room's channel and the channels below it:
 * `presence-room-acme-lobby` (Bayeux `/presence-room-acme-lobby`) and
 * `presence-room-acme-lobby.*` (Bayeux `/presence-room-acme-lobby/…`). The room itself is
 * best used through `/service/stream`, which carries the documented bot message shape.
 */

const SHARED_SEGMENT = /^[A-Za-z0-9_\-@]+$/;

/** The app channel for a Bayeux channel name, or null when it has none. */
export function channelOfBayeux(bayeux: string): string | null {
  const segments = bayeux.split('/').slice(1);
  if (segments.length === 0 || !segments.every((segment) => SHARED_SEGMENT.test(segment))) return null;
  return segments.join('.');
}

/** The Bayeux channel name of an app channel, or null when it has none. */
export function bayeuxOfChannel(channel: string): string | null {
  const segments = channel.split('.');
  if (!segments.every((segment) => SHARED_SEGMENT.test(segment))) return null;
  return `/${segments.join('/')}`;
}

/**
 * The app channel a Bayeux name maps to, or for a pattern (`/a/b/*`, `/a/b/**`) the one its
 * fixed part maps to; null when there is none (a segment with `! ~ ( ) $`).
 */
export function channelOfBayeuxBase(nameOrPattern: string): string | null {
  return channelOfBayeux(nameOrPattern.endsWith('*') ? nameOrPattern.slice(0, nameOrPattern.lastIndexOf('/')) : nameOrPattern);
}

/** Is the app channel `channel` the room channel or below it? */
export function isInRoom(channel: string, roomChannel: string): boolean {
  return channel === roomChannel || channel.startsWith(`${roomChannel}.`);
}

/**
 * Is the Bayeux name or pattern confined to the room? A pattern is confined when the
 * channels it can match all lie below the room (`/room/*`, `/room/**`, `/room/a/**`).
 */
export function isBayeuxInRoom(nameOrPattern: string, roomChannel: string): boolean {
  const roomBayeux = bayeuxOfChannel(roomChannel);
  if (roomBayeux === null) return false;
  if (nameOrPattern.endsWith('*')) {
    const base = nameOrPattern.slice(0, nameOrPattern.lastIndexOf('/'));
    return base === roomBayeux || base.startsWith(`${roomBayeux}/`);
  }
  return nameOrPattern === roomBayeux || nameOrPattern.startsWith(`${roomBayeux}/`);
}
