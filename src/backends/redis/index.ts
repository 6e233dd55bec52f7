/**
 * redis backend: history, presence, occupancy, node liveness and KV in Redis 7 (a
 * standalone Redis, a master found through Sentinel, or a Redis Cluster), plus a pub/sub
 * bus. Use it to run several roomcast nodes over one channel space, or to keep history and
 * sessions across restarts; for a single process that needs nothing durable, the memory
 * backend is simpler and faster.
 *
 * On a Redis Cluster every atomic step touches one hash slot (keys.ts), the bus is
 * sharded (SSUBSCRIBE/SPUBLISH on one topic per shard, keys.ts), and the outbox keeps its
 * keys per shard (outbox.ts).
 *
 * Two connections per node: one for commands and scripts, one dedicated to the bus
 * subscription (a subscribed connection can run nothing else). Both reconnect forever
 * by themselves, and together: the first one back brings the others (connection.ts). While Redis is unreachable every operation fails fast with
 * RC_ERR_BACKEND_UNAVAILABLE (or RC_ERR_BACKEND_TIMEOUT), `ping` rejects (so /ready
 * answers 503), and service resumes when Redis is back — no restart needed. Keys are
 * prefixed with `keyPrefix`, so deployments can share one Redis.
 */
import type { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import { configSchema, type RedisConfig } from '../../config/schema.ts';
import { createError } from '../../errors.ts';
import type { Backend } from '../ports.ts';
import { RedisBus } from './bus.ts';
import { connectUntilReady, createConnection, describeTarget, reconnectTogether, type RedisClient, type RedisContext } from './connection.ts';
import { guard } from './faults.ts';
import { createKeys } from './keys.ts';
import { RedisGeneration } from './generation.ts';
import { RedisKeyValue } from './kv.ts';
import { RedisLog } from './log.ts';
import { RedisMessageStore } from './messages.ts';
import { RedisNodes } from './nodes.ts';
import { RedisOccupancy } from './occupancy.ts';
import { RedisOutbox } from './outbox.ts';
import { RedisOwedLedger } from './owed.ts';
import { RedisPresence } from './presence.ts';
import { RedisQuotas } from './quotas.ts';
import { createRedisPushStores } from './push.ts';
import { defineScripts } from './scripts.ts';
import { RedisOutageWatch } from './outage-watch.ts';
import { RedisTelemetry } from './telemetry.ts';

/** What the Redis backend takes from the config beyond `backend.redis`. */
export interface RedisBackendOptions {
  /**
   * `node.heartbeatIntervalMs`, in milliseconds: how long the presence and occupancy
   * stores rely on a node-channel listing they sent before sending it again (presence.ts).
   * Default: that field's default (5000).
   */
  readonly heartbeatIntervalMs?: number;
}

export function createRedisBackend(config: RedisConfig, logger: Logger, options: RedisBackendOptions = {}): Backend {
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? configSchema.properties.node.properties.heartbeatIntervalMs.default;
  const telemetry = new RedisTelemetry();
  const cluster = config.cluster !== undefined;
  // One warn pair per Redis outage (outage-watch.ts); the bus exists by the first event.
  const outage = new RedisOutageWatch(logger, () => bus.isSubscribed());
  const client = createConnection(config, 'commands', logger, telemetry, outage);
  const subscriber = createConnection(config, 'subscriber', logger, telemetry, outage);
  // The outbox (webhooks) has its own connection, so its traffic never queues behind, or
  // delays, channel publishes on the command connection.
  const outboxClient = createConnection(config, 'outbox', logger, telemetry, outage);
  defineScripts(client, cluster);
  defineScripts(outboxClient, cluster);
  const keys = createKeys(config.keyPrefix, config.shards);
  const context: RedisContext = {
    client,
    keys,
    commandTimeoutMs: config.commandTimeoutMs,
    busTopicOf: (stream) => keys.busTopic(keys.shardOf(stream)),
    cluster,
    waitReplicas: config.waitReplicas ?? 0,
    waitTimeoutMs: config.waitTimeoutMs ?? 500,
  };
  const bus = new RedisBus(context, subscriber, config.routing ?? 'interest', logger.child({ component: 'bus' }));
  telemetry.busTopicCount = () => bus.subscribedTopics();
  const generation = new RedisGeneration(context, logger.child({ component: 'generation' }));
  // Push hashes and BullMQ queues use their own connections (see push.ts).
  const push = createRedisPushStores({ redis: config, keyPrefix: config.keyPrefix, commandTimeoutMs: config.commandTimeoutMs, outage }, logger.child({ component: 'push' }));
  const connections: RedisClient[] = [client, subscriber, outboxClient];
  reconnectTogether(connections);
  let closed = false;

  const backend = {
    driver: 'redis',
    bus,
    log: new RedisLog(context),
    presence: new RedisPresence(context, heartbeatIntervalMs),
    occupancy: new RedisOccupancy(context, heartbeatIntervalMs),
    nodes: new RedisNodes(context),
    kv: new RedisKeyValue(context),
    messages: new RedisMessageStore(context),
    outbox: new RedisOutbox({ ...context, client: outboxClient }),
    owed: new RedisOwedLedger(context),
    quotas: new RedisQuotas(context, config.keyPrefix),
    telemetry,
    generation,
    outage,
    hashes: push.hashes,
    queues: push.queues,

    /**
     * Connects both connections and waits (up to the command timeout) for the bus
     * subscription. Redis being down at boot is not fatal: the node starts, answers
     * 503 on /ready and on backend operations, and catches up when Redis appears.
     */
    async start(): Promise<void> {
      // Waited for together, so a Redis that is down costs at most one timeout at boot.
      // A cluster's connect() keeps retrying (and stays pending) while no node answers:
      // bounded here too, the retries go on in the background.
      const connected = Promise.allSettled(connections.map((connection) => connectUntilReady(connection)));
      const [results, subscribed] = await Promise.all([
        settledWithin(connected, config.commandTimeoutMs * 2),
        bus.waitUntilSubscribed(config.commandTimeoutMs),
      ]);
      if (results === null || results.some((result) => result.status === 'rejected') || !subscribed) {
        logger.warn({ target: describeTarget(config) }, 'redis is not reachable at start-up; starting anyway and reconnecting in the background');
        void generation.start();
        return;
      }
      if (cluster) await Promise.all([client, outboxClient].map((connection) => allNodesReady(connection as Cluster, config.commandTimeoutMs)));
      await warnIfTooOld(client, logger);
      await generation.start();
    },

    /** Ready means both: commands answer and the bus subscription is live (else this node would miss messages). */
    ping(): Promise<void> {
      return guard(config.commandTimeoutMs, async () => {
        await client.ping();
        if (!bus.isSubscribed()) throw createError('RC_ERR_BACKEND_UNAVAILABLE', 'redis', 'the bus subscription is down (reconnecting)');
      });
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      outage.close();
      generation.stop();
      await push.close().catch((error: unknown) => logger.warn({ err: error }, 'closing the push stores failed'));
      await Promise.all(connections.map((connection) => closeConnection(connection, config.commandTimeoutMs)));
    },
  } satisfies Backend;
  return backend;
}

/**
 * QUIT when connected, so replies to commands already sent still arrive; otherwise (or
 * if QUIT fails or takes longer than the command timeout) drop the connection and stop
 * reconnecting. Commands after
 * this fail with RC_ERR_BACKEND_UNAVAILABLE.
 */
async function closeConnection(connection: RedisClient, timeoutMs: number): Promise<void> {
  if (connection.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    try {
      // Bounded: on a cluster QUIT goes to every node, and one that just died never answers.
      const quitted = await Promise.race([
        connection.quit().then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
      if (quitted) return;
    } catch {
      // fall through
    } finally {
      clearTimeout(timer);
    }
  }
  connection.disconnect();
}

/** The settled results, or null when they take longer than `ms`. */
async function settledWithin<T>(work: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** Waits (bounded) until every node connection of the cluster is open, so the first burst of commands finds them ready. */
async function allNodesReady(client: Cluster, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && client.nodes('all').some((node) => node.status !== 'ready')) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The scripts use SET … NX GET and ZRANGE … BYSCORE/BYLEX/REV, which need Redis 7.0. */
const MIN_REDIS_MAJOR = 7;

async function warnIfTooOld(client: RedisClient, logger: Logger): Promise<void> {
  try {
    const info = await client.info('server');
    const version = /^redis_version:(\S+)/m.exec(info)?.[1];
    if (version !== undefined && Number(version.split('.')[0]) < MIN_REDIS_MAJOR) {
      logger.error({ version }, `redis ${version} is too old: roomcast needs Redis ${MIN_REDIS_MAJOR}.0 or newer; some operations will fail`);
    }
  } catch {
    // Informational only: a failure here shows up on the next real command anyway.
  }
}
