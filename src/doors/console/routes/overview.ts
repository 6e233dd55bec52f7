/**
 * The overview page:
 *
 *   GET …/api/overview         → the Overview (overview.ts)
 *   GET …/api/overview/stream  SSE `overview`, at most once a second, only when it changed
 *
 * While a stream is open, every node reports its figures (node-reports.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from './context.ts';
import { openStream } from './streams.ts';

const FEED_MS = 1000;

export async function overviewRoutes(scope: FastifyInstance, context: ConsoleContext): Promise<void> {
  const { overview, feeds } = context;

  scope.get('/api/overview', async () => overview.overview());

  scope.get('/api/overview/stream', async (request, reply) => {
    const stream = openStream(context, request, reply);
    stream.onClose(overview.watch());
    stream.onClose(feeds.subscribe('overview', FEED_MS, () => overview.overview(), (json) => stream.sendText('overview', json)));
  });
}
