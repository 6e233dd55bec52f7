/**
 * Bayeux channel names and patterns, after the Bayeux Protocol 1.0.0 (Dojo Foundation,
 * 2007), §2.2 "Channels" and §2.2.1 "Channel Globbing":
 *
 *   channel_name     = "/" channel_segments
 *   channel_segments = channel_segment *( "/" channel_segment )
 *   channel_segment  = 1*( alpha | digit | mark )
 *   mark             = "-" | "_" | "!" | "~" | "(" | ")" | "$" | "@"
 *   channel_pattern  = *( "/" channel_segment ) "/" wild_card
 *   wild_card        = "*" | "**"
 *
 * `/foo/*` matches one segment below `/foo` (`/foo/bar`, not `/foo/bar/baz`); `/foo/**`
 * matches every channel below it. `/meta/…` channels are the protocol's own (§2.2.2) and
 * `/service/…` channels are request/response, never broadcast (§2.2.3).
 */

const SEGMENT = "[A-Za-z0-9\\-_!~()$@]+";
const CHANNEL_NAME = new RegExp(`^(?:/${SEGMENT})+$`);
const CHANNEL_PATTERN = new RegExp(`^(?:/${SEGMENT})*/\\*{1,2}$`);

/** Longest channel name or pattern accepted, in characters (bounds work on hostile input). */
export const MAX_CHANNEL_LENGTH = 256;

export function isChannelName(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_CHANNEL_LENGTH && CHANNEL_NAME.test(value);
}

export function isChannelPattern(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_CHANNEL_LENGTH && CHANNEL_PATTERN.test(value);
}

export function isMetaChannel(channel: string): boolean {
  return channel === '/meta' || channel.startsWith('/meta/');
}

export function isServiceChannel(channel: string): boolean {
  return channel === '/service' || channel.startsWith('/service/');
}

/** The part of a pattern before its wildcard: `/a/b/**` → `/a/b` (`` for `/*`). */
export function patternBase(pattern: string): string {
  return pattern.slice(0, pattern.lastIndexOf('/'));
}

/** Does `pattern` (a name or a `*` / `**` pattern) match the channel `name`? */
export function patternMatches(pattern: string, name: string): boolean {
  if (!pattern.endsWith('*')) return pattern === name;
  const base = patternBase(pattern);
  if (!name.startsWith(`${base}/`)) return false;
  if (pattern.endsWith('/**')) return true;
  return !name.slice(base.length + 1).includes('/');
}
