/**
 * Logging in and out:
 *
 *   POST {path}/api/login    { name, password } → 200 { user, role, csrf } + the session cookie
 *                            401 RC_ERR_CONSOLE_LOGIN_FAILED · 429 RC_ERR_CONSOLE_LOGIN_RATE_LIMITED (Retry-After)
 *   GET  {path}/api/session  → { user, role, csrf } · 401 without a session
 *   POST {path}/api/logout   → 204, the session ends on every node and the cookie is cleared
 *
 * The password field takes a user's password or, for a token user, the token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createError, isRoomcastError } from '../../../errors.ts';
import { assertSameOrigin, cameOverTls, readCookie, SESSION_COOKIE, sessionCookie } from '../guard.ts';
import { MAX_SESSION_AGE_MS } from '../sessions.ts';
import type { ConsoleContext } from './context.ts';

const loginBody = {
  type: 'object',
  required: ['name', 'password'],
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: 512 } },
} as const;

/** Login and session routes that run before the guard (login has no session yet). */
export async function loginRoutes(scope: FastifyInstance, context: ConsoleContext): Promise<void> {
  const { credentials, sessions, limiter, audit, path } = context;
  // The cookie lives as long as a session may; the server ends an idle one (sessions.ts), so a busy
  // operator is not logged out at login + the idle time by the browser dropping the cookie.
  const maxAgeSec = MAX_SESSION_AGE_MS / 1000;

  scope.post('/api/login', { schema: { body: loginBody } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const { name, password } = request.body as { name: string; password: string };
    try {
      assertSameOrigin(request);
      const wait = limiter.attempt(request.ip, name);
      if (wait > 0) {
        void reply.header('Retry-After', String(wait));
        throw createError('RC_ERR_CONSOLE_LOGIN_RATE_LIMITED', wait);
      }
      const user = await credentials.verify(name, password);
      if (user === null) throw createError('RC_ERR_CONSOLE_LOGIN_FAILED');
      const { id, session } = await sessions.create(user.name, user.role);
      audit.write(request, { user: user.name, role: user.role, action: 'login', outcome: 'ok' });
      void reply.header('Set-Cookie', sessionCookie(id, path, cameOverTls(request), maxAgeSec));
      void reply.header('Cache-Control', 'no-store');
      return { user: session.user, role: session.role, csrf: session.csrf };
    } catch (error) {
      audit.write(request, { user: name, action: 'login', outcome: 'refused', reason: isRoomcastError(error) ? error.code : 'RC_ERR_INTERNAL' });
      throw error;
    }
  });
}

/** Session routes behind the guard. */
export async function sessionRoutes(scope: FastifyInstance, context: ConsoleContext): Promise<void> {
  const { sessions, audit, path } = context;

  scope.get('/api/session', async (request, reply) => {
    const session = request.consoleSession!;
    void reply.header('Cache-Control', 'no-store');
    return { user: session.user, role: session.role, csrf: session.csrf };
  });

  scope.post('/api/logout', async (request, reply) => {
    const session = request.consoleSession!;
    const id = request.consoleSessionId ?? readCookie(request.headers.cookie, SESSION_COOKIE);
    if (id !== null) await sessions.end(id);
    audit.write(request, { user: session.user, role: session.role, action: 'logout', outcome: 'ok' });
    void reply.header('Set-Cookie', sessionCookie(null, path, cameOverTls(request), 0));
    return reply.code(204).send();
  });
}
