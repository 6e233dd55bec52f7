/**
 * The Bayeux clients of this node, by client id and by login session (Maps: ids come
 * from clients), plus what keeps their core subscriptions in step with their Bayeux
 * subscriptions: exact channels are core subscriptions, wildcard patterns are served by
 * one message tap and one mutation tap for the whole door.
 *
 * The bot in its room: each client is a presence member of its room channel from its
 * handshake (`joinRoom`, stored through core presence under this node's id, so every node
 * lists it and people get `member_added`) until it is removed — by /meta/disconnect, by
 * its login session ending (seen by a request, by the sweep, or announced `bot_left`),
 * idleness, or shutdown. A node that dies takes its members with it (core presence reaps
 * its entries; the node that adopts the client joins it again). The member is `{user_id:
 * <bot id>, user_info: {name, displayName, bot: true, senderType: "API"}}`; a bot with
 * several clients is one member (core presence counts connections per user).
 *
 * A client is served by its home node (this registry holds the clients whose home is this
 * node incarnation); every client also has a record in the backend (records.ts) naming its
 * home, so any node can relay a request to it or adopt it (relay.ts). The registry keeps
 * the records in step: written before a handshake or (un)subscribe reply, after each
 * connect reply, deleted when the client ends, kept when the node hands its clients over
 * at shutdown.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { botSessionsOf, type BotSession, type BotSessions } from '../../core/bot-sessions.ts';
import type { Core } from '../../core/core.ts';
import { warnOutsideOutage } from '../../core/failure-run.ts';
import type { ChannelMessage, Member } from '../../core/types.ts';
import { createError } from '../../errors.ts';
import { channelOfBayeux } from './channel-map.ts';
import { BayeuxClient } from './client.ts';
import type { ClientRecord, ClientRecords } from './records.ts';
import { ReplyScheduler } from './reply-scheduler.ts';
import { isBotInfo, nameInInfo } from './display-names.ts';
import { LoginClients, MAX_CLIENTS_PER_SESSION } from './login-clients.ts';
import { BotWire, STREAM_CHANNEL } from './stream.ts';

/** How many clients' records a reconcile pass reads at once. */
const RECONCILE_BATCH = 100;
/** How often the stall watch looks at the clock, in milliseconds. */
const STALL_CHECK_MS = 250;
/**
 * A stall this long (past the watch's own period) may have cost this node clients: half
 * the time a relayed request waits for its home to accept (relay.ts ACCEPT_TIMEOUT_MS).
 */
const STALL_MS = 1000;

/** What a wildcard subscriber is told after this node was off its bus (RecoveryFailed, code `untracked`). */
const WILDCARD_GAP_REASON = 'this node was off its message bus: messages of channels matched only by this wildcard may have been missed and could not be caught up; reload them from the REST history';

export class ClientRegistry {
  private readonly clients = new Map<string, BayeuxClient>();
  private readonly bySession = new Map<string, Set<BayeuxClient>>();
  /** `{appId}\n{roomChannel}` → clients of that room holding at least one wildcard subscription. */
  private readonly wildcards = new Map<string, Set<BayeuxClient>>();
  /** While any wildcard subscription exists here: the hold on every channel's messages (interest routing). */
  private releaseStreams: (() => void) | null = null;
  private readonly untap: () => void;
  private readonly untapMutations: () => void;
  private readonly sweeper: NodeJS.Timeout;
  private readonly stallWatch: NodeJS.Timeout;
  /** When the stall watch (or a request) last looked at the clock (`performance.now()`). */
  private lastLook = performance.now();
  /** Held connects made ready by a message are answered in fair rounds (reply-scheduler.ts). */
  private readonly replies = new ReplyScheduler();
  /** The door's encoders and display names, shared by its clients. */
  readonly wire: BotWire;
  private readonly sessions: BotSessions;
  private readonly unobserve: () => void;
  private readonly unresumed: () => void;
  /** A sweep's check of idle clients' sessions is under way (one at a time). */
  private checking = false;
  /** The reconcile pass under way, if any (see `reconcile`). */
  private reconciling: Promise<void> | null = null;
  /** A reconcile was asked for during a pass: another pass follows it. */
  private reconcileAgain = false;
  /** Each login's clients across the cluster (the bound of {@link MAX_CLIENTS_PER_SESSION}). */
  private readonly logins: LoginClients;
  /** Tells another node to drop a client a handshake here superseded (relay.ts wires it); null: not yet wired. */
  private tellSuperseded: ((home: string, clientId: string) => void) | null = null;

