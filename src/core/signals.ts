/**
 * Signals: core-to-core messages on the bus (not channel messages): presence changes,
 * user terminations, server-to-user events and space stops. Encoded once by the sender, decoded once
 * per node.
 */
import type { PresenceChange } from './types.ts';

export type Signal =
  | { readonly type: 'presence'; readonly change: PresenceChange }
  | { readonly type: 'terminate_user'; readonly appId: string; readonly userId: string }
  | { readonly type: 'user_event'; readonly appId: string; readonly userId: string; readonly name: string; readonly data: string }
  | { readonly type: 'space_stopped'; readonly spaceId: string };

export function encodeSignal(signal: Signal): string {
  return JSON.stringify(signal);
}

/** Decodes a signal; null for anything this version does not know (a newer node's signal). */
export function decodeSignal(body: string): Signal | null {
  try {
    const value = JSON.parse(body) as { type?: unknown };
    if (value.type === 'presence' || value.type === 'terminate_user' || value.type === 'user_event' || value.type === 'space_stopped') return value as Signal;
    return null;
  } catch {
    return null;
  }
}

/** Broadcasts a signal to every node (this one included); resolves once the bus took it. */
export type SignalSender = (signal: Signal) => Promise<void>;
