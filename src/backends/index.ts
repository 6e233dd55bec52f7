/**
 * The one place that turns `backend.driver` into a backend. `app.ts` calls it; nothing
 * else constructs a backend.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { createError } from '../errors.ts';
import { createMemoryBackend } from './memory/index.ts';
import type { Backend } from './ports.ts';
import { createRedisBackend } from './redis/index.ts';

export function createBackend(config: Config, logger: Logger): Backend {
  const driver: string = config.backend.driver;
  switch (driver) {
    case 'memory':
      return createMemoryBackend();
    case 'redis':
      if (config.backend.redis === undefined) {
        throw createError('RC_ERR_CONFIG_INVALID', 'backend.redis.url', 'is required when backend.driver is "redis"');
      }
      return createRedisBackend(config.backend.redis, logger.child({ module: 'backend.redis' }), { heartbeatIntervalMs: config.node.heartbeatIntervalMs });
    default:
      throw createError('RC_ERR_CONFIG_UNKNOWN_BACKEND', driver);
  }
}
