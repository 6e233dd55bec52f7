/**
 * The ws door (being written; see the issues). A Fastify plugin that receives the core
 * and registers its routes; it owns its sockets and timers and closes them on preClose.
 */
import type { FastifyInstance } from 'fastify';
import type { Core } from '../../core/core.ts';

export interface WsDoorOptions {
  readonly core: Core;
}

export async function wsDoor(_app: FastifyInstance, _options: WsDoorOptions): Promise<void> {}
