/**
 * Apps, channels and one channel's page:
 *
 *   GET  …/api/apps                                   → [{ id, enabled }]
 *   GET  …/api/apps/:app/channels?prefix=             → { channels: [{ name, type, subscriptions, users }], total }
 *   GET  …/api/apps/:app/channels/stream?prefix=      SSE `channels` (the same, at most once a second)
 *   GET  …/api/apps/:app/channel/stream?name=         SSE `info` { name, type, subscriptions, users, members } and `tail` { events, skipped }
 *   GET  …/api/apps/:app/channel/history?name=&cursor=&limit=   → the history page (newest first)
 *   GET  …/api/apps/:app/channel/message?name=&serial=          → { versions, annotations }
 *   POST …/api/apps/:app/channel/events  { channel, name, data }      (admin) → { serial }
 *   POST …/api/apps/:app/channel/purge   { channel, confirm }         (admin) → the history state after
 *
 * A channel name travels in the query or the body, never in the path, so any valid
 * name works unescaped. Published test events carry origin `console` and sender
 * `Server:console:<user>`, and reach every door's subscribers like any publish.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { assertChannelName, channelTraits, isPresenceChannel } from '../../../core/channels.ts';
import { parseHistoryQuery } from '../../../core/history.ts';
import type { AppConfig } from '../../../config/schema.ts';
import { createError, isRoomcastError } from '../../../errors.ts';
import type { ConsoleContext } from './context.ts';
import { openStream } from './streams.ts';

/** Channels listed per page; the total says how many matched. */
const MAX_LISTED = 200;
/** Presence channels of a list whose user counts are looked up (one backend call each). */
const MAX_USER_COUNTS = 50;
const MAX_MEMBERS = 100;
const FEED_MS = 1000;

const appParams = { type: 'object', required: ['app'], properties: { app: { type: 'string', maxLength: 100 } } } as const;
const nameQuery = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 200 } } } as const;

export function channelType(name: string): string {
  const traits = channelTraits(name);
  return traits.cached ? `${traits.kind} (cache)` : traits.kind;
}

