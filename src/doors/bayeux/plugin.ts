/**
 * The bayeux door (being written; see the issues). A Fastify plugin that receives the core
 * and registers its routes; it owns its sockets and timers and closes them on preClose.
 */
import type { FastifyInstance } from 'fastify';
import type { Core } from '../../core/core.ts';

export interface BayeuxDoorOptions {
  readonly core: Core;
}

export async function bayeuxDoor(_app: FastifyInstance, _options: BayeuxDoorOptions): Promise<void> {}
