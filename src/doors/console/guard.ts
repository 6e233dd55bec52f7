/**
 * What every console API call passes before its handler:
 * - a live session (the HttpOnly cookie names it) → else 401 RC_ERR_CONSOLE_UNAUTHENTICATED;
 * - on any method but GET/HEAD: the session's CSRF token in `X-CSRF-Token`, a JSON body
 *   type, and no cross-site origin (`Sec-Fetch-Site`, `Origin`) → else 403 RC_ERR_CONSOLE_CSRF;
 * - for routes marked with an action (`config: { consoleAction: 'publish' }`): the admin
 *   role → else 403 RC_ERR_CONSOLE_FORBIDDEN, written to the audit log as refused.
 *
 * The cookie is `SameSite=Strict` and `Secure` whenever the request came over TLS (directly,
 * or through a trusted proxy's `X-Forwarded-Proto`), scoped to the console's path.
 */
import type { FastifyRequest } from 'fastify';
import { createError } from '../../errors.ts';
import type { AuditLog } from './audit.ts';
import { csrfMatches, type ConsoleSession, type ConsoleSessions } from './sessions.ts';

export const SESSION_COOKIE = 'rc_console';

declare module 'fastify' {
  interface FastifyRequest {
    /** The console session, set by the console's guard on its API routes. */
    consoleSession: ConsoleSession | null;
    /** The console session's id (the cookie value), set with it. */
    consoleSessionId: string | null;
  }
  interface FastifyContextConfig {
    /** Marks a console route as an action only the admin role may take (its audit name). */
    consoleAction?: string;
  }
}

/** The value of one cookie in a `Cookie` header, or null. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return null;
}

/** `Set-Cookie` for a session id (or, with `null`, one that clears it). */
export function sessionCookie(id: string | null, path: string, secure: boolean, maxAgeSec: number): string {
  const value = id ?? '';
  const age = id === null ? 0 : maxAgeSec;
  return `${SESSION_COOKIE}=${value}; Path=${path}; Max-Age=${age}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** True when the request reached roomcast over TLS. */
export function cameOverTls(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

/** Refuses a request a browser marks as sent from another site (checked for every unsafe method, login included). */
export function assertSameOrigin(request: FastifyRequest): void {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw createError('RC_ERR_CONSOLE_CSRF', `Sec-Fetch-Site is ${site}`);
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      throw createError('RC_ERR_CONSOLE_CSRF', 'the Origin header does not parse');
    }
    if (host !== request.host) throw createError('RC_ERR_CONSOLE_CSRF', 'the Origin is another site');
  }
  const type = request.headers['content-type'];
  if (type === undefined || !/^application\/json\b/i.test(type)) throw createError('RC_ERR_CONSOLE_CSRF', 'the body must be application/json');
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** The API scope's onRequest check; see the file comment. */
export function createGuard(sessions: ConsoleSessions, audit: AuditLog) {
  return async function guard(request: FastifyRequest): Promise<void> {
    const id = readCookie(request.headers.cookie, SESSION_COOKIE);
    const session = id === null ? null : await sessions.find(id);
    if (session === null) throw createError('RC_ERR_CONSOLE_UNAUTHENTICATED');
    request.consoleSession = session;
    request.consoleSessionId = id;
    if (!SAFE_METHODS.has(request.method)) {
      assertSameOrigin(request);
      if (!csrfMatches(session, request.headers['x-csrf-token'])) throw createError('RC_ERR_CONSOLE_CSRF', 'X-CSRF-Token is missing or wrong');
    }
    const action = request.routeOptions.config.consoleAction;
    if (action !== undefined && session.role !== 'admin') {
      audit.write(request, { user: session.user, role: session.role, action, outcome: 'refused', reason: 'RC_ERR_CONSOLE_FORBIDDEN' });
      throw createError('RC_ERR_CONSOLE_FORBIDDEN', session.role, action);
    }
  };
}
