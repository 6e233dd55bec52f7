/**
 * redis: turns ioredis and Redis failures into catalogue errors, keeping the original
 * as `cause`. Callers see only:
 * - `RC_ERR_BACKEND_TIMEOUT`: a command got no answer within `commandTimeoutMs`;
 * - `RC_ERR_BACKEND_UNAVAILABLE`: not connected (the offline queue is off, so commands
 *   fail at once while ioredis reconnects), the connection dropped with the command in
 *   flight, or Redis refused it for a passing reason (loading, read-only, out of memory);
 * - `RC_ERR_INTERNAL`: any other Redis reply error (a bug: wrong type, script error).
 *
 * Messages never contain the Redis URL (it may hold a password).
 */
import { createErrorWith, isRoomcastError, type RoomcastError } from '../../errors.ts';

/** Reply-error prefixes that mean "Redis cannot serve this now" rather than "the command is wrong". */
const TRANSIENT_REPLIES = new Set(['LOADING', 'BUSY', 'MASTERDOWN', 'READONLY', 'OOM', 'TRYAGAIN', 'CLUSTERDOWN', 'MISCONF', 'NOREPLICAS']);

const TIMED_OUT = 'Command timed out';

export function toBackendError(error: unknown, commandTimeoutMs: number): RoomcastError {
  if (isRoomcastError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (message === TIMED_OUT) return createErrorWith('RC_ERR_BACKEND_TIMEOUT', { cause: error }, 'redis', commandTimeoutMs);
  if (error instanceof Error && error.name === 'ReplyError') {
    const prefix = message.split(' ', 1)[0] ?? '';
    if (TRANSIENT_REPLIES.has(prefix)) {
      return createErrorWith('RC_ERR_BACKEND_UNAVAILABLE', { cause: error }, 'redis', `Redis refused the command (${prefix})`);
    }
    return createErrorWith('RC_ERR_INTERNAL', { cause: error });
  }
  return createErrorWith('RC_ERR_BACKEND_UNAVAILABLE', { cause: error }, 'redis', describeConnectionFault(error, message));
}

function describeConnectionFault(error: unknown, message: string): string {
  const name = error instanceof Error ? error.name : '';
  if (name === 'MaxRetriesPerRequestError' || name === 'AbortError') return 'the connection dropped while the command was in flight';
  if (message.startsWith("Stream isn't writeable")) return 'not connected (reconnecting)';
  if (message.startsWith('Connection is closed')) return 'the connection is closed';
  return 'the connection failed';
}

/** Runs a Redis operation, rejecting only with catalogue errors. */
export async function guard<T>(commandTimeoutMs: number, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw toBackendError(error, commandTimeoutMs);
  }
}

/** Replaces the password of a Redis URL, so the URL can be logged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable Redis URL)';
  }
}
