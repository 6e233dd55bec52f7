/**
 * Pusher protocol 7 error and close codes, and the one place where catalogue errors
 * become them. Source: Pusher Channels Protocol, "Error codes"; the reconnect rule per
 * range is what pusher-js implements (`Protocol.getCloseAction`).
 *
 * The code travels twice: in a `pusher:error` frame ({ code, message, rc_code }) and,
 * when the connection ends, as the WebSocket close code, so a client that misses the
 * frame still knows whether to reconnect.
 */
import type { ErrorCode, RoomcastError } from '../../errors.ts';

export const PusherCode = {
  // 4000–4099: the connection is refused; reconnecting with the same parameters will fail
  // again, so clients MUST NOT reconnect automatically (pusher-js: 'refused').
  /** No app has the key in the URL. */
  UNKNOWN_APP: 4001,
  /** The app exists but is disabled. */
  APP_DISABLED: 4003,
  /** The app is over its connection quota (counted across the cluster). */
  OVER_QUOTA: 4004,
  /** The `protocol` query parameter names a version this server does not speak. */
  UNSUPPORTED_PROTOCOL: 4007,
  /** The `protocol` query parameter is missing. */
  NO_PROTOCOL: 4008,
  /** Not authorised: a bad channel/sign-in signature, the app terminated the user, or no sign-in in time (authorized connections). */
  UNAUTHORIZED: 4009,

  // 4100–4199: refused for now; clients SHOULD reconnect after a back-off (pusher-js: 'backoff').
  /** The app's connection quota cannot be checked now (the backend is unreachable). */
  OVER_CAPACITY: 4100,

  // 4200–4299: closed, but the client SHOULD reconnect at once (pusher-js: 'retry'), to this
  // node or, behind a balancer, another.
  /** Generic reconnect: server shutting down, or the client fell too far behind (slow consumer). */
  RECONNECT: 4200,
  /** The client answered neither traffic nor a `pusher:ping` within the pong timeout. */
  PONG_TIMEOUT: 4201,

  // 4300–4399: errors that do not close the connection (pusher-js surfaces them as 'error').
  /** roomcast: a frame or request the server cannot act on (bad JSON, missing field, unknown event, …). */
  BAD_REQUEST: 4300,
  /** A client event was rejected by the per-connection rate limit, or while delivery is behind (backpressure). */
  CLIENT_EVENT_RATE_LIMIT: 4301,
  /** roomcast: a client event was refused (public or encrypted channel, not subscribed, disabled). */
  CLIENT_EVENT_REFUSED: 4302,
  /** Pusher: the sign-in's watchlist is longer than the limit; the first ids are watched (the same number as 4302 above, as Pusher uses it). */
  WATCHLIST_LIMIT: 4302,
  /** roomcast: a presence channel is full. */
  PRESENCE_FULL: 4304,
} as const;

export type PusherCodeValue = (typeof PusherCode)[keyof typeof PusherCode];

/** WebSocket close code for an incoming frame larger than `websocket.maxFrameBytes` (RFC 6455). */
export const CLOSE_MESSAGE_TOO_BIG = 1009;
/** RFC 6455: the connection ended without a close frame (a client gone before it was answered). */
export const CLOSE_ABNORMAL = 1006;
/** RFC 6455: a text frame that is not UTF-8. */
const CLOSE_INVALID_PAYLOAD = 1007;
/** RFC 6455: a frame that breaks the framing rules. */
const CLOSE_PROTOCOL_ERROR = 1002;
/** RFC 6455: a message against the endpoint's policy (ws: a message in too many fragments). */
const CLOSE_POLICY_VIOLATION = 1008;

/**
 * The close code ws sends when its receiver refuses an incoming frame (its errors' `code`s
 * `WS_ERR_…`: too long → 1009, not UTF-8 → 1007, in too many fragments → 1008, any other framing fault → 1002), or null
 * for an error that is not such a refusal (a socket error).
 */
