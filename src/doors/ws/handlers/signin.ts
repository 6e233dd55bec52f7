/**
 * `pusher:signin` { auth, user_data }. Protocol 7 user authentication:
 * - `auth` = "<key>:<hmac(socket_id::user::user_data)>", made by the app's server;
 * - `user_data` is a JSON string with a non-empty string `id` (and optional
 *   `user_info`, and `watchlist`: user ids whose online status the connection is told
 *   with `pusher_internal:watchlist_events` when the app has `watchlistEvents`; past
 *   `limits.maxWatchlistUsers` the first ids are kept and `pusher:error` 4302 says so);
 * - success: `pusher:signin_success` { user_data }; the connection then receives
 *   server-to-user events on `#server-to-user-{id}` and is closed (4009) when the app
 *   terminates the user's connections, from any node (core signals).
 * - failure: `pusher:error` 4009; the connection stays open and unsigned.
 */
import { createError } from '../../../errors.ts';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../../json-depth.ts';
import { userAuthString, verifyAuth } from '../auth.ts';
import type { Connection } from '../connection.ts';
import { signinSuccess } from '../frames.ts';

const MAX_USER_ID_LENGTH = 128;
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

export function handleSignin(connection: Connection, request: { readonly auth: string; readonly userData: string }): void {
  const { auth, userData } = request;
  if (!verifyAuth(connection.app, userAuthString(connection.socketId, userData), auth)) {
    connection.sendError(createError('RC_ERR_WS_SIGNIN_FAILED', 'auth is not the HMAC-SHA256 of "<socket_id>::user::<user_data>" with the app secret'));
    return;
  }
  if (jsonTooDeep(userData)) {
    connection.sendError(createError('RC_ERR_WS_SIGNIN_FAILED', `user_data nests deeper than ${MAX_JSON_DEPTH} levels`));
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(userData);
  } catch {
    connection.sendError(createError('RC_ERR_WS_SIGNIN_FAILED', 'user_data is not JSON'));
    return;
  }
  const { id, user_info: userInfo, watchlist } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as {
    id?: unknown;
    user_info?: unknown;
    watchlist?: unknown;
  };
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_USER_ID_LENGTH || CONTROL_CHARACTERS.test(id)) {
    connection.sendError(createError('RC_ERR_WS_SIGNIN_FAILED', `user_data needs "id": a string of 1–${MAX_USER_ID_LENGTH} printable characters`));
    return;
  }
  const watched = watchlistOf(watchlist);
  if (watched === null) {
    connection.sendError(createError('RC_ERR_WS_SIGNIN_FAILED', `user_data "watchlist" must be an array of user ids (strings of 1–${MAX_USER_ID_LENGTH} printable characters)`));
    return;
  }
  const limit = connection.app.limits.maxWatchlistUsers;
  connection.signIn(id, userInfo ?? null, watched.slice(0, limit));
  connection.sendText(signinSuccess(userData));
  // Pusher: past the limit the sign-in succeeds with the first ids, and a 4302 error says so.
  if (watched.length > limit && connection.app.watchlistEvents) connection.sendError(createError('RC_ERR_WS_WATCHLIST_TOO_LONG', watched.length, limit));
}

/** The watchlist's distinct user ids in order (numbers are ids too, as in `user_id`); null when it is not a list of ids. */
function watchlistOf(value: unknown): string[] | null {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return null;
  const ids = new Set<string>();
  for (const item of value) {
    const id = typeof item === 'number' && Number.isFinite(item) ? String(item) : item;
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_USER_ID_LENGTH || CONTROL_CHARACTERS.test(id)) return null;
    ids.add(id);
  }
  return [...ids];
}
