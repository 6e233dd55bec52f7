/**
 * Signals: core-to-core messages on the bus (not channel messages): presence changes,
 * user terminations, server-to-user events, space stops, users going online/offline,
 * subscription-count changes, ephemeral messages and connection-quota reclaims. Encoded once by the sender, decoded
 * once per node.
 */
import type { PresenceChange } from './types.ts';

export type Signal =
  | { readonly type: 'presence'; readonly change: PresenceChange }
  | { readonly type: 'terminate_user'; readonly appId: string; readonly userId: string }
  | { readonly type: 'user_event'; readonly appId: string; readonly userId: string; readonly name: string; readonly data: string }
  | { readonly type: 'space_stopped'; readonly spaceId: string }
  /** A signed-in user's first connection appeared (online) or last one went (offline), cluster-wide (online-users.ts). */
  | { readonly type: 'user_online'; readonly appId: string; readonly userId: string; readonly online: boolean }
  /** A channel's subscription count changed; each node reads the new count itself (subscription-counts.ts). */
  | { readonly type: 'subscription_count'; readonly appId: string; readonly channel: string }
  /** An ephemeral message (`extras.ephemeral`): a record body for a stream, delivered like an append but never stored. */
  | { readonly type: 'ephemeral'; readonly stream: string; readonly time: number; readonly body: string }
  /**
   * A node was refused by an app's connection quota (quotas.ts): each node incarnation
   * named in `holders` gives back its spare lease, records its lease exactly, and answers
   * with `quota_reclaimed`. Without `holders`, every node gives back its spare and none answers.
   */
  | { readonly type: 'quota_reclaim'; readonly appId: string; readonly request?: string; readonly holders?: readonly string[] }
  /** A node gave back units of the app's full connection quota: admissions waiting for one try again. */
  | { readonly type: 'quota_released'; readonly appId: string }
  /** `holder` gave back its spare lease of the app and its lease record is exact: answers the reclaim `requests`. */
  | { readonly type: 'quota_reclaimed'; readonly appId: string; readonly holder: string; readonly requests: readonly string[] }
  /**
   * A door's node-to-node message (the Bayeux door relays a request to a client's home
   * node): every node receives it, only the node incarnation named `to` acts on it.
   */
  | { readonly type: 'relay'; readonly to: string; readonly body: string };

const KNOWN_TYPES: ReadonlySet<unknown> = new Set([
  'presence',
  'terminate_user',
  'user_event',
  'space_stopped',
  'user_online',
  'subscription_count',
  'ephemeral',
  'quota_reclaim',
  'quota_reclaimed',
  'quota_released',
  'relay',
]);

export function encodeSignal(signal: Signal): string {
  return JSON.stringify(signal);
}

/** Decodes a signal; null for anything this version does not know (a newer node's signal). */
export function decodeSignal(body: string): Signal | null {
  try {
    const value = JSON.parse(body) as { type?: unknown };
    return KNOWN_TYPES.has(value.type) ? (value as Signal) : null;
  } catch {
    return null;
  }
}

/** Broadcasts a signal to every node (this one included); resolves once the bus took it. */
export type SignalSender = (signal: Signal) => Promise<void>;
