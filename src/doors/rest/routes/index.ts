/**
 * The route plugins of the signed REST API. Each is registered inside the rest door
 * with the door's options (`AppRouteOptions`); every route whose path starts with `/apps/:app_id/` (write the full
 * path) is signed, rate limited and reads its app with `requireSignedApp(request)`.
 *
 * To add routes (history, messages, annotations, push, …): write a plugin of type
 * `AppRoutePlugin` in this folder and append it to `appRoutePlugins`.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Core } from '../../../core/core.ts';
import type { PushService } from '../../../push/service.ts';
import { annotationRoutes } from './annotations.ts';
import { channelRoutes } from './channels.ts';
import { eventRoutes } from './events.ts';
import { historyRoutes } from './history.ts';
import { messageRoutes } from './messages.ts';
import { operatorRoutes, type ReloadReport } from './operator.ts';
import { pushRoutes } from './push.ts';
import { refuseUnknownQueryParams } from './strict-query.ts';
import { spaceRoutes } from './spaces.ts';
import { userRoutes } from './users.ts';
import { webhookAndStatsRoutes } from './webhooks-and-stats.ts';

/**
 * The options app.ts gives the rest door, handed unchanged to every route plugin. A
 * route family that needs a service of its own (e.g. push) adds an optional field here
 * and app.ts passes it.
 */
export interface AppRouteOptions {
  readonly core: Core;
  /** Push notifications; null/absent when the backend has no push stores (push routes answer 503). */
  readonly push?: PushService | null;
  /** Re-reads this node's config file (`POST /apps/:app_id/server/reload`); absent: that route answers 422. */
  readonly reload?: () => Promise<ReloadReport>;
}

/** A route plugin of the signed REST API. */
export type AppRoutePlugin = FastifyPluginAsync<AppRouteOptions>;

/**
 * A route plugin whose routes refuse query parameters they do not declare (see
 * strict-query.ts). The hook is added in the plugin's own context before its routes.
 */
function strictQueries(plugin: AppRoutePlugin): AppRoutePlugin {
  return async (app, options) => {
    refuseUnknownQueryParams(app);
    await plugin(app, options);
  };
}

export const appRoutePlugins: readonly AppRoutePlugin[] = [
  eventRoutes,
  channelRoutes,
  userRoutes,
  spaceRoutes,
  historyRoutes,
  messageRoutes,
  annotationRoutes,
  pushRoutes,
  operatorRoutes,
  webhookAndStatsRoutes,
].map(strictQueries);

export { requireSignedApp, rawBodyOf } from '../auth.ts';
