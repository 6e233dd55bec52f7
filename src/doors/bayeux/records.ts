/**
 * Bayeux client records in the backend's key-value store, so every node knows every
 * client: `bayeux:client:{clientId}` → JSON {@link ClientRecord}, with a TTL of the
 * door's idle bound (refreshed on every connect reply, so a polling client never expires).
 *
 * The record is written by the client's home node only (the node incarnation serving it,
 * see relay.ts): at handshake (before the reply, so the next request on any node finds
 * it), when its subscriptions change (before the reply), and after each connect reply
 * (its cursor; not awaited). It is deleted when the client ends (disconnect, idle, its
 * login ended) and kept when its home shuts down, so another node can adopt the client.
 *
 * Ownership: the record names one home, and only that home writes or deletes it, each
 * write one atomic compare-and-set on the record (`KeyValueStore.writeIfOwned`); the one
 * other writer is a handshake of the same login that supersedes the client (registry.ts
 * `enrol`), which deletes the record with the same compare-and-set on the home it read. Only the
 * handshake creates a record; every later write needs the home's record in place. An
 * adopter takes the client over with the same compare-and-set (`takeOver`: the record as
 * loaded, naming the old home, rewritten to name the adopter), so of several nodes adopting
 * from one home exactly one wins, with no separate claim. From then on the old home (frozen,
 * cut off, unaware) can neither overwrite nor delete the record, nor bring back one the
 * adopter deleted: its write is refused, and it lets go of the client (registry.ts).
 */
import type { Core } from '../../core/core.ts';
import type { BayeuxClient } from './client.ts';

export interface ClientRecord {
  readonly id: string;
  /** The login session the client belongs to (a client id is valid only with it). */
  readonly session: string;
  /** The node incarnation that serves the client (relay.ts). */
  readonly home: string;
  readonly subscriptions: readonly string[];
  /** The ack extension is on. */
  readonly ack: boolean;
  /** False when the client opted out of its own publishes on mapped channels. */
  readonly broadcastToPublisher?: boolean;
  /** The last batch id sent (ack extension). */
  readonly batch: number;
  /** App channel → serial of the last message the bot has (acknowledged, with ack). */
  readonly cursor: Readonly<Record<string, string>>;
  /** With ack: the cursor once batch `batch` is acknowledged (the adopter's way to tell whether the bot has that batch). */
  readonly sent?: Readonly<Record<string, string>>;
}

const keyOf = (clientId: string): string => `bayeux:client:${clientId}`;
/** The record's field that names its home: what `writeIfOwned` compares. */
const HOME_FIELD = 'home';

export class ClientRecords {
  constructor(
    private readonly core: Core,
    /** The record's TTL, in milliseconds. */
    private readonly ttlMs: number,
  ) {}

  async load(clientId: string): Promise<ClientRecord | null> {
    const text = await this.core.backend.kv.get(keyOf(clientId));
    if (text === null) return null;
    try {
      const record = JSON.parse(text) as ClientRecord;
      return typeof record.home === 'string' && typeof record.session === 'string' && Array.isArray(record.subscriptions) ? record : null;
    } catch {
      return null;
    }
  }

  /**
   * Writes the record naming `home`, when the stored one names `home` (or, with `create`, a
   * handshake's, when there is none). False, writing nothing, otherwise: the client was
   * adopted away from `home`, or its record is gone (ended elsewhere, expired, or lost with
   * the store's data).
   */
  save(client: BayeuxClient, home: string, create = false): Promise<boolean> {
    const record: ClientRecord = {
      id: client.id,
      session: client.session.id,
      home,
      subscriptions: [...client.subscriptions],
      ack: client.ackEnabled,
      broadcastToPublisher: client.broadcastToPublisher,
      batch: client.batch,
      cursor: Object.fromEntries(client.cursor),
      ...(client.ackEnabled ? { sent: Object.fromEntries(client.sentCursor()) } : {}),
    };
    return this.core.backend.kv.writeIfOwned(keyOf(client.id), JSON.stringify(record), this.ttlMs, HOME_FIELD, [home], create);
  }

  /**
   * Makes `claimant` the home of the client `record` describes, if the stored record still
   * names `record.home`: true for exactly one caller across nodes.
   */
  takeOver(record: ClientRecord, claimant: string): Promise<boolean> {
    return this.core.backend.kv.writeIfOwned(keyOf(record.id), JSON.stringify({ ...record, home: claimant }), this.ttlMs, HOME_FIELD, [record.home]);
  }

  /** Deletes the record if it names `home` (or is gone); false when it names another home (the client was adopted away). */
  delete(clientId: string, home: string): Promise<boolean> {
    return this.core.backend.kv.writeIfOwned(keyOf(clientId), null, this.ttlMs, HOME_FIELD, [home]);
  }
}
