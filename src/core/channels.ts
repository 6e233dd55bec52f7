/**
 * Channel names and kinds, after the Pusher Channels protocol: a name is 1–200
 * characters of `[A-Za-z0-9_\-=@,.;]`, and its prefix sets its kind.
 * Source: Pusher Channels docs, "Channel naming conventions" and "Channel types".
 *
 * Order matters: `private-encrypted-` before `private-`, `presence-cache-` before
 * `presence-`, etc.
 */
import { createError } from '../errors.ts';

export type ChannelKind = 'public' | 'private' | 'presence' | 'encrypted';

export interface ChannelTraits {
  readonly kind: ChannelKind;
  /** Needs an auth signature to subscribe (private, presence, encrypted). */
  readonly requiresAuth: boolean;
  /** Last event is kept and replayed to new subscribers (`cache-` variants). */
  readonly cached: boolean;
}

const NAME_PATTERN = /^[A-Za-z0-9_\-=@,.;]+$/;

const PREFIXES: readonly (readonly [string, ChannelTraits])[] = [
  ['private-encrypted-cache-', { kind: 'encrypted', requiresAuth: true, cached: true }],
  ['private-encrypted-', { kind: 'encrypted', requiresAuth: true, cached: false }],
  ['private-cache-', { kind: 'private', requiresAuth: true, cached: true }],
  ['private-', { kind: 'private', requiresAuth: true, cached: false }],
  ['presence-cache-', { kind: 'presence', requiresAuth: true, cached: true }],
  ['presence-', { kind: 'presence', requiresAuth: true, cached: false }],
  ['cache-', { kind: 'public', requiresAuth: false, cached: true }],
];

const PUBLIC: ChannelTraits = { kind: 'public', requiresAuth: false, cached: false };

/** The kind and traits implied by a channel's name. */
export function channelTraits(channel: string): ChannelTraits {
  for (const [prefix, traits] of PREFIXES) if (channel.startsWith(prefix)) return traits;
  return PUBLIC;
}

export function isPresenceChannel(channel: string): boolean {
  return channelTraits(channel).kind === 'presence';
}

/** Why a channel name is invalid, or null when it is valid. */
export function channelNameProblem(channel: unknown, maxLength: number): string | null {
  if (typeof channel !== 'string') return 'must be a string';
  if (channel.length === 0) return 'must not be empty';
  if (channel.length > maxLength) return `is longer than ${maxLength} characters`;
  if (!NAME_PATTERN.test(channel)) return 'may only contain A-Z a-z 0-9 _ - = @ , . ;';
  return null;
}

/** Throws `RC_ERR_CHANNEL_INVALID_NAME` when the name is invalid. */
export function assertChannelName(channel: unknown, maxLength: number): asserts channel is string {
  const problem = channelNameProblem(channel, maxLength);
  if (problem !== null) throw createError('RC_ERR_CHANNEL_INVALID_NAME', JSON.stringify(String(channel).slice(0, 60)), problem);
}

/** The backend stream key of an app's channel: `{appId}:{channel}` (app ids contain no ':'). */
export function streamKey(appId: string, channel: string): string {
  return `${appId}:${channel}`;
}

/** Splits a stream key back into app id and channel. */
export function parseStreamKey(stream: string): { appId: string; channel: string } {
  const at = stream.indexOf(':');
  return { appId: stream.slice(0, at), channel: stream.slice(at + 1) };
}
