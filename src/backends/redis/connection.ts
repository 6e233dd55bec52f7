/**
 * redis: the connections of the Redis backend, to a standalone Redis (`url`), a master
 * found through Sentinel (`sentinels`) or a Redis Cluster (`cluster`), configured so that
 * a command never hangs:
 * - no offline queue: while disconnected, a command fails at once (→ 503) instead of
 *   waiting for a reconnect that may take minutes;
 * - a per-command timeout (`commandTimeoutMs`) for a Redis that is connected but stuck;
 * - commands in flight when the connection drops are rejected, never replayed after the
 *   reconnect (an append must not run twice behind the caller's back);
 * - reconnection forever, with capped exponential backoff plus jitter; the connections
 *   of one node come back together (`reconnectTogether`).
 * Connection state changes are logged once per change, not once per retry.
 *
 * Failover: on Sentinel, a dropped connection asks the sentinels for the master again,
 * and a connection that finds its server demoted (READONLY) reconnects. On a cluster,
 * ioredis follows MOVED/ASK redirections and refreshes the slot map after a failover;
 * a command sent to a master that died fails (no replay) until the slot map names the
 * promoted replica.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConfig } from '../../config/schema.ts';
import { applyCommandTimeout } from './command-timeout.ts';
import { redactUrl } from './faults.ts';
import type { RedisKeys } from './keys.ts';
import type { RedisOutageWatch } from './outage-watch.ts';
import type { RedisTelemetry } from './telemetry.ts';

/** A connection to any of the three deployments; both classes take the same commands. */
export type RedisClient = Redis | Cluster;

/** What every store shares: the command connection, the keys and the timeout. */
export interface RedisContext {
  readonly client: RedisClient;
  readonly keys: RedisKeys;
  readonly commandTimeoutMs: number;
  /** The bus topic a stream's appends are published on (its shard's, keys.ts). */
  readonly busTopicOf: (stream: string) => string;
  /** True on a Redis Cluster: pipelines must stay in one slot, and the bus is sharded. */
  readonly cluster: boolean;
  /** Replicas that must acknowledge an append before it is answered (0: none). */
  readonly waitReplicas: number;
  readonly waitTimeoutMs: number;
}

/**
 * Longest pause between reconnection attempts, in milliseconds: short, so a node is back
 * (bus re-subscribed, `/ready` 200) within 1 s of Redis coming back; a few attempts per
 * second per connection cost a down Redis nothing.
 */
export const MAX_RECONNECT_DELAY_MS = 250;

/** Delay before reconnection attempt `attempt` (1, 2, …): 50 ms doubling to 250 ms, plus up to 100 ms of jitter. */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(MAX_RECONNECT_DELAY_MS, 50 * 2 ** Math.min(Math.max(attempt - 1, 0), 10));
  return base + Math.floor(Math.random() * 100);
}

/**
 * Options every roomcast connection carries, whatever made it (the backend's connections,
 * the push stores', BullMQ's and the duplicates BullMQ makes of them, which inherit them).
 * No `CLIENT SETINFO` on connect: Redis 7.0 (the oldest roomcast supports) refuses it, and
 * each refusal would count as a command error although nothing failed.
 */
export const BASE_CLIENT_OPTIONS = { disableClientInfo: true } as const satisfies RedisOptions;

/** How often a connection made while Redis loads its data asks again whether it is done, in milliseconds. */
export const MAX_LOADING_RETRY_MS = 100;

export type ConnectionRole = 'commands' | 'subscriber' | 'outbox' | 'push' | 'queue';

/** Where the config points: for logs (never with a password). */
export function describeTarget(config: RedisConfig): string {
  if (config.cluster !== undefined) return `cluster ${config.cluster.nodes.join(',')}`;
  if (config.sentinels !== undefined) return `sentinel ${config.masterName ?? 'mymaster'}@${config.sentinels.join(',')}`;
  return redactUrl(config.url ?? '');
}

function hostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

