/**
 * Liveness and readiness:
 * - `GET /up`: the process serves HTTP (always 200 while it runs).
 * - `GET /ready`: the backend answers; 503 with the catalogue error while it does not,
 *   so a load balancer stops routing here during a Redis outage and resumes by itself.
 */
import type { FastifyInstance } from 'fastify';
import type { Core } from '../core/core.ts';
import { errorBody, toRoomcastError } from '../doors/http-errors.ts';

export async function healthRoutes(app: FastifyInstance, options: { core: Core }): Promise<void> {
  const { core } = options;
  app.get('/up', async () => ({ status: 'up', node: core.nodeId }));
  app.get('/ready', async (request, reply) => {
    try {
      await core.backend.ping();
      return { status: 'ready', node: core.nodeId, backend: core.backend.driver };
    } catch (thrown) {
      const error = toRoomcastError(thrown);
      return reply.code(503).header('Retry-After', '5').send({ status: 'unavailable', backend: core.backend.driver, ...errorBody(error, request.id) });
    }
  });
}
