/**
 * The route plugins of the signed REST API. Each is registered inside the rest door
 * with the door's options (`AppRouteOptions`); every route whose path starts with `/apps/:app_id/` (write the full
 * path) is signed, rate limited and reads its app with `requireSignedApp(request)`.
 *
 * To add routes (history, messages, annotations, push, …): write a plugin of type
 * `AppRoutePlugin` in this folder and append it to `appRoutePlugins`.
 */
import { annotationRoutes } from './annotations.ts';
import { channelRoutes } from './channels.ts';
import { eventRoutes } from './events.ts';
import { historyRoutes } from './history.ts';
import { messageRoutes } from './messages.ts';
import { operatorRoutes } from './operator.ts';
import { pushRoutes } from './push.ts';
import type { AppRoutePlugin } from './route-plugin.ts';
import { refuseUnknownQueryParams } from './strict-query.ts';
import { spaceRoutes } from './spaces.ts';
import { userRoutes } from './users.ts';
import { webhookAndStatsRoutes } from './webhooks-and-stats.ts';


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