/** Credentials, database and TLS from `url`, for Sentinel and Cluster deployments. */
function urlOptions(url: string | undefined): RedisOptions {
  if (url === undefined) return {};
  const parsed = new URL(url);
  const options: RedisOptions = {};
  if (parsed.username !== '') options.username = decodeURIComponent(parsed.username);
  if (parsed.password !== '') options.password = decodeURIComponent(parsed.password);
  const db = Number(parsed.pathname.slice(1));
  if (parsed.pathname.length > 1 && Number.isInteger(db)) options.db = db;
  if (parsed.protocol === 'rediss:') options.tls = {};
  return options;
}

/**
 * A client for the configured deployment. `options` are the per-use settings (timeouts,
 * retries); the deployment's own (sentinels, cluster nodes) are added here. Not connected
 * yet when `lazyConnect` is set.
 */
export function createClient(config: RedisConfig, withTimeout: RedisOptions, cluster?: Omit<ClusterOptions, 'redisOptions'>): RedisClient {
  // The command timeout is roomcast's own (command-timeout.ts), not ioredis's.
  const { commandTimeout, ...options } = withTimeout;
  const client = createUntimedClient(config, options, commandTimeout, cluster);
  return commandTimeout === undefined ? client : applyCommandTimeout(client, commandTimeout);
}

function createUntimedClient(config: RedisConfig, options: RedisOptions, commandTimeout: number | undefined, cluster?: Omit<ClusterOptions, 'redisOptions'>): RedisClient {
  if (config.cluster !== undefined) {
    const { lazyConnect, enableOfflineQueue, retryStrategy: _retry, ...perNode } = options;
    const client = new Cluster(config.cluster.nodes.map(hostPort), {
      lazyConnect: lazyConnect ?? false,
      enableOfflineQueue: enableOfflineQueue ?? true,
      clusterRetryStrategy: (attempt) => reconnectDelay(attempt),
      // A command whose connection closed under it may have run: never resend it (an
      // append must not run twice). Redirections (MOVED, ASK) and refusals that ran
      // nothing (CLUSTERDOWN, TRYAGAIN) are retried by ioredis.
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 200,
      retryDelayOnMoved: 50,
      // Re-read the slot map every second, so commands reach a promoted replica soon
      // after a failover even when no MOVED reply points there.
      slotsRefreshInterval: 1000,
      slotsRefreshTimeout: Math.max(1000, commandTimeout ?? 1000),
      ...cluster,
      redisOptions: { ...urlOptions(config.url), ...BASE_CLIENT_OPTIONS, ...perNode },
    });
    // ioredis opens a node's connection on its first command, and without an offline
    // queue it refuses the commands that come while that connection is being opened:
    // open each one as soon as the node is known instead.
    client.on('+node', (node: Redis) => {
      if (node.status === 'wait') node.connect().catch(() => undefined);
    });
    return client;
  }
  if (config.sentinels !== undefined) {
    return new Redis({
      ...urlOptions(config.url),
      ...BASE_CLIENT_OPTIONS,
      ...options,
      sentinels: config.sentinels.map(hostPort),
      name: config.masterName ?? 'mymaster',
      sentinelRetryStrategy: reconnectDelay,
      // A master demoted by a failover answers writes with READONLY: find the new one.
      reconnectOnError: (error) => error.message.startsWith('READONLY'),
    });
  }
  return new Redis(config.url ?? 'redis://127.0.0.1:6379', { ...BASE_CLIENT_OPTIONS, ...options });
}

/**
 * A connection of the backend. With `outage`, the connection belongs to its episodes: a
 * drop and the errors while an episode is open are info lines (the episode's own warn
 * pair tells the outage); without it, or outside an episode (a refused login at
 * start-up), they are warns.
 */