export async function channelRoutes(scope: FastifyInstance, context: ConsoleContext): Promise<void> {
  const { core, feeds, tail, audit } = context;

  const appOf = (request: FastifyRequest): AppConfig => {
    const { app } = request.params as { app: string };
    const config = core.apps.findById(app);
    if (config === undefined) throw createError('RC_ERR_CONSOLE_NOT_FOUND', 'app', JSON.stringify(app));
    return config;
  };
  const channelOf = (app: AppConfig, name: unknown): string => {
    assertChannelName(name, app.limits.maxChannelNameLength);
    return name;
  };

  const listChannels = async (app: AppConfig, prefix: string) => {
    const all = await core.listChannels(app.id, prefix);
    const names = [...all.keys()].sort().slice(0, MAX_LISTED);
    let counted = 0;
    const channels = await Promise.all(
      names.map(async (name) => {
        const users = isPresenceChannel(name) && counted++ < MAX_USER_COUNTS ? ((await core.channelInfo(app.id, name)).userCount ?? null) : null;
        return { name, type: channelType(name), subscriptions: all.get(name) ?? 0, users };
      }),
    );
    return { channels, total: all.size };
  };

  const channelInfo = async (app: AppConfig, name: string) => {
    const info = await core.channelInfo(app.id, name);
    const members = isPresenceChannel(name) ? (await core.presenceMembers(app.id, name)).slice(0, MAX_MEMBERS) : [];
    return { name, type: channelType(name), occupied: info.occupied, subscriptions: info.subscriptionCount, users: info.userCount ?? null, members };
  };

  scope.get('/api/apps', async () => core.apps.all().map((app) => ({ id: app.id, enabled: app.enabled })));

  const prefixQuery = { type: 'object', properties: { prefix: { type: 'string', maxLength: 200 } } } as const;
  scope.get('/api/apps/:app/channels', { schema: { params: appParams, querystring: prefixQuery } }, async (request) => {
    const { prefix = '' } = request.query as { prefix?: string };
    return listChannels(appOf(request), prefix);
  });

  scope.get('/api/apps/:app/channels/stream', { schema: { params: appParams, querystring: prefixQuery } }, async (request, reply) => {
    const app = appOf(request);
    const { prefix = '' } = request.query as { prefix?: string };
    const stream = openStream(context, request, reply);
    stream.onClose(feeds.subscribe(`channels\n${app.id}\n${prefix}`, FEED_MS, () => listChannels(app, prefix), (json) => stream.sendText('channels', json)));
  });

  scope.get('/api/apps/:app/channel/stream', { schema: { params: appParams, querystring: nameQuery } }, async (request, reply) => {
    const app = appOf(request);
    const name = channelOf(app, (request.query as { name: string }).name);
    const stream = openStream(context, request, reply);
    stream.onClose(feeds.subscribe(`channel\n${app.id}\n${name}`, FEED_MS, () => channelInfo(app, name), (json) => stream.sendText('info', json)));
    stream.onClose(tail.watch(app.id, name, (batch) => stream.send('tail', batch)));
  });

  const historyQuery = {
    type: 'object',
    required: ['name'],
    properties: { name: nameQuery.properties.name, cursor: { type: 'string', maxLength: 512 }, limit: { type: 'string', maxLength: 4 } },
  } as const;
  scope.get('/api/apps/:app/channel/history', { schema: { params: appParams, querystring: historyQuery } }, async (request) => {
    const app = appOf(request);
    const { name, cursor, limit = '25' } = request.query as { name: string; cursor?: string; limit?: string };
    const query = parseHistoryQuery({ limit, direction: 'newest_first', ...(cursor === undefined ? {} : { cursor }) });
    return core.history.page(app, channelOf(app, name), query);
  });

  const messageQuery = { type: 'object', required: ['name', 'serial'], properties: { name: nameQuery.properties.name, serial: { type: 'string', maxLength: 40 } } } as const;
  scope.get('/api/apps/:app/channel/message', { schema: { params: appParams, querystring: messageQuery } }, async (request) => {
    const app = appOf(request);
    const { name, serial } = request.query as { name: string; serial: string };
    const channel = channelOf(app, name);
    try {
      const [versions, annotations] = await Promise.all([core.messages.versions(app, channel, serial), core.annotations.list(app, channel, serial)]);
      return { serial, versions: versions.items, annotations: annotations.items, supported: true };
    } catch (error) {
      if (isRoomcastError(error) && error.code === 'RC_ERR_MESSAGES_UNSUPPORTED') return { serial, versions: [], annotations: [], supported: false };
      throw error;
    }
  });

  const publishBody = {
    type: 'object',
    required: ['channel', 'name', 'data'],
    additionalProperties: false,
    properties: { channel: { type: 'string', minLength: 1, maxLength: 200 }, name: { type: 'string', minLength: 1, maxLength: 200 }, data: { type: 'string', maxLength: 1048576 } },
  } as const;
  scope.post('/api/apps/:app/channel/events', { schema: { params: appParams, body: publishBody }, config: { consoleAction: 'publish' } }, async (request) => {
    const app = appOf(request);
    const session = request.consoleSession!;
    const body = request.body as { channel: string; name: string; data: string };
    const target = `${app.id}/${body.channel}`;
    try {
      const [published] = await core.publish(app, [
        { name: body.name, channels: [channelOf(app, body.channel)], data: body.data, origin: 'console', sender: { type: 'Server', id: `console:${session.user}` } },
      ]);
      audit.write(request, { user: session.user, role: session.role, action: 'publish', target, outcome: 'ok' });
      return { serial: published![0]!.serial };
    } catch (error) {
      audit.write(request, { user: session.user, role: session.role, action: 'publish', target, outcome: 'failed', reason: isRoomcastError(error) ? error.code : 'RC_ERR_INTERNAL' });
      throw error;
    }
  });

  const purgeBody = {
    type: 'object',
    required: ['channel', 'confirm'],
    additionalProperties: false,
    properties: { channel: { type: 'string', minLength: 1, maxLength: 200 }, confirm: { type: 'string', maxLength: 200 } },
  } as const;
  scope.post('/api/apps/:app/channel/purge', { schema: { params: appParams, body: purgeBody }, config: { consoleAction: 'purge' } }, async (request) => {
    const app = appOf(request);
    const session = request.consoleSession!;
    const body = request.body as { channel: string; confirm: string };
    const target = `${app.id}/${body.channel}`;
    try {
      const state = await core.history.purge(app, channelOf(app, body.channel), body.confirm);
      audit.write(request, { user: session.user, role: session.role, action: 'purge', target, outcome: 'ok' });
      return state;
    } catch (error) {
      audit.write(request, { user: session.user, role: session.role, action: 'purge', target, outcome: 'failed', reason: isRoomcastError(error) ? error.code : 'RC_ERR_INTERNAL' });
      throw error;
    }
  });
}
