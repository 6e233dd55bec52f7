/**
 * Which Bayeux clients each login session holds, across the cluster, so that a login holds
 * at most {@link MAX_CLIENTS_PER_SESSION} clients whichever nodes its handshakes reached.
 *
 * One hash per login in the backend, `bayeux:login:{sessionId}`: client id → the order of
 * its handshake, taken from the hash's own counter field (`#order`, atomic in the store),
 * so the oldest client is the one enrolled first, whatever the nodes' clocks say. The
 * node that serves a handshake enrols its client (after writing its record) and reads the
 * whole hash back: every enrolment is seen by the later one's read, so the last enrolment
 * of a burst sees all of them. Deciding which clients a new one supersedes, and telling
 * their homes, is the registry's (registry.ts `enrol`).
 *
 * Ownership: every node serving a handshake or ending a client of the login writes the
 * hash (one field each); nothing else. An entry whose client ended without being removed
 * (its home died) stays until a later enrolment finds its record gone. The hash lives
 * {@link LOGIN_CLIENTS_TTL_MS} after the login's last handshake: a login whose clients all
 * outlive that without a new handshake is counted afresh by the next one (its old clients
 * are then not superseded by it; each node still keeps at most the bound of its own).
 */
import type { Core } from '../../core/core.ts';

/** Clients one login session may hold across the cluster; a bot that re-handshakes without disconnecting supersedes its oldest. */
export const MAX_CLIENTS_PER_SESSION = 4;

/** How long a login's hash outlives its last handshake, in milliseconds. */
export const LOGIN_CLIENTS_TTL_MS = 7 * 24 * 3600 * 1000;

/** The hash's counter field (never a client id: those are hex). */
const ORDER_FIELD = '#order';

const keyOf = (sessionId: string): string => `bayeux:login:${sessionId}`;

type Hashes = NonNullable<Core['backend']['hashes']>;

export class LoginClients {
  constructor(
    /** The backend's hashes; without them (a backend that has none) a login is bounded per node only. */
    private readonly hashes: Hashes | undefined,
  ) {}

  /**
   * Enrols `clientId` as the login's newest client; returns every enrolled client id, newest
   * first (the new one included). Empty without a hash store. Rejects when the backend does.
   */
  async enrol(sessionId: string, clientId: string): Promise<string[]> {
    if (this.hashes === undefined) return [];
    const key = keyOf(sessionId);
    const order = await this.hashes.increment(key, ORDER_FIELD, 1);
    await Promise.all([this.hashes.set(key, clientId, String(order)), this.hashes.expire(key, LOGIN_CLIENTS_TTL_MS)]);
    const entries = [...(await this.hashes.getAll(key))].filter(([field]) => field !== ORDER_FIELD);
    return entries.sort((a, b) => Number(b[1]) - Number(a[1])).map(([field]) => field);
  }

  /** Forgets a client that ended (or was superseded). Never throws: a stale entry is dropped by a later enrolment. */
  async leave(sessionId: string, clientId: string): Promise<void> {
    await this.hashes?.remove(keyOf(sessionId), clientId).catch(() => undefined);
  }
}
