/**
 * redis backend: durable history and state shared by every node on one Redis 7.
 * (Being written: see issue 2.)
 */
import type { Logger } from 'pino';
import type { RedisConfig } from '../../config/schema.ts';
import { createError } from '../../core/errors.ts';
import type { Backend } from '../ports.ts';

export function createRedisBackend(_config: RedisConfig, _logger: Logger): Backend {
  throw createError('RC_ERR_BACKEND_UNAVAILABLE', 'redis', 'not implemented yet');
}
