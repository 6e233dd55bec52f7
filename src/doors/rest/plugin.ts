/**
 * The rest door (being written; see the issues). A Fastify plugin that receives the core
 * and registers its routes; it owns its sockets and timers and closes them on preClose.
 */
import type { FastifyInstance } from 'fastify';
import type { Core } from '../../core/core.ts';

export interface RestDoorOptions {
  readonly core: Core;
}

export async function restDoor(_app: FastifyInstance, _options: RestDoorOptions): Promise<void> {}