export function receiverCloseCodeOf(error: unknown): number | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('WS_ERR_')) return null;
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH') return CLOSE_MESSAGE_TOO_BIG;
  if (code === 'WS_ERR_INVALID_UTF8') return CLOSE_INVALID_PAYLOAD;
  if (code === 'WS_ERR_TOO_MANY_BUFFERED_PARTS') return CLOSE_POLICY_VIOLATION;
  return CLOSE_PROTOCOL_ERROR;
}

const BY_CODE: Partial<Record<ErrorCode, PusherCodeValue>> = {
  RC_ERR_WS_UNKNOWN_APP_KEY: PusherCode.UNKNOWN_APP,
  RC_ERR_APP_DISABLED: PusherCode.APP_DISABLED,
  RC_ERR_WS_PROTOCOL_UNSUPPORTED: PusherCode.UNSUPPORTED_PROTOCOL,
  RC_ERR_WS_PROTOCOL_MISSING: PusherCode.NO_PROTOCOL,
  RC_ERR_WS_UNAUTHORIZED: PusherCode.UNAUTHORIZED,
  RC_ERR_WS_SIGNIN_FAILED: PusherCode.UNAUTHORIZED,
  RC_ERR_WS_USER_TERMINATED: PusherCode.UNAUTHORIZED,
  RC_ERR_WS_SIGNIN_TIMEOUT: PusherCode.UNAUTHORIZED,
  RC_ERR_WS_WATCHLIST_TOO_LONG: PusherCode.WATCHLIST_LIMIT,
  RC_ERR_WS_OVER_CAPACITY: PusherCode.OVER_CAPACITY,
  RC_ERR_WS_OVER_QUOTA: PusherCode.OVER_QUOTA,
  RC_ERR_WS_SLOW_CONSUMER: PusherCode.RECONNECT,
  RC_ERR_WS_SHUTTING_DOWN: PusherCode.RECONNECT,
  RC_ERR_WS_PONG_TIMEOUT: PusherCode.PONG_TIMEOUT,
  RC_ERR_WS_CLIENT_EVENT_RATE_LIMITED: PusherCode.CLIENT_EVENT_RATE_LIMIT,
  RC_ERR_WS_CLIENT_EVENT_BACKPRESSURE: PusherCode.CLIENT_EVENT_RATE_LIMIT,
  RC_ERR_WS_CLIENT_EVENT_REFUSED: PusherCode.CLIENT_EVENT_REFUSED,
  RC_ERR_WS_PRESENCE_FULL: PusherCode.PRESENCE_FULL,
};

/**
 * The Pusher code for a catalogue error. Codes without their own entry follow their
 * HTTP status: 5xx (backend down) → 4200 "retry", anything else → 4300 "bad request";
 * neither closes the connection unless the caller decides to.
 */
export function pusherCodeOf(error: RoomcastError): PusherCodeValue {
  const direct = BY_CODE[error.code];
  if (direct !== undefined) return direct;
  return error.status >= 500 ? PusherCode.RECONNECT : PusherCode.BAD_REQUEST;
}

/** The `data` of a `pusher:error` frame for `error`: Pusher's { code, message } plus our stable code. */
export function errorPayload(error: RoomcastError): { code: number; message: string; rc_code: string } {
  return { code: pusherCodeOf(error), message: error.message, rc_code: error.code };
}

/** RFC 6455 §5.5: a close frame's reason is at most 123 bytes of UTF-8. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * A close reason that fits the close frame. Messages echo client text (an app key, a user
 * id) that may be multi-byte; `ws.close` throws past 123 bytes, and thrown inside an
 * upgrade or bus callback that took the whole process down.
 */
export function closeReason(message: string): string {
  if (Buffer.byteLength(message) <= MAX_CLOSE_REASON_BYTES) return message;
  let cut = message.slice(0, MAX_CLOSE_REASON_BYTES);
  // Room for the ellipsis (3 bytes); never end on half of a surrogate pair.
  while (cut.length > 0 && (Buffer.byteLength(cut) > MAX_CLOSE_REASON_BYTES - 3 || /[\uD800-\uDBFF]$/.test(cut))) cut = cut.slice(0, -1);
  return `${cut}…`;
}