  constructor(
    private readonly core: Core,
    private readonly log: FastifyBaseLogger,
    /** A client silent for this long (and not polling) is dropped, in milliseconds. */
    private readonly idleMs: number,
    /** Where every client's record is kept. */
    readonly records: ClientRecords,
    /** This node incarnation's id: the `home` of the clients it serves (random per process). */
    readonly home: string,
  ) {
    this.untap = core.tapMessages((message) => this.onTap(message, false));
    // Changes of messages reach wildcard subscriptions too, as they reach exact ones.
    this.untapMutations = core.tapMutations((message) => this.onTap(message, true));
    this.wire = new BotWire(() => core.config.bots);
    this.sessions = botSessionsOf(core);
    this.logins = new LoginClients(core.backend.hashes);
    // A session ended elsewhere in this node (a request found it expired, a reaper): its clients leave the room.
    this.unobserve = core.observers.add({
      botSession: (change) => {
        if (change.kind === 'bot_left') void this.endSession(change.session);
      },
      // Dropped from the cluster while running (a stall past the heartbeat TTL): clients may have been adopted meanwhile.
      reregistered: () => this.reconcile(),
    });
    // The node catches up the channels it subscribes to by name; a wildcard's cannot be
    // known, so each wildcard subscriber is told its gap.
    this.unresumed = core.onBusResumed(() => {
      for (const set of this.wildcards.values()) for (const client of set) client.wildcardGap(WILDCARD_GAP_REASON);
      this.reconcile();
    });
    this.sweeper = setInterval(() => this.sweep(), Math.max(250, Math.floor(Math.min(idleMs, this.sessions.graceMs) / 2)));
    this.sweeper.unref();
    this.stallWatch = setInterval(() => this.noticeStall(), STALL_CHECK_MS);
    this.stallWatch.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Clients (bot sessions connected here) and held long-polls per app; O(clients), for metrics. */
  countsByApp(): { sessions: Map<string, number>; held: Map<string, number> } {
    const sessions = new Map<string, number>();
    const held = new Map<string, number>();
    for (const client of this.clients.values()) {
      const appId = client.session.appId;
      sessions.set(appId, (sessions.get(appId) ?? 0) + 1);
      if (client.hasPendingConnect) held.set(appId, (held.get(appId) ?? 0) + 1);
    }
    return { sessions, held };
  }

  /** True when the client is served here. */
  has(clientId: string): boolean {
    return this.clients.has(clientId);
  }

  get(clientId: unknown, session: BotSession): BayeuxClient | undefined {
    if (typeof clientId !== 'string') return undefined;
    const client = this.clients.get(clientId);
    // A client id is only valid with the login that created it.
    return client !== undefined && client.session.id === session.id ? client : undefined;
  }

  create(session: BotSession): BayeuxClient {
    return this.add(new BayeuxClient(randomBytes(16).toString('hex'), session, this.replies, this.wire));
  }

  /**
   * Takes over a client from its record (its home stopped answering): same id, ack state,
   * cursor and subscriptions. The caller subscribes it (`syncSubscriptions`) and recovers
   * what it missed.
   */
  restore(record: ClientRecord, session: BotSession): BayeuxClient {
    const client = new BayeuxClient(record.id, session, this.replies, this.wire);
    client.recorded = true;
    client.ackEnabled = record.ack === true;
    client.broadcastToPublisher = record.broadcastToPublisher !== false;
    client.batch = typeof record.batch === 'number' ? record.batch : 0;
    for (const [channel, serial] of Object.entries(record.cursor ?? {})) if (typeof serial === 'string') client.cursor.set(channel, serial);
    if (client.ackEnabled && record.sent !== null && typeof record.sent === 'object') {
      const sent = new Map(Object.entries(record.sent).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
      client.adoptedBatch = { batch: client.batch, cursor: sent };
    }
    for (const subscription of record.subscriptions) if (typeof subscription === 'string') client.subscriptions.add(subscription);
    return this.add(client);
  }

  /**
   * Writes the client's record (home: this node; `create`: a handshake's new record).
   * Rejects when the backend does. When the record names another home (it adopted the
   * client while this node was lost to it, and this node missed its `adopted` signal) or
   * is gone (the client ended elsewhere), nothing is written, the client is let go of here
   * as on that signal, and it rejects with `RC_ERR_BAYEUX_CLIENT_MOVED`.
   */
  async persist(client: BayeuxClient, create = false): Promise<void> {
    if (await this.records.save(client, this.home, create)) {
      client.recorded = true;
      return;
    }
    await this.letGo(client);
    throw createError('RC_ERR_BAYEUX_CLIENT_MOVED', client.id);
  }

  /** How this node tells another to drop a client superseded here (relay.ts). */
  onSuperseded(tell: (home: string, clientId: string) => void): void {
    this.tellSuperseded = tell;
  }

  /**
   * Enrols a new client (its record written) among its login's clients across the cluster
   * (login-clients.ts) and supersedes the oldest past {@link MAX_CLIENTS_PER_SESSION},
   * wherever they live: one served here is removed as a local eviction is; another node's
   * loses its record (a compare-and-set on the home it names, so an adopter that took it
   * meanwhile keeps it) and its home is told to drop it now, so no node adopts it later. An
   * entry whose record is gone (its client ended unseen) is dropped and not counted.
   * Rejects when the backend does (the handshake fails).
   */
  async enrol(client: BayeuxClient): Promise<void> {
    const sessionId = client.session.id;
    const newestFirst = await this.logins.enrol(sessionId, client.id);
    if (newestFirst.length <= MAX_CLIENTS_PER_SESSION) return;
    let live = 0;
    for (const clientId of newestFirst) {
      const local = this.clients.get(clientId);
      const record = local !== undefined ? null : await this.records.load(clientId);
      if (local === undefined && (record === null || record.session !== sessionId)) {
        await this.logins.leave(sessionId, clientId);
        continue;
      }
      if (++live <= MAX_CLIENTS_PER_SESSION) continue;
      await this.logins.leave(sessionId, clientId);
      if (local !== undefined) await this.remove(local);
      else if (record !== null && (await this.records.delete(clientId, record.home))) this.tellSuperseded?.(record.home, clientId);
    }
  }

  /** Drops a client another node's handshake superseded (told by that node). Nothing when absent. */
  async dropSuperseded(clientId: string): Promise<void> {
    const client = this.clients.get(clientId);
    if (client !== undefined) await this.remove(client);
  }

  private add(client: BayeuxClient): BayeuxClient {
    const session = client.session;
    let set = this.bySession.get(session.id);
    if (set === undefined) {
      set = new Set();
      this.bySession.set(session.id, set);
    }
    if (set.size >= MAX_CLIENTS_PER_SESSION) {
      const oldest = set.values().next().value;
      if (oldest !== undefined) void this.remove(oldest);
    }
    set.add(client);
    this.clients.set(client.id, client);
    return client;
  }

  /**
   * Makes a new client a presence member of its room (see the file comment). On failure
   * (the backend is down) the client is removed and the error thrown: the handshake fails.
   */
  async joinRoom(client: BayeuxClient): Promise<void> {
    const { appId, channel, bot, displayName } = client.session;
    const member: Member = { userId: bot, userInfo: { name: displayName, displayName, bot: true, senderType: 'API' } };
    let members: Member[];
    try {
      members = await this.core.joinPresence(appId, channel, client, member);
    } catch (error) {
      await this.remove(client);
      throw error;
    }
    if (client.closed) {
      // Removed while joining (evicted, session ended): undo the join.
      await this.core.unsubscribe(appId, channel, client);
      return;
    }
    client.member = true;
    client.coreChannels.add(channel);
    for (const present of members) this.wire.names.learn(appId, present.userId, nameInInfo(present.userInfo), isBotInfo(present.userInfo));
  }

  /** Applies a client's Bayeux subscriptions to the core (subscribing before unsubscribing). */
  async syncSubscriptions(client: BayeuxClient): Promise<void> {
    const wanted = new Set<string>();
    // A member stays subscribed to its room channel (unsubscribing would leave presence).
    if (client.member && !client.closed) wanted.add(client.session.channel);
    let hasWildcard = false;
    for (const subscription of client.subscriptions) {
      if (subscription === STREAM_CHANNEL) wanted.add(client.session.channel);
      else if (subscription.endsWith('*')) hasWildcard = true;
      else {
        const channel = channelOfBayeux(subscription);
        if (channel !== null) wanted.add(channel);
      }
    }
    for (const channel of wanted) {
      if (client.coreChannels.has(channel)) continue;
      await this.core.subscribe(client.session.appId, channel, client);
      client.coreChannels.add(channel);
    }
    for (const channel of [...client.coreChannels]) {
      if (wanted.has(channel)) continue;
      client.coreChannels.delete(channel);
      await this.core.unsubscribe(client.session.appId, channel, client);
    }
    const key = `${client.session.appId}\n${client.session.channel}`;
    let set = this.wildcards.get(key);
    if (hasWildcard && !client.closed) {
      if (set === undefined) {
        set = new Set();
        this.wildcards.set(key, set);
      }
      set.add(client);
    } else if (set !== undefined) {
      set.delete(client);
      if (set.size === 0) this.wildcards.delete(key);
    }
    // A wildcard matches channels nobody here subscribes to: keep them all flowing meanwhile.
    if (this.wildcards.size > 0) this.releaseStreams ??= this.core.holdAllStreams();
    else if (this.releaseStreams !== null) {
      this.releaseStreams();
      this.releaseStreams = null;
    }
    if (!client.closed) await this.persist(client);
  }

  /**
   * Removes a client: answers its held connect and drops its core subscriptions, and its
   * record unless `handover` (shutdown: another node adopts it). Never throws. False when
   * its record names another home (the client was adopted away and lives on there).
   */
  async remove(client: BayeuxClient, byDisconnect = false, handover = false): Promise<boolean> {
    if (this.clients.get(client.id) !== client) return true;
    this.clients.delete(client.id);
    const set = this.bySession.get(client.session.id);
    set?.delete(client);
    if (set?.size === 0) this.bySession.delete(client.session.id);
    // Handed over or adopted away, the client lives on elsewhere and stays its login's.
    if (!handover) void this.logins.leave(client.session.id, client.id);
    client.close(byDisconnect, handover);
    client.subscriptions.clear();
    try {
      await this.syncSubscriptions(client);
      // A record that names another home (the client was adopted away) stays.
      if (!handover) return await this.records.delete(client.id, this.home);
    } catch (error) {
      warnOutsideOutage(this.log, this.core.backend.outage, 'failedBayeuxCleanUps', { err: error }, 'bayeux client clean-up failed');
    }
    return true;
  }

  /**
   * Another node adopted the client (this node was lost to it, e.g. frozen): drops it here
   * as at shutdown, keeping its record, which now names the adopter. Nothing when absent.
   */
  async release(clientId: string): Promise<void> {
    const client = this.clients.get(clientId);
    if (client !== undefined) await this.remove(client, false, true);
  }

  /**
   * Lets go of every client served here whose record no longer names this node (adopted
   * away, or ended elsewhere). Run when this node may have missed the adopter's `adopted`
   * signal: its event loop stood still long enough for a relayed request to give up on it
   * (a freeze, see `noticeStall`), its bus resumed after a loss, or it was dropped from the
   * cluster and registered again. Requests for its clients wait for the pass (`settling`).
   * One pass at a time; one asked for during a pass runs after it. A backend error ends the
   * pass: every record write (`persist`) still finds a client adopted away.
   */
  reconcile(): void {
    if (this.reconciling !== null) {
      this.reconcileAgain = true;
      return;
    }
    this.reconciling = this.reconcilePass().finally(() => {
      this.reconciling = null;
      if (this.reconcileAgain) {
        this.reconcileAgain = false;
        this.reconcile();
      }
    });
  }

  /** The reconcile pass under way (requests for this node's clients wait for it), or null. */
  get settling(): Promise<void> | null {
    return this.reconciling;
  }

  private async reconcilePass(): Promise<void> {
    // A client whose handshake has not written its record yet is left alone.
    const clients = [...this.clients.values()].filter((client) => client.recorded);
    for (let at = 0; at < clients.length; at += RECONCILE_BATCH) {
      const batch = clients.slice(at, at + RECONCILE_BATCH);
      let records: (ClientRecord | null)[];
      try {
        records = await Promise.all(batch.map((client) => this.records.load(client.id)));
      } catch (error) {
        this.log.info({ err: error }, 'could not check whether bayeux clients were adopted by other nodes; their next record write will tell');
        return;
      }
      for (let index = 0; index < batch.length; index++) {
        if (records[index]?.home === this.home) continue;
        await this.letGo(batch[index]!);
      }
    }
  }

  /**
   * Starts a reconcile pass when this node's event loop stood still for longer than
   * {@link STALL_MS} since the stall watch last looked (frozen, or starved): long enough for
   * a request relayed to it to be given up on and its client adopted. Called by the watch's
   * timer and by every request before it looks for its client (relay.ts), so after a freeze
   * the pass is under way before the first request is served, whichever runs first.
   */
  noticeStall(): void {
    const now = performance.now();
    if (now - this.lastLook > STALL_CHECK_MS + STALL_MS && this.clients.size > 0) this.reconcile();
    this.lastLook = now;
  }

  /** Drops a client another node serves now (its record names that node, or is gone), keeping the record; logged once per client. */
  private async letGo(client: BayeuxClient): Promise<void> {
    this.log.info({ client: client.id }, 'a bayeux client is served by another node now (adopted while this one was lost to it): let go of here');
    await this.remove(client, false, true);
  }

  /** Removes every client of a login session (expired, or its space stopped). */
  async endSession(sessionId: string): Promise<void> {
    for (const client of [...(this.bySession.get(sessionId) ?? [])]) await this.remove(client);
  }

  /** Removes every client of a space (stopped on this node). */
  async endSpace(spaceId: string): Promise<void> {
    for (const client of [...this.clients.values()]) if (client.session.space === spaceId) await this.remove(client);
  }

  /**
   * Shutdown: answers every held connect (as an ordinary empty reply) and unsubscribes
   * everyone, keeping their records: their next requests reach other nodes, which adopt them.
   */
  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    clearInterval(this.stallWatch);
    this.unobserve();
    this.unresumed();
    this.untap();
    this.untapMutations();
    for (const client of [...this.clients.values()]) await this.remove(client, false, true);
  }

  logWarn(error: unknown, text: string): void {
    this.log.warn({ err: error }, text);
  }

  private onTap(message: ChannelMessage, mutation: boolean): void {
    if (this.wildcards.size === 0) return;
    // The room channel is the message's channel or one of its "."-prefixes.
    let end = message.channel.length;
    while (end > 0) {
      const set = this.wildcards.get(`${message.appId}\n${message.channel.slice(0, end)}`);
      if (set !== undefined) {
        for (const client of set) {
          if (mutation) client.deliverMutation(message);
          else client.deliver(message);
        }
      }
      end = message.channel.lastIndexOf('.', end - 1);
    }
  }

  /**
   * Drops clients idle past `idleMs`, and checks the sessions of clients that have not
   * polled for longer than the grace: an expired one ends, so its bot leaves the room soon
   * after its session expires rather than after `idleMs`.
   */
  private sweep(): void {
    const now = Date.now();
    const cutoff = now - this.idleMs;
    const graceCutoff = now - this.sessions.graceMs;
    const doubtful = new Set<string>();
    for (const client of this.clients.values()) {
      if (client.hasPendingConnect) continue;
      if (client.lastSeen < cutoff) void this.remove(client);
      else if (client.lastSeen < graceCutoff) doubtful.add(client.session.id);
    }
    if (doubtful.size > 0 && !this.checking) {
      this.checking = true;
      void this.checkSessions(doubtful).finally(() => (this.checking = false));
    }
  }

  private async checkSessions(ids: ReadonlySet<string>): Promise<void> {
    for (const id of ids) {
      try {
        const check = await this.sessions.check(id);
        if (!check.ok) await this.endSession(id);
      } catch {
        return; // the backend is away (its outage is logged elsewhere): the next sweep asks again
      }
    }
  }
}
