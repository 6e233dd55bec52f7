/**
 * Operator routes (signed like every `/apps/:app_id/…` route) for the `roomcast` CLI and
 * scripts:
 *
 *   GET  /apps/:app_id/spaces                              → { spaces: [ { id, running, epoch, rooms, bots } ] }
 *   GET  /apps/:app_id/spaces/:space_id/rooms              → { space, rooms: [ { id, channel, code_issued_at } ] }
 *   GET  /apps/:app_id/spaces/:space_id/bots               → { space, bots: [ { id, displayName, token_issued_at } ] }
 *   POST /apps/:app_id/server/reload                       → { node, config_hash, previous_hash, changed, restart_required }
 *                                                            422 RC_ERR_CONFIG_RELOAD_FAILED (with `problems`) keeps the old config
 *
 * Rooms and bots are those of the config plus those added at run time (spaces.ts);
 * codes and tokens themselves are never listed (only digests are stored), only when the
 * current one was issued. Reload re-reads the config file of the node that answers; each
 * node of a cluster is reloaded on its own (SIGHUP, or this route on its address).
 */
import type { FastifyRequest } from 'fastify';
import { roomsOf, type BotRecord, type RoomRecord } from '../../../core/rooms.ts';
import { createError } from '../../../errors.ts';
import { requireSignedApp } from '../auth.ts';
import { appIdParam } from '../schemas.ts';
import type { AppRoutePlugin } from './route-plugin.ts';


const idParam = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,100}$' } as const;
const appParams = { type: 'object', required: ['app_id'], properties: { app_id: appIdParam } } as const;
const spaceParams = { type: 'object', required: ['app_id', 'space_id'], properties: { app_id: appIdParam, space_id: idParam } } as const;

const isoOrNull = (time: number | undefined): string | null => (time === undefined ? null : new Date(time).toISOString());
const roomView = (room: RoomRecord) => ({ id: room.id, channel: room.channel, code_issued_at: isoOrNull(room.issuedAt) });
const botView = (bot: BotRecord) => ({ id: bot.id, displayName: bot.displayName, token_issued_at: isoOrNull(bot.issuedAt) });

export const operatorRoutes: AppRoutePlugin = async (app, { core, reload }) => {
  const rooms = roomsOf(core);
  const spaceOf = (request: FastifyRequest): string => {
    const { space_id: spaceId } = request.params as { space_id: string };
    return rooms.requireSpace(requireSignedApp(request).id, spaceId).id;
  };

  app.get('/apps/:app_id/spaces', { schema: { params: appParams } }, async (request) => {
    const appId = requireSignedApp(request).id;
    const spaces = [];
    for (const spaceId of rooms.spaceIds().sort()) {
      if (rooms.spaceConfig(spaceId)?.app !== appId) continue;
      const state = await rooms.spaceState(spaceId);
      spaces.push({
        id: spaceId,
        running: state.running,
        epoch: state.epoch,
        rooms: (await rooms.listRooms(spaceId)).map(roomView),
        bots: (await rooms.listBots(spaceId)).map(botView),
      });
    }
    return { spaces };
  });

  app.get('/apps/:app_id/spaces/:space_id/rooms', { schema: { params: spaceParams } }, async (request) => {
    const spaceId = spaceOf(request);
    return { space: spaceId, rooms: (await rooms.listRooms(spaceId)).map(roomView) };
  });

  app.get('/apps/:app_id/spaces/:space_id/bots', { schema: { params: spaceParams } }, async (request) => {
    const spaceId = spaceOf(request);
    return { space: spaceId, bots: (await rooms.listBots(spaceId)).map(botView) };
  });

  app.post(
    '/apps/:app_id/server/reload',
    {
      schema: { params: appParams, body: { type: 'object' } },
      preValidation: async (request: FastifyRequest) => {
        if (request.body === undefined) request.body = {};
      },
    },
    async (request) => {
      requireSignedApp(request);
      if (reload === undefined) throw createError('RC_ERR_CONFIG_RELOAD_FAILED', 'this node cannot reload its config');
      return reload();
    },
  );
};