export function createConnection(config: RedisConfig, role: ConnectionRole, logger: Logger, telemetry?: RedisTelemetry, outage?: RedisOutageWatch): RedisClient {
  const client = createClient(
    config,
    {
      lazyConnect: true,
      enableOfflineQueue: false,
      commandTimeout: config.commandTimeoutMs,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // The bus re-subscribes itself on every `ready` (see bus.ts), including the first.
      autoResubscribe: false,
      connectTimeout: Math.max(1000, config.commandTimeoutMs),
      retryStrategy: reconnectDelay,
      // A connection made while Redis still loads its data (AOF/RDB) checks again this
      // soon, not after ioredis's default of the load's ETA (at least 1 s): the node is
      // back within MAX_LOADING_RETRY_MS of Redis being ready.
      maxLoadingRetryTime: MAX_LOADING_RETRY_MS,
      connectionName: `roomcast-${role}`,
    },
    // A cluster's sharded subscriptions live on one connection per master, kept (and
    // re-established after a failover) by ioredis.
    role === 'subscriber' ? { shardedSubscribers: true } : {},
  );
  telemetry?.instrument(client);
  outage?.track(role, client);
  const log = logger.child({ redis: role, target: describeTarget(config) });
  let connected = false;
  let readies = 0;
  let lastError = '';
  client.on('ready', () => {
    // Every ready after the first is a reconnect; on the subscriber connection, the bus's.
    if (++readies > 1 && role === 'subscriber' && telemetry !== undefined) telemetry.busReconnects++;
    if (!connected) log.info('redis connected');
    connected = true;
    lastError = '';
  });
  // ioredis emits `error` on every failed attempt; an unhandled one would be printed by
  // ioredis itself, so always listen, and log only when something changes.
  client.on('error', (error: Error) => {
    if (error.message === lastError) return;
    lastError = error.message;
    const fields = { error: error.message, code: (error as NodeJS.ErrnoException).code };
    if (outage?.ongoing === true) log.info(fields, 'redis connection error');
    else log.warn(fields, 'redis connection error');
  });
  // `reconnecting` (unlike `close`) is not emitted when we close the connection ourselves.
  client.on('reconnecting', () => {
    if (connected && outage?.ongoing === true) log.info('redis connection lost; reconnecting');
    else if (connected) log.warn('redis connection lost; reconnecting');
    connected = false;
  });
  return client;
}

/**
 * Connects `connection` and resolves at its first `ready`; rejects when ioredis gives up
 * that attempt (`connect()` rejects) before any `ready`. It goes by the event, not by the
 * promise of `connect()` alone: on a Cluster whose first ready check fails (a node
 * connection closed under the check), ioredis reconnects by itself and leaves that
 * promise pending for good, although the connection turns ready soon after.
 */
export function connectUntilReady(connection: RedisClient): Promise<void> {
  if (connection.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const ready = (): void => resolve();
    connection.once('ready', ready);
    connection.connect().then(resolve, (error: unknown) => {
      connection.off('ready', ready);
      if (connection.status === 'ready') resolve();
      else reject(error instanceof Error ? error : new Error(String(error)));
    });
  });
}

/**
 * Makes a node's connections to one standalone (or Sentinel) Redis come back together:
 * when one of them is ready again, every other one still waiting out its reconnection
 * delay connects at once, instead of when its own timer fires. Readiness needs both the
 * command and the subscriber connection, so without this a restarted Redis would be
 * usable only after the slowest of their jittered delays. A cluster's node connections
 * are ioredis's own (left alone).
 */
export function reconnectTogether(connections: readonly RedisClient[]): void {
  const standalone = connections.filter((connection): connection is Redis => connection instanceof Redis);
  for (const connection of standalone) {
    connection.on('ready', () => {
      for (const other of standalone) if (other !== connection) reconnectNow(other);
    });
  }
}

/**
 * Ends a connection's wait for its reconnection timer and connects now. The pending timer
 * is cancelled first (ioredis keeps it in `reconnectTimeout`): left running it would fire
 * later and could reopen a connection closed meanwhile. Where that timer cannot be found
 * (another ioredis version), the connection keeps its own schedule.
 */
function reconnectNow(connection: Redis): void {
  if (connection.status !== 'reconnecting') return;
  const internals = connection as unknown as { reconnectTimeout?: NodeJS.Timeout | null };
  if (internals.reconnectTimeout === undefined || internals.reconnectTimeout === null) return;
  clearTimeout(internals.reconnectTimeout);
  internals.reconnectTimeout = null;
  connection.connect().catch(() => undefined);
}
