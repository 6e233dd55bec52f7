/**
 * Online users and watchlist events, for apps with `watchlistEvents`: which users are
 * signed in anywhere in the cluster, and `online` / `offline` events to the signed-in
 * connections that watch them (Pusher's watchlist events).
 *
 * Ownership: the online state lives in the backend's presence store, one entry per
 * signed-in connection under the key `{appId}:#user:{userId}`, tagged with the
 * registration id of the process incarnation that serves it, exactly like a presence
 * membership (`#` never starts a channel name,
 * so no channel can collide). So "first connection of a user" and "last one gone" are
 * atomic across nodes (`firstForUser` / `lastForUser`), and a dead node's entries are
 * reaped with its presence entries, whose departures the core routes here
 * (`takeDepartures`): its users go offline. Each transition is broadcast once as a
 * `user_online` signal; every node tells its own watchers, from a local index of who
 * watches whom, and its signed-in connections, registered again under a new
 * registration id when its registration was lost (`reregister`). Nothing here is kept
 * for users of apps without `watchlistEvents`.
 *
 * Order: a sign-in registers its watches first, then records its user, then reads the
 * watched users' states, so no change between those steps is missed (at worst a state
 * is reported twice). Per connection id, joins and leaves run one after the other, so
 * a quick sign-out (or a re-sign-in) never leaves a stale entry behind.
 */
import type { Logger } from 'pino';
import type { Backend } from '../backends/ports.ts';
import type { AppRegistry } from './apps.ts';
import { parseStreamKey, streamKey } from './channels.ts';
import type { RegistrationGate } from './membership.ts';
import type { Departure } from './presence.ts';
import { inBatches } from './subscriptions.ts';
import type { Signal, SignalSender } from './signals.ts';
import type { UserConnection, WatchlistEvent } from './types.ts';
import { warnOutsideOutage } from './failure-run.ts';

/** The channel part of online-user keys: `#user:{userId}` (no channel starts with `#`). */
const USER_KEY_PREFIX = '#user:';
/** How often leaves that failed on a backend fault are tried again, in milliseconds. */
const RETRY_MS = 5000;

/** The presence-store key of a user's signed-in connections. */
export function onlineUserKey(appId: string, userId: string): string {
  return streamKey(appId, `${USER_KEY_PREFIX}${userId}`);
}

export class OnlineUsers {
  /** `{appId}\n{watched user id}` → this node's signed-in connections watching that user. */
  private readonly watchers = new Map<string, Set<UserConnection>>();
  /** Connection id → the tail of its join/leave work (see the header: one after the other). */
  private readonly work = new Map<string, Promise<void>>();
  /** Leaves a backend fault held up, by `{key}\n{connectionId}`; retried every RETRY_MS. */
  private readonly failedLeaves = new Map<string, { readonly appId: string; readonly userId: string; readonly connectionId: string }>();
  private retryTimer: NodeJS.Timeout | null = null;
  /** `{appId}\n{connectionId}` → this node's signed-in connections (watchlist apps only), to register them again. */
  private readonly signedInHere = new Map<string, { readonly appId: string; readonly connection: UserConnection }>();

  constructor(
    private readonly backend: Backend,
    private readonly apps: AppRegistry,
    /** The id this node's entries are stored under. */
    private readonly nodeId: () => string,
    private readonly sendSignal: SignalSender,
    private readonly logger: Logger,
    /** Held while a re-registration writes the entries; joins and leaves wait for it. */
    private readonly gate?: RegistrationGate,
  ) {}

  /**
   * Snapshot of this node's signed-in connections (taken synchronously when the
   * registration id changed), and the step that records them again under the current id,
   * announcing each user it brings back online. Rejects when some could not be recorded.
   */
  reregister(): () => Promise<void> {
    const connections = [...this.signedInHere.values()];
    return async () => {
      const failures = await inBatches(connections, async ({ appId, connection }) => {
        await this.register(appId, connection);
      });
      if (failures > 0) throw new Error(`${failures} of ${connections.length} signed-in users could not be registered again`);
    };
  }

  /** Stores the connection under this node's registration; the user's first connection anywhere announces `user_online`. */
  private async register(appId: string, connection: UserConnection): Promise<void> {
    const { firstForUser } = await this.backend.presence.join(onlineUserKey(appId, connection.userId), {
      connectionId: connection.connectionId,
      nodeId: this.nodeId(),
      userId: connection.userId,
      userInfo: 'null',
    });
    if (firstForUser) await this.sendSignal({ type: 'user_online', appId, userId: connection.userId, online: true });
  }

