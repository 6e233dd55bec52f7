/**
 * Channel history over the signed REST API (issue 4):
 *
 * GET  /apps/:app_id/channels/:channel_name/history?limit=&direction=&start=&end=&from_serial=&to_serial=&cursor=
 *   → { items: [ … ], has_more, next_cursor }
 * GET  /apps/:app_id/channels/:channel_name/history/state
 *   → { channel, stream_id, last_serial, oldest_serial, newest_serial, retained_count, retained_bytes }
 * POST /apps/:app_id/channels/:channel_name/history/purge   { confirm_channel }  → the state after
 * POST /apps/:app_id/channels/:channel_name/history/reset   { confirm_channel }  → the state after
 * GET  /apps/:app_id/channels/:channel_name/presence/history            (same query and reply as history)
 * GET  /apps/:app_id/channels/:channel_name/presence/history/state
 *
 * Validation of values lives in the core (`parseHistoryQuery`), so every door reports
 * the same catalogue codes; the schemas only bound sizes.
 */
import { parseHistoryQuery } from '../../../core/history.ts';
import { requireSignedApp } from '../auth.ts';
import { channelParams } from '../schemas.ts';
import type { AppRoutePlugin } from './index.ts';

interface ChannelRouteParams {
  readonly app_id: string;
  readonly channel_name: string;
}

const historyQuery = {
  type: 'object',
  properties: {
    limit: { type: 'string', maxLength: 8 },
    direction: { type: 'string', maxLength: 20 },
    start: { type: 'string', maxLength: 20 },
    end: { type: 'string', maxLength: 20 },
    from_serial: { type: 'string', maxLength: 40 },
    to_serial: { type: 'string', maxLength: 40 },
    cursor: { type: 'string', maxLength: 512 },
  },
} as const;

const confirmBody = {
  type: 'object',
  properties: { confirm_channel: { type: 'string', maxLength: 1000 } },
} as const;

export const historyRoutes: AppRoutePlugin = async (app, { core }) => {
  app.get('/apps/:app_id/channels/:channel_name/history', { schema: { params: channelParams, querystring: historyQuery } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel } = request.params as ChannelRouteParams;
    return core.history.page(appConfig, channel, parseHistoryQuery(request.query as Record<string, unknown>));
  });

  app.get('/apps/:app_id/channels/:channel_name/history/state', { schema: { params: channelParams } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel } = request.params as ChannelRouteParams;
    return core.history.state(appConfig, channel);
  });

  app.post('/apps/:app_id/channels/:channel_name/history/purge', { schema: { params: channelParams, body: confirmBody } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel } = request.params as ChannelRouteParams;
    const body = (request.body ?? {}) as { confirm_channel?: unknown };
    return { purged: true, state: await core.history.purge(appConfig, channel, body.confirm_channel) };
  });

  app.post('/apps/:app_id/channels/:channel_name/history/reset', { schema: { params: channelParams, body: confirmBody } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel } = request.params as ChannelRouteParams;
    const body = (request.body ?? {}) as { confirm_channel?: unknown };
    return { reset: true, state: await core.history.reset(appConfig, channel, body.confirm_channel) };
  });

  app.get(
    '/apps/:app_id/channels/:channel_name/presence/history',
    { schema: { params: channelParams, querystring: historyQuery } },
    async (request) => {
      const appConfig = requireSignedApp(request);
      const { channel_name: channel } = request.params as ChannelRouteParams;
      return core.history.presencePage(appConfig, channel, parseHistoryQuery(request.query as Record<string, unknown>));
    },
  );

  app.get('/apps/:app_id/channels/:channel_name/presence/history/state', { schema: { params: channelParams } }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel } = request.params as ChannelRouteParams;
    return core.history.state(appConfig, channel, true);
  });
};
