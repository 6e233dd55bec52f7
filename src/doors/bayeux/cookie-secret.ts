/**
 * The cluster's shared cookie secrets, for nodes started without `bots.cookieSecret`:
 * "one config, N nodes" needs no per-node secret, and behind a non-sticky load balancer
 * every node accepts the cookies every other live node seals.
 *
 * Store layout (the backend's, shared by every node):
 *   kv   `bots:cookie-secret`          the secret a starting node adopts (`setIfAbsent`, Redis `SET NX GET`)
 *   hash `bots:cookie-secrets`         key id → secret: every secret a live node seals with
 *
 * Ownership: each node seals with one secret, its sealing secret, chosen once per process:
 * the one the kv key holds, or, when the key is absent (the first node, or a store that lost
 * its data), a fresh random one it stores there. The node owns the hash entry of its sealing
 * secret: it writes it (`setIfAbsent`) before it seals its first cookie, and again, with the
 * kv key (`setIfAbsent` too), each time it registers again because the store lost its data
 * (membership.ts: the heartbeat finds the registration gone, and every registrant's entries
 * are written again). Nobody removes an entry; the hash holds one secret per store data loss
 * that a node restarted into, so it stays small.
 *
 * Opening: a node opens a cookie with any secret it knows, chosen by the cookie's key id
 * (cookies.ts). A key id it does not know makes it read the whole hash again before it
 * refuses (`RC_ERR_BOT_COOKIE_UNKNOWN_SECRET`): one read at a time per node, at most one
 * every `LOOKUP_SPACING_MS`, shared by every request waiting for it, so unknown key ids
 * (an attacker's random ones included) cost at most a few store reads a second per node,
 * never one per request. A secret once learnt is kept for the life of the process.
 *
 * Convergence bound: after the store lost its data, a node restarted, or both in any order,
 * every live node's sealing secret is back in the hash within one heartbeat interval of the
 * store answering again (the next heartbeat re-registers; a restarted node writes its own
 * before sealing), so every node accepts every live node's cookies within one heartbeat
 * interval plus `LOOKUP_SPACING_MS` and a few round trips. A cookie refused meanwhile is
 * refused as sealed by an unknown secret (400), never as altered.
 *
 * Until the backend has answered once, a request that needs the secret fails with the
 * backend's own error (503, retryable); so does a lookup while the store is down. Secrets
 * are never logged; MACs are compared in constant time (cookies.ts); key ids are public.
 *
 * With `bots.cookieSecret` none of this applies: the configured secret seals and opens,
 * and nothing is stored.
 */
import { randomBytes } from 'node:crypto';
import type { Core } from '../../core/core.ts';
import type { Departure } from '../../core/presence.ts';
import type { Registrant } from '../../core/registrants.ts';
import { isRoomcastError } from '../../errors.ts';
import { createCookieKey, createCookieSeal, type CookieKey, type CookieKeyRing, type OpenedCookies } from './cookies.ts';

type KeyValueStore = Core['backend']['kv'];
type HashStore = NonNullable<Core['backend']['hashes']>;

/** The key-value key of the secret a starting node adopts. */
export const SHARED_SECRET_KEY = 'bots:cookie-secret';
/** The hash of every shared secret a live node seals with: field = key id, value = secret. */
export const SHARED_SECRETS_HASH = 'bots:cookie-secrets';
/** The adopted secret's TTL: practically forever (ten years), in milliseconds. */
const SHARED_SECRET_TTL_MS = 10 * 365 * 24 * 3600 * 1000;
/** Least time between two starts of a lookup of unknown key ids on one node, in milliseconds. */
export const LOOKUP_SPACING_MS = 250;

/** The bot door's seal: sealing as cookies.ts, opening with a lookup of unknown secrets. */
export interface DoorCookieSeal {
  /** Resolves once the sealing secret is known (one backend round trip or two per node, retried after a failure). */
  ready(): Promise<void>;
  /** The two Set-Cookie header values for a new session issued by `nodeId`; `ready()` must have resolved. */
  issue(sessionId: string, nodeId: string): [string, string];
  /** Reads and verifies the Cookie header (cookies.ts), looking up a secret this node does not know yet. */
  open(header: string | undefined): Promise<OpenedCookies>;
  /** How many verified cookie pairs are remembered. */
  readonly rememberedPairs: number;
  /** Stops writing this node's secret on re-registration (the door closes). */
  close(): void;
}

