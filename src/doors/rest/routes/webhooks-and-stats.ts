/**
 * Webhook dead letters and app figures over the signed REST API (signed like every
 * `/apps/{app_id}/…` route; the other operator routes are in operator.ts):
 *
 * GET  /apps/:app_id/stats                          the app's cluster-wide figures (as in `/stats`)
 *   → { nodes, id, enabled, occupied_channels, subscriptions, connections, presence_members, messages_published, client_events }
 * GET  /apps/:app_id/webhooks/dead_letters          webhook batches that exhausted their retries
 *   → { items: [ { id, url, attempts, reason, at, events: [ … as they were sent ] } ] }
 * POST /apps/:app_id/webhooks/dead_letters/replay   { ids?: [ … ] } (none: every listed letter)
 *   → { replayed: [ ids ] }   each letter goes back to the end of its lane and is sent again;
 *   an id that is not (or no longer) listed is 404 RC_ERR_WEBHOOKS_DEAD_LETTER_NOT_FOUND.
 * See docs/webhooks.md and docs/operations.md.
 */
import { clusterStatsOf } from '../../../core/cluster-stats.ts';
import { createError } from '../../../errors.ts';
import { webhooksOf } from '../../../webhooks/registry.ts';
import { requireSignedApp } from '../auth.ts';
import { appParams } from '../schemas.ts';
import type { AppRoutePlugin } from './route-plugin.ts';

/** Ids one replay request may name. */
const MAX_REPLAY_IDS = 1000;

export const webhookAndStatsRoutes: AppRoutePlugin = async (app, { core }) => {
  app.get('/apps/:app_id/stats', { schema: { params: appParams } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const report = await clusterStatsOf(core).read(appConfig.id);
    return { nodes: report.nodes, ...report.apps[0] };
  });

  app.get('/apps/:app_id/webhooks/dead_letters', { schema: { params: appParams } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const webhooks = webhooksOf(core);
    return { items: webhooks === null ? [] : await webhooks.deadLetters(appConfig.id) };
  });

  app.post('/apps/:app_id/webhooks/dead_letters/replay', { schema: { params: appParams } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const body = request.body ?? {};
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw createError('RC_ERR_WEBHOOKS_INVALID_REQUEST', 'the body must be a JSON object');
    const ids = (body as { ids?: unknown }).ids;
    if (ids !== undefined && (!Array.isArray(ids) || ids.length > MAX_REPLAY_IDS || ids.some((id) => typeof id !== 'string' || id.length === 0 || id.length > 300))) {
      throw createError('RC_ERR_WEBHOOKS_INVALID_REQUEST', `ids must be an array of at most ${MAX_REPLAY_IDS} dead-letter ids`);
    }
    const webhooks = webhooksOf(core);
    if (webhooks === null) {
      if (ids !== undefined && ids.length > 0) throw createError('RC_ERR_WEBHOOKS_DEAD_LETTER_NOT_FOUND', JSON.stringify(ids[0]));
      return { replayed: [] };
    }
    return { replayed: await webhooks.replay(appConfig.id, ids as string[] | undefined) };
  });
};
