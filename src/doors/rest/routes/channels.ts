/**
 * Channel state over the signed REST API (Pusher HTTP API "Channels"):
 *
 * GET /apps/:app_id/channels?filter_by_prefix=&info=user_count,subscription_count
 *   → { channels: { <name>: { user_count?, subscription_count? } } }   occupied channels only
 * GET /apps/:app_id/channels/:channel_name?info=user_count,subscription_count
 *   → { occupied, user_count?, subscription_count? }
 * GET /apps/:app_id/channels/:channel_name/users   (presence channels only)
 *   → { users: [ { id } ] }
 *
 * As Pusher does, `user_count` is refused (400) unless the channel, or the prefix that
 * filters the list, is a presence one.
 */
import { assertChannelName, channelNameProblem, isPresenceChannel } from '../../../core/channels.ts';
import { createError } from '../../../errors.ts';
import { requireSignedApp } from '../auth.ts';
import { parseInfo } from '../info.ts';
import { appParams, channelParams, infoQuery } from '../schemas.ts';
import type { AppRoutePlugin } from './route-plugin.ts';

interface ListQuery {
  readonly filter_by_prefix?: string;
  readonly info?: string;
}

interface ChannelQuery {
  readonly info?: string;
}

interface ChannelRouteParams {
  readonly app_id: string;
  readonly channel_name: string;
}

const listSchema = {
  params: appParams,
  querystring: {
    type: 'object',
    properties: { filter_by_prefix: { type: 'string', maxLength: 200 }, info: infoQuery },
  },
};

const channelSchema = {
  params: channelParams,
  querystring: { type: 'object', properties: { info: infoQuery } },
};

const usersSchema = { params: channelParams };

export const channelRoutes: AppRoutePlugin = async (app, { core }) => {
  app.get('/apps/:app_id/channels', { schema: listSchema }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { filter_by_prefix: prefix = '', info } = request.query as ListQuery;
    if (prefix !== '') {
      const problem = channelNameProblem(prefix, appConfig.limits.maxChannelNameLength);
      if (problem !== null) throw createError('RC_ERR_CHANNEL_INVALID_NAME', `prefix ${JSON.stringify(prefix.slice(0, 60))}`, problem);
    }
    const wanted = parseInfo(info);
    if (wanted.has('user_count') && !isPresenceChannel(prefix)) {
      throw createError('RC_ERR_INFO_USER_COUNT_NOT_PRESENCE', 'add filter_by_prefix=presence- to list user counts');
    }
    const listed = [...(await core.listChannels(appConfig.id, prefix))].filter(([, count]) => count > 0);
    const entries = await Promise.all(
      listed.map(async ([channel, subscriptionCount]) => {
        const fields: Record<string, number> = {};
        if (wanted.has('user_count')) fields.user_count = (await core.channelInfo(appConfig.id, channel)).userCount ?? 0;
        if (wanted.has('subscription_count')) fields.subscription_count = subscriptionCount;
        return [channel, fields] as const;
      }),
    );
    // fromEntries, not assignment: a channel may be called "__proto__".
    return { channels: Object.fromEntries(entries) };
  });

  app.get('/apps/:app_id/channels/:channel_name', { schema: channelSchema }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel } = request.params as ChannelRouteParams;
    assertChannelName(channel, appConfig.limits.maxChannelNameLength);
    const wanted = parseInfo((request.query as ChannelQuery).info);
    if (wanted.has('user_count') && !isPresenceChannel(channel)) {
      throw createError('RC_ERR_INFO_USER_COUNT_NOT_PRESENCE', `${channel} is not a presence- channel`);
    }
    const info = await core.channelInfo(appConfig.id, channel);
    const reply: Record<string, unknown> = { occupied: info.occupied };
    if (wanted.has('user_count')) reply.user_count = info.userCount ?? 0;
    if (wanted.has('subscription_count')) reply.subscription_count = info.subscriptionCount;
    return reply;
  });

  app.get('/apps/:app_id/channels/:channel_name/users', { schema: usersSchema }, async (request) => {
    const appConfig = requireSignedApp(request);
    const { channel_name: channel } = request.params as ChannelRouteParams;
    assertChannelName(channel, appConfig.limits.maxChannelNameLength);
    if (!isPresenceChannel(channel)) throw createError('RC_ERR_CHANNEL_NOT_PRESENCE', channel);
    const members = await core.presenceMembers(appConfig.id, channel);
    // One entry per user, however many connections the user has.
    const ids = [...new Set(members.map((member) => member.userId))];
    return { users: ids.map((id) => ({ id })) };
  });
};