/** A seal for `configuredSecret`, or for the cluster's shared secrets when none is configured. */
export function createDoorCookieSeal(core: Core, configuredSecret: string | undefined): DoorCookieSeal {
  if (configuredSecret !== undefined) {
    const fixed = createCookieSeal(configuredSecret);
    return {
      ready: () => Promise.resolve(),
      issue: (sessionId, nodeId) => fixed.issue(sessionId, nodeId),
      open: async (header) => fixed.open(header),
      get rememberedPairs() {
        return fixed.rememberedPairs;
      },
      close: () => undefined,
    };
  }
  const { hashes } = core.backend;
  // Both shipped backends have hashes; a backend without them serves one process, so a private secret does.
  if (hashes === undefined) return createDoorCookieSeal(core, randomBytes(32).toString('base64url'));
  const ring = new SharedCookieKeys(core.backend.kv, hashes);
  const removeRegistrant = core.addRegistrant(ring);
  const seal = createCookieSeal(ring);
  return {
    ready: () => ring.ready(),
    issue: (sessionId, nodeId) => seal.issue(sessionId, nodeId),
    async open(header) {
      const askedAt = performance.now();
      try {
        return seal.open(header);
      } catch (error) {
        if (!isRoomcastError(error) || error.code !== 'RC_ERR_BOT_COOKIE_UNKNOWN_SECRET') throw error;
      }
      await ring.lookUp(askedAt);
      return seal.open(header);
    },
    get rememberedPairs() {
      return seal.rememberedPairs;
    },
    close: removeRegistrant,
  };
}

/** A lookup of the hash in progress: when it started (`performance.now()`) and its end. */
interface Lookup {
  readonly startedAt: number;
  readonly done: Promise<void>;
}

/** The shared secrets this node knows: its sealing one and every one it learnt from the hash (see the header). */
export class SharedCookieKeys implements CookieKeyRing, Registrant {
  private own: { readonly secret: string; readonly key: CookieKey } | null = null;
  private loading: Promise<void> | null = null;
  private readonly known = new Map<string, CookieKey>();
  /** The lookup running now, or the last one. */
  private last: Lookup | null = null;
  /** The next lookup, waiting for the spacing or for the running one; shared by everyone asking meanwhile. */
  private next: Promise<void> | null = null;

  constructor(
    private readonly kv: KeyValueStore,
    private readonly hashes: HashStore,
  ) {}

  /** Adopts (or creates) the sealing secret and stores it in the hash; once per process, retried after a failure. */
  ready(): Promise<void> {
    if (this.own !== null) return Promise.resolve();
    this.loading ??= this.adopt().catch((error: unknown) => {
      this.loading = null;
      throw error;
    });
    return this.loading;
  }

  get sealing(): CookieKey {
    // Unreachable when every route awaits `ready()` first (plugin.ts does).
    if (this.own === null) throw new Error('the shared cookie secret is not loaded yet');
    return this.own.key;
  }

  find(id: string): CookieKey | undefined {
    return this.known.get(id);
  }

  /**
   * Reads the hash again, in a lookup started no earlier than `askedAt` (`performance.now()`):
   * joins one already started since, or the next one (spaced `LOOKUP_SPACING_MS` after the
   * last start). Rejects with the backend's error when the store fails.
   */
  lookUp(askedAt: number): Promise<void> {
    if (this.last !== null && this.last.startedAt >= askedAt) return this.last.done;
    this.next ??= this.nextLookup();
    return this.next;
  }

  /** Registrant: the store lost its data (or this node was reaped); writes this node's sealing secret again. */
  reregister(): () => Promise<void> {
    const own = this.own;
    return async () => {
      if (own === null) return;
      await this.hashes.setIfAbsent(SHARED_SECRETS_HASH, own.key.id, own.secret);
      await this.kv.setIfAbsent(SHARED_SECRET_KEY, own.secret, SHARED_SECRET_TTL_MS);
    };
  }

  /** Registrant: stores nothing under the registration id, so takes no departures. */
  takeDepartures(left: readonly Departure[]): Departure[] {
    return [...left];
  }

  private async adopt(): Promise<void> {
    const candidate = randomBytes(32).toString('base64url');
    const secret = (await this.kv.setIfAbsent(SHARED_SECRET_KEY, candidate, SHARED_SECRET_TTL_MS)) ?? candidate;
    const key = createCookieKey(secret);
    // Stored before the first cookie is sealed with it, so a peer's lookup finds it.
    await this.hashes.setIfAbsent(SHARED_SECRETS_HASH, key.id, secret);
    this.known.set(key.id, key);
    this.own = { secret, key };
  }

  private async nextLookup(): Promise<void> {
    try {
      const wait = this.last === null ? 0 : this.last.startedAt + LOOKUP_SPACING_MS - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await this.last?.done.catch(() => undefined);
    } finally {
      this.next = null;
    }
    const lookup: Lookup = { startedAt: performance.now(), done: this.readAll() };
    this.last = lookup;
    return lookup.done;
  }

  /** Learns every secret of the hash whose field is its key id (anything else is ignored). */
  private async readAll(): Promise<void> {
    const stored = await this.hashes.getAll(SHARED_SECRETS_HASH);
    for (const [id, secret] of stored) {
      if (this.known.has(id)) continue;
      const key = createCookieKey(secret);
      if (key.id === id) this.known.set(id, key);
    }
  }
}