  /** A connection signed in: record its user, watch its watchlist, tell it the watched users' states. Never throws. */
  signedIn(appId: string, connection: UserConnection): void {
    if (this.apps.findById(appId)?.watchlistEvents !== true) return;
    // A retry of an earlier leave of this connection must not remove the new entry.
    this.failedLeaves.delete(`${onlineUserKey(appId, connection.userId)}\n${connection.connectionId}`);
    const watchlist = connection.watchlist ?? [];
    for (const watched of watchlist) this.watchersOf(appId, watched, true)!.add(connection);
    this.signedInHere.set(`${appId}\n${connection.connectionId}`, { appId, connection });
    this.serialize(connection.connectionId, async () => {
      const held = this.gate?.pass();
      if (held != null) await held;
      await this.register(appId, connection);
      if (watchlist.length === 0) return;
      const counts = await Promise.all(watchlist.map((watched) => this.backend.presence.userCount(onlineUserKey(appId, watched))));
      if (!this.watchersOf(appId, watchlist[0]!, false)?.has(connection)) return; // signed out meanwhile
      const online = watchlist.filter((_, index) => counts[index]! > 0);
      const offline = watchlist.filter((_, index) => counts[index] === 0);
      const events: WatchlistEvent[] = [];
      if (online.length > 0) events.push({ name: 'online', user_ids: online });
      if (offline.length > 0) events.push({ name: 'offline', user_ids: offline });
      connection.deliverWatchlistEvents?.(events);
    });
  }

  /** A connection signed out (or closed): stop its watches, remove its user's entry. Never throws. */
  signedOut(appId: string, connection: UserConnection): void {
    if (this.apps.findById(appId)?.watchlistEvents !== true) return;
    for (const watched of connection.watchlist ?? []) {
      const set = this.watchersOf(appId, watched, false);
      if (set === undefined) continue;
      set.delete(connection);
      if (set.size === 0) this.watchers.delete(`${appId}\n${watched}`);
    }
    if (this.signedInHere.get(`${appId}\n${connection.connectionId}`)?.connection === connection) this.signedInHere.delete(`${appId}\n${connection.connectionId}`);
    this.serialize(connection.connectionId, () => this.leave(appId, connection.userId, connection.connectionId));
  }

  /**
   * Of the departures a removed node left (its presence entries), handles the online-user
   * ones (those users went offline, unless connected elsewhere: `removeNode` reports only
   * users it emptied) and returns the rest, the real presence channels.
   */
  takeDepartures(left: readonly Departure[]): Departure[] {
    const rest: Departure[] = [];
    for (const departure of left) {
      const { appId, channel } = parseStreamKey(departure.channel);
      if (!channel.startsWith(USER_KEY_PREFIX)) {
        rest.push(departure);
        continue;
      }
      this.sendSignal({ type: 'user_online', appId, userId: departure.userId, online: false }).catch((error: unknown) =>
        this.logger.warn({ err: error }, 'could not announce a reaped user as offline'),
      );
    }
    return rest;
  }

  /** A `user_online` signal (from any node): tells this node's watchers of that user. */
  readonly onSignal = (signal: Extract<Signal, { type: 'user_online' }>): void => {
    const set = this.watchersOf(signal.appId, signal.userId, false);
    if (set === undefined) return;
    const events: readonly WatchlistEvent[] = [{ name: signal.online ? 'online' : 'offline', user_ids: [signal.userId] }];
    for (const connection of set) {
      try {
        connection.deliverWatchlistEvents?.(events);
      } catch {
        // A broken connection must not stop the others; its door closes it.
      }
    }
  };

  /** Stops the retry timer (the node is stopping; its entries are removed with the node). */
  stop(): void {
    if (this.retryTimer !== null) clearInterval(this.retryTimer);
    this.retryTimer = null;
  }

  private async leave(appId: string, userId: string, connectionId: string): Promise<void> {
    const key = onlineUserKey(appId, userId);
    const id = `${key}\n${connectionId}`;
    try {
      const held = this.gate?.pass();
      if (held != null) await held;
      const result = await this.backend.presence.leave(key, connectionId);
      this.failedLeaves.delete(id);
      if (result?.lastForUser) await this.sendSignal({ type: 'user_online', appId, userId, online: false });
    } catch (error) {
      // Kept and retried: an entry left behind would show the user online for good.
      this.failedLeaves.set(id, { appId, userId, connectionId });
      warnOutsideOutage(this.logger, this.backend.outage, 'failedOnlineUserLeaves', { err: error }, 'online-user leave failed; retrying');
      this.retryTimer ??= setInterval(() => this.retryLeaves(), RETRY_MS);
      this.retryTimer.unref();
    }
  }

  private retryLeaves(): void {
    if (this.failedLeaves.size === 0) {
      this.stop();
      return;
    }
    for (const { appId, userId, connectionId } of this.failedLeaves.values()) {
      this.serialize(connectionId, () => this.leave(appId, userId, connectionId));
    }
  }

  private watchersOf(appId: string, watched: string, create: boolean): Set<UserConnection> | undefined {
    const key = `${appId}\n${watched}`;
    let set = this.watchers.get(key);
    if (set === undefined && create) {
      set = new Set();
      this.watchers.set(key, set);
    }
    return set;
  }

  /** Runs `step` after the connection's earlier join/leave work; logs instead of throwing. */
  private serialize(connectionId: string, step: () => Promise<void>): void {
    const previous = this.work.get(connectionId) ?? Promise.resolve();
    const next = previous
      .then(step)
      .catch((error: unknown) => warnOutsideOutage(this.logger, this.backend.outage, 'failedOnlineUserUpdates', { err: error }, 'online-user update failed'))
      .finally(() => {
        if (this.work.get(connectionId) === next) this.work.delete(connectionId);
      });
    this.work.set(connectionId, next);
  }
}
