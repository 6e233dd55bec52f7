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
 * Ownership: every write and delete is made only while the record still names the writer
 * as its home (`KeyValueStore.writeIfOwned`, one atomic step); an adopter's writes also
 * accept the home it took the client from. So once an adopter wrote the record, the old
 * home (frozen, cut off, unaware) can neither overwrite nor delete it: its write is refused,
 * and it lets go of the client (registry.ts).
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
}

const keyOf = (clientId: string): string => `bayeux:client:${clientId}`;
const claimKeyOf = (clientId: string, home: string): string => `bayeux:adopt:${clientId}:${home}`;
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
   * Writes the record with `home` as its home, when the stored one (if any) names `home` or
   * `previousHome` (the home an adopter took the client from). False when it names another
   * home: the client was adopted away from `home`, nothing was written.
   */
  save(client: BayeuxClient, home: string, previousHome: string | null = null): Promise<boolean> {
    const record: ClientRecord = {
      id: client.id,
      session: client.session.id,
      home,
      subscriptions: [...client.subscriptions],
      ack: client.ackEnabled,
      broadcastToPublisher: client.broadcastToPublisher,
      batch: client.batch,
      cursor: Object.fromEntries(client.cursor),
    };
    const owners = previousHome === null ? [home] : [home, previousHome];
    return this.core.backend.kv.writeIfOwned(keyOf(client.id), JSON.stringify(record), this.ttlMs, HOME_FIELD, owners);
  }

  /** Deletes the record if it still names `home` (a client adopted away keeps the adopter's); false when it names another home. */
  delete(clientId: string, home: string): Promise<boolean> {
    return this.core.backend.kv.writeIfOwned(keyOf(clientId), null, this.ttlMs, HOME_FIELD, [home]);
  }

  /**
   * Claims the adoption of a client whose home `home` stopped answering: true for exactly
   * one caller across nodes.
   */
  async claim(clientId: string, home: string, claimant: string): Promise<boolean> {
    return (await this.core.backend.kv.setIfAbsent(claimKeyOf(clientId, home), claimant, this.ttlMs)) === null;
  }

  /** True when another node claimed the client's adoption from `home` (within the record's TTL). */
  async adoptedFrom(clientId: string, home: string): Promise<boolean> {
    return (await this.core.backend.kv.get(claimKeyOf(clientId, home))) !== null;
  }
}
