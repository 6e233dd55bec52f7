/**
 * redis backend: history, presence, occupancy, node liveness and KV in one Redis 7
 * (standalone), plus a pub/sub bus. Use it to run several roomcast nodes over one
 * channel space, or to keep history and sessions across restarts; for a single process
 * that needs nothing durable, the memory backend is simpler and faster.
 *
 * Two connections per node: one for commands and scripts, one dedicated to the bus
 * subscription (a subscribed connection can run nothing else). Both reconnect forever
 * by themselves. While Redis is unreachable every operation fails fast with
 * RC_ERR_BACKEND_UNAVAILABLE (or RC_ERR_BACKEND_TIMEOUT), `ping` rejects (so /ready
 * answers 503), and service resumes when Redis is back — no restart needed. Keys are
 * prefixed with `keyPrefix`, so deployments can share one Redis.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConfig } from '../../config/schema.ts';
import { createError } from '../../errors.ts';
import type { Backend } from '../ports.ts';
import { RedisBus } from './bus.ts';
import { createConnection, type RedisContext } from './connection.ts';
import { guard, redactUrl } from './faults.ts';
import { createKeys } from './keys.ts';
import { RedisGeneration } from './generation.ts';
import { RedisKeyValue } from './kv.ts';
import { RedisLog } from './log.ts';
import { RedisMessageStore } from './messages.ts';
import { RedisNodes } from './nodes.ts';
import { RedisOccupancy } from './occupancy.ts';
import { RedisOutbox } from './outbox.ts';
import { RedisPresence } from './presence.ts';
import { createRedisPushStores } from './push.ts';
import { defineScripts } from './scripts.ts';
import { RedisTelemetry } from './telemetry.ts';

export function createRedisBackend(config: RedisConfig, logger: Logger): Backend {
  const telemetry = new RedisTelemetry();
  const client = createConnection(config, 'commands', logger, telemetry);
  const subscriber = createConnection(config, 'subscriber', logger, telemetry);
  // The outbox (webhooks) has its own connection, so its traffic never queues behind, or
  // delays, channel publishes on the command connection.
  const outboxClient = createConnection(config, 'outbox', logger, telemetry);
  defineScripts(client);
  defineScripts(outboxClient);
  const context: RedisContext = { client, keys: createKeys(config.keyPrefix), commandTimeoutMs: config.commandTimeoutMs };
  const bus = new RedisBus(context, subscriber, logger.child({ component: 'bus' }));
  const generation = new RedisGeneration(context, logger.child({ component: 'generation' }));
  // Push hashes and BullMQ queues use their own connections (see push.ts).
  const push = createRedisPushStores(
    { url: config.url, keyPrefix: config.keyPrefix, commandTimeoutMs: config.commandTimeoutMs },
    logger.child({ component: 'push' }),
  );
  let closed = false;

  const backend = {
    driver: 'redis',
    bus,
    log: new RedisLog(context),
    presence: new RedisPresence(context),
    occupancy: new RedisOccupancy(context),
    nodes: new RedisNodes(context),
    kv: new RedisKeyValue(context),
    messages: new RedisMessageStore(context),
    outbox: new RedisOutbox({ ...context, client: outboxClient }),
    telemetry,
    generation,
    hashes: push.hashes,
    queues: push.queues,

    /**
     * Connects both connections and waits (up to the command timeout) for the bus
     * subscription. Redis being down at boot is not fatal: the node starts, answers
     * 503 on /ready and on backend operations, and catches up when Redis appears.
     */
    async start(): Promise<void> {
      // Waited for together, so a Redis that is down costs at most one timeout at boot.
      const [results, subscribed] = await Promise.all([
        Promise.allSettled([client.connect(), subscriber.connect(), outboxClient.connect()]),
        bus.waitUntilSubscribed(config.commandTimeoutMs),
      ]);
      if (results.some((result) => result.status === 'rejected') || !subscribed) {
        logger.warn({ url: redactUrl(config.url) }, 'redis is not reachable at start-up; starting anyway and reconnecting in the background');
        void generation.start();
        return;
      }
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
      generation.stop();
      await push.close().catch((error: unknown) => logger.warn({ err: error }, 'closing the push stores failed'));
      await Promise.all([closeConnection(subscriber), closeConnection(client), closeConnection(outboxClient)]);
    },
  } satisfies Backend;
  return backend;
}

/**
 * QUIT when connected, so replies to commands already sent still arrive; otherwise (or
 * if QUIT fails or times out) drop the connection and stop reconnecting. Commands after
 * this fail with RC_ERR_BACKEND_UNAVAILABLE.
 */
async function closeConnection(connection: Redis): Promise<void> {
  if (connection.status === 'ready') {
    try {
      await connection.quit();
      return;
    } catch {
      // fall through
    }
  }
  connection.disconnect();
}

/** The scripts use SET … NX GET and ZRANGE … BYSCORE/BYLEX/REV, which need Redis 7.0. */
const MIN_REDIS_MAJOR = 7;

async function warnIfTooOld(client: Redis, logger: Logger): Promise<void> {
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
