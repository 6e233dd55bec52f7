/**
 * redis: one ioredis connection, configured so that a command never hangs:
 * - no offline queue: while disconnected, a command fails at once (→ 503) instead of
 *   waiting for a reconnect that may take minutes;
 * - a per-command timeout (`commandTimeoutMs`) for a Redis that is connected but stuck;
 * - commands in flight when the connection drops are rejected, never replayed after the
 *   reconnect (an append must not run twice behind the caller's back);
 * - reconnection forever, with capped exponential backoff plus jitter.
 * Connection state changes are logged once per change, not once per retry.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConfig } from '../../config/schema.ts';
import { redactUrl } from './faults.ts';
import type { RedisKeys } from './keys.ts';
import type { RedisTelemetry } from './telemetry.ts';

/** What every store shares: the command connection, the keys and the timeout. */
export interface RedisContext {
  readonly client: Redis;
  readonly keys: RedisKeys;
  readonly commandTimeoutMs: number;
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

/** How often a connection made while Redis loads its data asks again whether it is done, in milliseconds. */
export const MAX_LOADING_RETRY_MS = 100;

export type ConnectionRole = 'commands' | 'subscriber' | 'outbox';

export function createConnection(config: RedisConfig, role: ConnectionRole, logger: Logger, telemetry?: RedisTelemetry): Redis {
  const client = new Redis(config.url, {
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
  });
  telemetry?.instrument(client);
  const log = logger.child({ redis: role, url: redactUrl(config.url) });
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
    log.warn({ error: error.message, code: (error as NodeJS.ErrnoException).code }, 'redis connection error');
  });
  // `reconnecting` (unlike `close`) is not emitted when we close the connection ourselves.
  client.on('reconnecting', () => {
    if (connected) log.warn('redis connection lost; reconnecting');
    connected = false;
  });
  return client;
}
