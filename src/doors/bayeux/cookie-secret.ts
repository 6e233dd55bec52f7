/**
 * The cluster's shared cookie secret, for nodes started without `bots.cookieSecret`:
 * "one config, N nodes" needs no per-node secret.
 *
 * The first node that needs it creates a random secret in the backend's key-value store
 * atomically (`setIfAbsent`, Redis `SET NX`); every other node reads the one that won, so
 * every node of a cluster seals and opens cookies alike. The backend owns the secret: it
 * lives as long as the backend's data (on the memory backend, as long as the process). A
 * backend that loses its data loses the sessions too, and cookies sealed by the old secret
 * are then refused as sealed by an unknown secret (cookies.ts), never as altered.
 *
 * The secret is read once per node and kept; until the backend has answered once, a
 * request that needs it fails with the backend's own error (503, retryable).
 */
import { randomBytes } from 'node:crypto';
import type { Core } from '../../core/core.ts';
import { createCookieSeal, type CookieSeal, type OpenedCookies } from './cookies.ts';

/** The key-value key of the shared secret. */
export const SHARED_SECRET_KEY = 'bots:cookie-secret';
/** The shared secret's TTL: practically forever (ten years), in milliseconds. */
const SHARED_SECRET_TTL_MS = 10 * 365 * 24 * 3600 * 1000;

/** A seal whose secret comes from the backend; `ready()` must have resolved before `issue`/`open`. */
export interface DeferredCookieSeal extends CookieSeal {
  /** Resolves once the secret is known (at most one backend round trip per node, retried after a failure). */
  ready(): Promise<void>;
}

/** Reads the shared secret, creating it when no node has yet. */
export async function sharedCookieSecret(core: Core): Promise<string> {
  const candidate = randomBytes(32).toString('base64url');
  const existing = await core.backend.kv.setIfAbsent(SHARED_SECRET_KEY, candidate, SHARED_SECRET_TTL_MS);
  return existing ?? candidate;
}

/** A seal for `configuredSecret`, or for the cluster's shared secret when none is configured. */
export function createDoorCookieSeal(core: Core, configuredSecret: string | undefined): DeferredCookieSeal {
  if (configuredSecret !== undefined) {
    const fixed = createCookieSeal(configuredSecret);
    return Object.assign(fixed, { ready: () => Promise.resolve() });
  }
  let seal: CookieSeal | null = null;
  let loading: Promise<void> | null = null;
  const current = (): CookieSeal => {
    // Unreachable when every route awaits `ready()` first (plugin.ts does).
    if (seal === null) throw new Error('the shared cookie secret is not loaded yet');
    return seal;
  };
  return {
    ready() {
      if (seal !== null) return Promise.resolve();
      loading ??= sharedCookieSecret(core).then(
        (secret) => {
          seal = createCookieSeal(secret);
        },
        (error: unknown) => {
          loading = null;
          throw error;
        },
      );
      return loading;
    },
    issue: (sessionId: string, nodeId: string): [string, string] => current().issue(sessionId, nodeId),
    open: (header: string | undefined): OpenedCookies => current().open(header),
    get rememberedPairs() {
      return seal?.rememberedPairs ?? 0;
    },
  };
}
