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

  save(client: BayeuxClient, home: string): Promise<void> {
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
    return this.core.backend.kv.set(keyOf(client.id), JSON.stringify(record), this.ttlMs);
  }

  delete(clientId: string): Promise<void> {
    return this.core.backend.kv.delete(keyOf(clientId));
  }

  /**
   * Claims the adoption of a client whose home `home` stopped answering: true for exactly
   * one caller across nodes.
   */
  async claim(clientId: string, home: string, claimant: string): Promise<boolean> {
    return (await this.core.backend.kv.setIfAbsent(`bayeux:adopt:${clientId}:${home}`, claimant, this.ttlMs)) === null;
  }
}
