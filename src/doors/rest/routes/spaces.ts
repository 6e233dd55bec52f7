/**
 * Operator routes of the bot API (signed like every `/apps/:app_id/…` route):
 *
 *   GET  /apps/:app_id/spaces/:space_id                          → { id, running, epoch }
 *   POST /apps/:app_id/spaces/:space_id/start                    → { id, running: true, epoch }
 *   POST /apps/:app_id/spaces/:space_id/stop                     → { id, running: false, epoch }   (ends every session: 403; logins 503)
 *   POST /apps/:app_id/spaces/:space_id/rooms                    { id, code?, channel? } → 201 { room, code }   (channel: presence-…, else 400)
 *   POST /apps/:app_id/spaces/:space_id/rooms/:room_id/rotate_code        → { room, code }   (the old code → 401)
 *   POST /apps/:app_id/spaces/:space_id/bots                     { id, token?, displayName? } → 201 { bot, token }
 *   POST /apps/:app_id/spaces/:space_id/bots/:bot_id/rotate_token         → { bot, token }   (the old token → 401)
 *
 * Codes and tokens are returned once (generated when not given) and stored only as
 * digests. State lives in the backend through the core's room directory, so it holds on
 * every node.
 */
import type { FastifyRequest } from 'fastify';
import { assertChannelName } from '../../../core/channels.ts';
import { roomsOf, type BotRecord, type RoomRecord } from '../../../core/rooms.ts';
import { requireSignedApp } from '../auth.ts';
import { appIdParam } from '../schemas.ts';
import type { AppRoutePlugin } from './route-plugin.ts';

const idParam = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,100}$' } as const;
const secretField = { type: 'string', minLength: 8, maxLength: 512 } as const;

const spaceParams = { type: 'object', required: ['app_id', 'space_id'], properties: { app_id: appIdParam, space_id: idParam } } as const;
const roomParams = { ...spaceParams, required: ['app_id', 'space_id', 'room_id'], properties: { ...spaceParams.properties, room_id: idParam } } as const;
const botParams = { ...spaceParams, required: ['app_id', 'space_id', 'bot_id'], properties: { ...spaceParams.properties, bot_id: idParam } } as const;
/** SDKs send `{}` (or nothing) with a bodiless POST. */
const emptyBody = { type: 'object' } as const;

const addRoomBody = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: idParam, code: secretField, channel: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;
const addBotBody = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: idParam, token: secretField, displayName: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

const noBodyIsEmpty = async (request: FastifyRequest): Promise<void> => {
  if (request.body === undefined) request.body = {};
};

const roomView = (room: RoomRecord) => ({ id: room.id, space: room.space, channel: room.channel });
const botView = (bot: BotRecord) => ({ id: bot.id, space: bot.space, displayName: bot.displayName });

export const spaceRoutes: AppRoutePlugin = async (app, { core }) => {
  const rooms = roomsOf(core);
  /** The signed app's space; 404 when it is unknown or belongs to another app. */
  const spaceOf = (request: FastifyRequest): string => {
    const { space_id: spaceId } = request.params as { space_id: string };
    return rooms.requireSpace(requireSignedApp(request).id, spaceId).id;
  };
  const post = { preValidation: noBodyIsEmpty };

  app.get('/apps/:app_id/spaces/:space_id', { schema: { params: spaceParams } }, async (request) => {
    const spaceId = spaceOf(request);
    const state = await rooms.spaceState(spaceId);
    return { id: spaceId, running: state.running, epoch: state.epoch };
  });

  for (const running of [true, false]) {
    app.post(`/apps/:app_id/spaces/:space_id/${running ? 'start' : 'stop'}`, { ...post, schema: { params: spaceParams, body: emptyBody } }, async (request) => {
      const spaceId = spaceOf(request);
      const state = await rooms.setRunning(spaceId, running);
      return { id: spaceId, running: state.running, epoch: state.epoch };
    });
  }

  app.post('/apps/:app_id/spaces/:space_id/rooms', { schema: { params: spaceParams, body: addRoomBody } }, async (request, reply) => {
    const spaceId = spaceOf(request);
    const body = request.body as { id: string; code?: string; channel?: string };
    if (body.channel !== undefined) assertChannelName(body.channel, requireSignedApp(request).limits.maxChannelNameLength);
    const { room, code } = await rooms.addRoom(spaceId, body.id, { code: body.code, channel: body.channel });
    return reply.code(201).send({ room: roomView(room), code });
  });

  app.post('/apps/:app_id/spaces/:space_id/rooms/:room_id/rotate_code', { ...post, schema: { params: roomParams, body: emptyBody } }, async (request) => {
    const spaceId = spaceOf(request);
    const { room_id: roomId } = request.params as { room_id: string };
    const { room, code } = await rooms.rotateRoomCode(spaceId, roomId);
    return { room: roomView(room), code };
  });

  app.post('/apps/:app_id/spaces/:space_id/bots', { schema: { params: spaceParams, body: addBotBody } }, async (request, reply) => {
    const spaceId = spaceOf(request);
    const body = request.body as { id: string; token?: string; displayName?: string };
    const { bot, token } = await rooms.addBot(spaceId, body.id, { token: body.token, displayName: body.displayName });
    return reply.code(201).send({ bot: botView(bot), token });
  });

  app.post('/apps/:app_id/spaces/:space_id/bots/:bot_id/rotate_token', { ...post, schema: { params: botParams, body: emptyBody } }, async (request) => {
    const spaceId = spaceOf(request);
    const { bot_id: botId } = request.params as { bot_id: string };
    const { bot, token } = await rooms.rotateBotToken(spaceId, botId);
    return { bot: botView(bot), token };
  });
};
