/**
 * The signed REST door (Pusher-compatible HTTP API under `/apps/:app_id/…`).
 *
 * Inside this plugin's encapsulation context only:
 * - a body parser that keeps the raw bytes (the signature covers their MD5),
 * - one signing hook on every `/apps/:app_id/` route (see auth.ts),
 * - the per-app rate limit (see rate-limit.ts),
 * - the app route plugins of routes/index.ts, each registered with the door's options;
 * and, when app.ts gives it the server (`fastLane`), the fast lane of the usual
 * `POST /apps/:app_id/events` in front of Fastify (fast-lane.ts).
 * Other doors and the ops routes keep Fastify's default parsers and are not signed.
 */
import type { FastifyInstance } from 'fastify';
import { installSignedRequests } from './auth.ts';
import { installEventsFastLane, type FastLaneHost } from './fast-lane.ts';
import { registerAppRateLimit } from './rate-limit.ts';
import { appRoutePlugins } from './routes/index.ts';
import type { AppRouteOptions } from './routes/route-plugin.ts';

/** What app.ts passes; each route plugin receives the same object. */
export interface RestDoorOptions extends AppRouteOptions {
  /** The main port's server and what the fast lane shares with it; absent: no fast lane (every request through Fastify). */
  readonly fastLane?: FastLaneHost;
}

export async function restDoor(app: FastifyInstance, options: RestDoorOptions): Promise<void> {
  const { core } = options;
  if (core === undefined) throw new Error('restDoor needs { core }');
  // Order matters: the signing hook must be installed before any route is added.
  const bodies = installSignedRequests(app, core);
  const rateLimited = registerAppRateLimit(app, core, core.config.apps);
  for (const routes of appRoutePlugins) await app.register(routes, options);
  if (options.fastLane !== undefined) installEventsFastLane(options.fastLane, core, bodies, rateLimited);
}
