/**
 * Error replies by request id (request-log.ts):
 *
 *   GET …/api/requests               → this node's recent error replies, newest first
 *   GET …/api/requests/:request_id   → that reply, from any node's record · 404 when unknown or past its hour
 */
import type { FastifyInstance } from 'fastify';
import { createError } from '../../../errors.ts';
import type { ConsoleContext } from './context.ts';

const requestParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' } } } as const;

export async function requestRoutes(scope: FastifyInstance, context: ConsoleContext): Promise<void> {
  const { requests } = context;
  scope.get('/api/requests', async () => ({ node: context.core.nodeId, items: requests.recent(100) }));
  scope.get('/api/requests/:id', { schema: { params: requestParams } }, async (request) => {
    const { id } = request.params as { id: string };
    const found = await requests.find(id);
    if (found === null) throw createError('RC_ERR_CONSOLE_NOT_FOUND', 'error reply with request id', JSON.stringify(id));
    return found;
  });
}
