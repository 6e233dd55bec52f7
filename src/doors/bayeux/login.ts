/**
 * POST /api/v1/login — a bot logs into a room with `{"room": "<room code>", "token": "<API token>"}`.
 *
 *   not POST (OPTIONS included)       → 405, `Allow: POST` (the common not-found handler, doors/http-errors.ts)
 *   body not JSON / room, token bad   → 400
 *   room code unknown or expired      → 401, message says "room code"
 *   token unknown or expired          → 401, message says "API token"
 *   space not running                 → 503
 *   server busy (load shedding)       → 503, `Retry-After` 5–120 s (see load-shedding.ts)
 *   success                           → 200, JSON body, `Set-Cookie: API-Cookie=…; Version=1` and `API-Route=…; Version=1`
 *
 * Every error is the common JSON error body (doors/http-errors.ts) with a `message`.
 */
import type { FastifyInstance } from 'fastify';
import { botSessionsOf } from '../../core/bot-sessions.ts';
import type { Core } from '../../core/core.ts';
import { createError } from '../../errors.ts';
import { jsonProblem } from '../json-depth.ts';
import { roomsOf } from '../../core/rooms.ts';
import type { DoorCookieSeal } from './cookie-secret.ts';
import type { LoadShedder } from './load-shedding.ts';
import { STREAM_CHANNEL } from './stream.ts';

export const LOGIN_PATH = '/api/v1/login';
export const BAYEUX_PATH = '/api/v1/bayeux';
/** Longest room code or token accepted, in characters. */
const MAX_CREDENTIAL_LENGTH = 512;
/** A login body is two short strings: anything larger is refused (413) as it arrives. */
export const MAX_LOGIN_BODY_BYTES = 4096;

export interface LoginRouteOptions {
  readonly core: Core;
  readonly seal: DoorCookieSeal;
  readonly shedder: LoadShedder;
}

export async function loginRoutes(app: FastifyInstance, options: LoginRouteOptions): Promise<void> {
  const { core, seal, shedder } = options;
  const rooms = roomsOf(core);
  const sessions = botSessionsOf(core);

  // The FAQ says "POST body must be JSON": parse any content type as JSON, so a wrong or
  // missing Content-Type is a 400 with a clear message rather than a 415.
  app.removeAllContentTypeParsers();
  // The route's body limit (MAX_LOGIN_BODY_BYTES) bounds the read, and its 413 names it.
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    const problem = jsonProblem(body as string);
    if (problem !== null) {
      done(problem, undefined);
      return;
    }
    try {
      done(null, JSON.parse(body as string) as unknown);
    } catch {
      done(createError('RC_ERR_BOT_LOGIN_BAD_BODY', 'the body is not JSON'), undefined);
    }
  });

  app.post(LOGIN_PATH, { bodyLimit: MAX_LOGIN_BODY_BYTES }, async (request, reply) => {
    const { room, token } = credentialsOf(request.body);
    shedder.admit();
    const login = await rooms.login(room, token);
    const session = await sessions.create(login);
    shedder.noteSession(session.id, sessions.graceMs);
    void reply.header('Set-Cookie', seal.issue(session.id, core.nodeId));
    void reply.header('Cache-Control', 'no-store');
    return {
      bot: { id: login.bot.id, displayName: login.bot.displayName },
      room: { id: login.room.id, channel: login.room.channel, stream: STREAM_CHANNEL },
      space: { id: login.space.id, running: true },
      session: {
        bayeux: BAYEUX_PATH,
        graceMs: sessions.graceMs,
        connectTimeoutMs: core.config.bots.connectTimeoutMs,
        expires: `after ${sessions.graceMs} ms without an outstanding or recent /meta/connect`,
      },
    };
  });
}

function credentialsOf(body: unknown): { room: string; token: string } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw createError('RC_ERR_BOT_LOGIN_BAD_BODY', 'expected {"room": "<room code>", "token": "<API token>"}');
  }
  const { room, token } = body as { room?: unknown; token?: unknown };
  for (const [field, value] of [['room', room], ['token', token]] as const) {
    if (typeof value !== 'string' || value.length === 0) throw createError('RC_ERR_BOT_LOGIN_BAD_BODY', `${field} is missing or not a string`);
    if (value.length > MAX_CREDENTIAL_LENGTH) throw createError('RC_ERR_BOT_LOGIN_BAD_BODY', `${field} is longer than ${MAX_CREDENTIAL_LENGTH} characters`);
  }
  return { room: room as string, token: token as string };
}
