/**
 * Liveness and readiness:
 * - `GET /up`: the process serves HTTP (always 200 while it runs).
 * - `GET /ready`: the node is warm and the backend answers; 503 with the catalogue error
 *   while it does not (RC_ERR_NODE_WARMING for the first calm second after start, see
 *   doors/loop-watch.ts; the backend's error during an outage), so a load balancer routes
 *   elsewhere meanwhile and resumes by itself.
 */
import type { FastifyInstance } from 'fastify';
import type { Core } from '../core/core.ts';
import { createError } from '../errors.ts';
import { errorBody, toRoomcastError } from '../doors/http-errors.ts';
import { loopWatchOf } from '../doors/loop-watch.ts';

export async function healthRoutes(app: FastifyInstance, options: { core: Core }): Promise<void> {
  const { core } = options;
  app.get('/up', async () => ({ status: 'up', node: core.nodeId }));
  app.get('/ready', async (request, reply) => {
    const watch = loopWatchOf(core);
    try {
      // The backend first: an outage is the more useful thing to report.
      await core.backend.ping();
      if (!watch.warm) throw createError('RC_ERR_NODE_WARMING', `${watch.ageMs} ms since start, event-loop p99 of the last windows ${watch.recentP99Ms().map(Math.round).join(', ') || 'not measured yet'} ms`);
      return { status: 'ready', node: core.nodeId, backend: core.backend.driver };
    } catch (thrown) {
      const error = toRoomcastError(thrown);
      return reply.code(503).header('Retry-After', '5').send({ status: 'unavailable', backend: core.backend.driver, ...errorBody(error, request.id) });
    }
  });
}
