/**
 * Rooms and spaces:
 *
 *   GET  …/api/spaces                                → [SpaceView] (spaces.ts)
 *   GET  …/api/spaces/stream                         SSE `spaces`, at most every two seconds, when changed
 *   POST …/api/spaces/:space/start | stop            (admin) → { running, epoch }
 *   POST …/api/spaces/:space/rooms/:room/code        { action: issue | expire } (admin) → { code } (issue: shown once) | {}
 *   POST …/api/spaces/:space/bots/:bot/token         { action: issue | expire } (admin) → { token } | {}
 *
 * Expiring a bot token makes its next login fail with 401 on every node.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isRoomcastError } from '../../../errors.ts';
import type { ConsoleContext } from './context.ts';
import { openStream } from './streams.ts';

const FEED_MS = 2000;
const id = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,100}$' } as const;
const spaceParams = { type: 'object', required: ['space'], properties: { space: id } } as const;
const roomParams = { type: 'object', required: ['space', 'room'], properties: { space: id, room: id } } as const;
const botParams = { type: 'object', required: ['space', 'bot'], properties: { space: id, bot: id } } as const;
const actionBody = { type: 'object', required: ['action'], additionalProperties: false, properties: { action: { enum: ['issue', 'expire'] } } } as const;
const emptyBody = { type: 'object', additionalProperties: false, properties: {} } as const;

export async function spaceRoutes(scope: FastifyInstance, context: ConsoleContext): Promise<void> {
  const { spaces, feeds, audit } = context;

  /** Runs an admin action, writing its audit line whatever the outcome. */
  const act = async <T>(request: FastifyRequest, action: string, target: string, work: () => Promise<T>): Promise<T> => {
    const session = request.consoleSession!;
    try {
      const result = await work();
      audit.write(request, { user: session.user, role: session.role, action, target, outcome: 'ok' });
      return result;
    } catch (error) {
      audit.write(request, { user: session.user, role: session.role, action, target, outcome: 'failed', reason: isRoomcastError(error) ? error.code : 'RC_ERR_INTERNAL' });
      throw error;
    }
  };

  scope.get('/api/spaces', async () => spaces.list());

  scope.get('/api/spaces/stream', async (request, reply) => {
    const stream = openStream(context, request, reply);
    stream.onClose(feeds.subscribe('spaces', FEED_MS, () => spaces.list(), (json) => stream.sendText('spaces', json)));
  });

  for (const running of [true, false]) {
    const verb = running ? 'start' : 'stop';
    scope.post(`/api/spaces/:space/${verb}`, { schema: { params: spaceParams, body: emptyBody }, config: { consoleAction: `space.${verb}` } }, async (request) => {
      const { space } = request.params as { space: string };
      return act(request, `space.${verb}`, space, () => spaces.setRunning(space, running));
    });
  }

  scope.post('/api/spaces/:space/rooms/:room/code', { schema: { params: roomParams, body: actionBody }, config: { consoleAction: 'room.code' } }, async (request) => {
    const { space, room } = request.params as { space: string; room: string };
    const { action } = request.body as { action: 'issue' | 'expire' };
    const code = await act(request, `room.code.${action}`, `${space}/${room}`, () => spaces.roomCode(space, room, action));
    return code === null ? {} : { code };
  });

  scope.post('/api/spaces/:space/bots/:bot/token', { schema: { params: botParams, body: actionBody }, config: { consoleAction: 'bot.token' } }, async (request) => {
    const { space, bot } = request.params as { space: string; bot: string };
    const { action } = request.body as { action: 'issue' | 'expire' };
    const token = await act(request, `bot.token.${action}`, `${space}/${bot}`, () => spaces.botToken(space, bot, action));
    return token === null ? {} : { token };
  });
}
