/**
 * The error catalogue: every error roomcast reports, with a stable machine-readable
 * code (`RC_ERR_<AREA>_<WHAT>`), the HTTP status a door maps it to, a message
 * template (`%s` placeholders, filled in order) and whether retrying can help.
 *
 * Code throws only these (via `createError`); each door turns them into its own wire
 * format in one file. `docs/errors.md` documents every code (a test checks both ways).
 */

export interface ErrorSpec {
  /** HTTP status the REST and bot doors answer with. */
  readonly status: number;
  /** Short name, shown as `error` in JSON bodies. */
  readonly name: string;
  /** Message template; `%s` is replaced by the arguments in order. */
  readonly message: string;
  /** True when the same request may succeed later (backend down, rate limited, busy). */
  readonly retryable: boolean;
}

function spec(status: number, name: string, message: string, retryable = false): ErrorSpec {
  return { status, name, message, retryable };
}

export const ERRORS = {
  // --- config (start-up only; never on the wire)
  RC_ERR_CONFIG_INVALID: spec(500, 'Invalid Config', 'config %s %s'),
  RC_ERR_CONFIG_UNREADABLE: spec(500, 'Unreadable Config', 'config file %s cannot be read: %s'),
  RC_ERR_CONFIG_UNKNOWN_BACKEND: spec(500, 'Unknown Backend', 'backend.driver "%s" is not one of memory, redis'),
  RC_ERR_CONFIG_RELOAD_FAILED: spec(422, 'Config Reload Failed', 'config reload kept the running config: %s'),
  RC_ERR_TLS_UNUSABLE: spec(500, 'TLS Unusable', 'TLS %s: %s'),

  // --- generic HTTP
  RC_ERR_HTTP_NOT_FOUND: spec(404, 'Not Found', 'no route for %s %s'),
  RC_ERR_HTTP_METHOD_NOT_ALLOWED: spec(405, 'Method Not Allowed', '%s is not allowed here; use %s'),
  RC_ERR_HTTP_BAD_JSON: spec(400, 'Bad Request', 'the request body is not valid JSON: %s'),
  RC_ERR_HTTP_BAD_CONTENT_TYPE: spec(415, 'Unsupported Media Type', 'content type %s is not supported; send application/json'),
  RC_ERR_HTTP_BODY_TOO_LARGE: spec(413, 'Payload Too Large', 'the request body is larger than %s bytes'),
  RC_ERR_HTTP_VALIDATION: spec(400, 'Bad Request', 'invalid request: %s'),
  RC_ERR_HTTP_UNKNOWN_PARAMETER: spec(400, 'Bad Request', 'unknown query parameter(s) %s; this route takes %s'),
  RC_ERR_HTTP_UNKNOWN_FIELD: spec(400, 'Bad Request', 'unknown body field(s) %s; this request takes %s'),
  RC_ERR_INTERNAL: spec(500, 'Internal Server Error', 'an unexpected error occurred; the request id identifies it in the logs', true),

  // --- backend
  RC_ERR_BACKEND_UNAVAILABLE: spec(503, 'Service Unavailable', 'the %s backend is unavailable: %s', true),
  RC_ERR_BACKEND_TIMEOUT: spec(503, 'Service Unavailable', 'the %s backend did not answer within %s ms', true),
  RC_ERR_BACKEND_BUS_DOWN: spec(503, 'Service Unavailable', "this node's bus subscription is down (re-subscribing): it cannot vouch that a publish reaches every subscriber; retry shortly (or on another node)", true),

  // --- REST auth and apps
  RC_ERR_AUTH_MISSING_PARAM: spec(401, 'Unauthorized', 'missing signature parameter %s'),
  RC_ERR_AUTH_UNKNOWN_KEY: spec(401, 'Unauthorized', 'auth_key %s does not belong to app %s'),
  RC_ERR_AUTH_BAD_VERSION: spec(401, 'Unauthorized', 'auth_version %s is not supported; use 1.0'),
  RC_ERR_AUTH_STALE_TIMESTAMP: spec(401, 'Unauthorized', 'auth_timestamp %s is more than %s seconds from the server time %s'),
  RC_ERR_AUTH_BAD_BODY_MD5: spec(401, 'Unauthorized', 'body_md5 does not match the MD5 of the request body'),
  RC_ERR_AUTH_BAD_SIGNATURE: spec(401, 'Unauthorized', 'auth_signature does not match; expected HMAC-SHA256 of "%s"'),
  RC_ERR_APP_NOT_FOUND: spec(404, 'Not Found', 'app %s does not exist'),
  RC_ERR_APP_DISABLED: spec(403, 'Forbidden', 'app %s is disabled'),
  RC_ERR_RATE_LIMITED: spec(429, 'Too Many Requests', 'rate limit of %s requests per %s ms exceeded; retry after %s s', true),
  RC_ERR_PUBLISH_BACKPRESSURE: spec(503, 'Service Unavailable', 'delivery is %s ms behind on the slowest node (the bound is %s ms); publish again after %s s', true),

  // --- events and channels
  RC_ERR_EVENT_INVALID_NAME: spec(400, 'Bad Request', 'event name %s'),
  RC_ERR_EVENT_DATA_TOO_LARGE: spec(413, 'Payload Too Large', 'event data is %s bytes; the limit is %s'),
  RC_ERR_EVENT_TOO_MANY_CHANNELS: spec(400, 'Bad Request', 'an event may target at most %s channels, got %s'),
  RC_ERR_EVENT_NO_CHANNEL: spec(400, 'Bad Request', 'an event needs channel or channels'),
  RC_ERR_EVENT_BAD_DATA: spec(400, 'Bad Request', 'event data must be a string or a JSON value'),
  RC_ERR_BATCH_TOO_LARGE: spec(413, 'Payload Too Large', 'a batch may hold at most %s events, got %s'),
  RC_ERR_BATCH_INVALID_EVENT: spec(400, 'Bad Request', 'batch[%s]: %s'),
  RC_ERR_CHANNEL_INVALID_NAME: spec(400, 'Bad Request', 'channel name %s: %s'),
  RC_ERR_CHANNEL_NOT_PRESENCE: spec(400, 'Bad Request', 'channel %s is not a presence channel'),
  RC_ERR_IDEMPOTENCY_CONFLICT: spec(400, 'Bad Request', 'idempotency key %s was already used for a different request'),
  RC_ERR_USER_INVALID_ID: spec(400, 'Bad Request', 'user id %s is not valid'),

  // --- message model: history, versioned messages, annotations (issue 4)
  RC_ERR_HISTORY_INVALID_QUERY: spec(400, 'Bad Request', 'history query: %s'),
  RC_ERR_HISTORY_BAD_CURSOR: spec(400, 'Bad Request', 'cursor rejected: %s'),
  RC_ERR_HISTORY_CONFIRM_MISMATCH: spec(400, 'Bad Request', 'confirm_channel must equal the channel in the path (%s)'),
  RC_ERR_HISTORY_INVALID_OPERATION: spec(400, 'Bad Request', 'history %s: %s'),
  RC_ERR_HISTORY_EPOCH_MISMATCH: spec(409, 'Conflict', '%s is not a position in the channel\'s current stream: %s; start again from the channel\'s history state'),
  RC_ERR_MESSAGES_UNSUPPORTED: spec(501, 'Not Implemented', 'the %s backend does not support versioned messages'),
  RC_ERR_MESSAGE_INVALID_SERIAL: spec(400, 'Bad Request', 'message serial %s is not a serial'),
  RC_ERR_MESSAGE_NOT_FOUND: spec(404, 'Not Found', 'message %s on channel %s %s'),
  RC_ERR_MESSAGE_EPOCH_MISMATCH: spec(409, 'Conflict', 'serial %s does not name a message of the channel\'s current stream: %s'),
  RC_ERR_MESSAGE_DELETED: spec(409, 'Conflict', 'message %s is deleted; it cannot be %s'),
  RC_ERR_MESSAGE_INVALID_BODY: spec(400, 'Bad Request', 'message change: %s'),
  RC_ERR_MESSAGE_CONTENDED: spec(503, 'Service Unavailable', 'message %s changed %s times while this change was prepared; retry', true),
  RC_ERR_ANNOTATION_INVALID_TYPE: spec(400, 'Bad Request', 'annotation type %s is not <namespace>:<total|flag|distinct|unique|multiple>.v1'),
  RC_ERR_ANNOTATION_INVALID: spec(400, 'Bad Request', 'annotation: %s'),
  RC_ERR_ANNOTATION_LIMIT: spec(409, 'Conflict', 'message %s already has %s annotations, the limit'),
  // --- signed REST door (issue 3)
  RC_ERR_AUTH_DUPLICATE_PARAM: spec(401, 'Unauthorized', 'query parameter %s appears more than once; signed parameters must be unique'),
  RC_ERR_AUTH_BAD_TIMESTAMP: spec(401, 'Unauthorized', 'auth_timestamp %s is not a Unix time in whole seconds'),
  RC_ERR_EVENT_INVALID_SOCKET_ID: spec(400, 'Bad Request', 'socket_id %s is not valid; expected digits.digits such as 1234.5678'),
  RC_ERR_EVENT_CHANNEL_AND_CHANNELS: spec(400, 'Bad Request', 'an event may give channel or channels, not both'),
  RC_ERR_EVENT_INVALID_FIELD: spec(400, 'Bad Request', 'event field %s must be %s; got %s'),
  RC_ERR_BATCH_EVENT_TOO_LARGE: spec(413, 'Payload Too Large', 'batch[%s] is too large: %s'),
  RC_ERR_INFO_UNKNOWN_ATTRIBUTE: spec(400, 'Bad Request', 'info attribute %s is not supported here; use %s'),
  RC_ERR_INFO_USER_COUNT_NOT_PRESENCE: spec(400, 'Bad Request', 'info=user_count is only available for presence channels: %s'),

  // --- WebSocket gateway (Pusher protocol 7): door-side codes; doors/ws/close-codes.ts maps each to its Pusher code
  RC_ERR_WS_UNKNOWN_APP_KEY: spec(404, 'Not Found', 'no app has key %s'),
  RC_ERR_WS_PROTOCOL_MISSING: spec(400, 'Bad Request', 'the protocol query parameter is missing; connect with ?protocol=7'),
  RC_ERR_WS_PROTOCOL_UNSUPPORTED: spec(400, 'Bad Request', 'protocol %s is not supported; use 7 (Pusher) or 2 (7 with the message model)'),
  RC_ERR_WS_OVER_CAPACITY: spec(503, 'Service Unavailable', 'app %s: its connection quota of %s cannot be checked now (the backend is unreachable); reconnect later', true),
  RC_ERR_WS_OVER_QUOTA: spec(403, 'Forbidden', 'app %s is over its connection quota of %s connections across the cluster'),
  RC_ERR_WS_PONG_TIMEOUT: spec(408, 'Request Timeout', 'no activity or pong within %s s after a ping', true),
  RC_ERR_WS_SLOW_CONSUMER: spec(503, 'Service Unavailable', 'the connection fell behind: more than %s bytes waiting to be sent', true),
  RC_ERR_WS_SHUTTING_DOWN: spec(503, 'Service Unavailable', 'the server is shutting down; reconnect', true),
  RC_ERR_WS_BAD_FRAME: spec(400, 'Bad Request', 'invalid frame: %s'),
  RC_ERR_WS_UNKNOWN_EVENT: spec(400, 'Bad Request', 'unknown event %s'),
  RC_ERR_WS_UNAUTHORIZED: spec(401, 'Unauthorized', 'invalid signature for %s: expected HMAC-SHA256 of %s with the app secret'),
  RC_ERR_WS_BAD_CHANNEL_DATA: spec(400, 'Bad Request', 'channel_data for %s %s'),
  RC_ERR_WS_ALREADY_SUBSCRIBED: spec(409, 'Conflict', 'already subscribed to %s'),
  RC_ERR_WS_NOT_SUBSCRIBED: spec(409, 'Conflict', 'not subscribed to %s'),
  RC_ERR_WS_PRESENCE_FULL: spec(403, 'Forbidden', 'presence channel %s already has its limit of %s members'),
  RC_ERR_WS_CLIENT_EVENT_REFUSED: spec(403, 'Forbidden', 'client event %s on %s refused: %s'),
  RC_ERR_WS_CLIENT_EVENT_RATE_LIMITED: spec(429, 'Too Many Requests', 'client event rejected: more than %s client events per second', true),
  RC_ERR_WS_CLIENT_EVENT_BACKPRESSURE: spec(503, 'Service Unavailable', 'client event rejected: delivery is %s ms behind on the slowest node (the bound is %s ms); send again after %s s', true),
  RC_ERR_WS_SIGNIN_FAILED: spec(401, 'Unauthorized', 'sign-in refused: %s'),
  RC_ERR_WS_USER_TERMINATED: spec(403, 'Forbidden', 'the app terminated the connections of user %s'),
  RC_ERR_WS_SIGNIN_TIMEOUT: spec(401, 'Unauthorized', 'the connection did not sign in within %s s; this app requires pusher:signin (authorized connections)'),
  RC_ERR_WS_WATCHLIST_TOO_LONG: spec(400, 'Bad Request', 'the watchlist has %s user ids; only the first %s are watched'),
  RC_ERR_WS_BAD_TAGS_FILTER: spec(400, 'Bad Request', 'tags_filter for %s: %s'),
  RC_ERR_WS_TOO_MANY_SUBSCRIPTIONS: spec(429, 'Too Many Requests', 'a connection may be subscribed to at most %s channels'),

  // --- bot API (issue 5): login, cookies and sessions (HTTP statuses)
  RC_ERR_BOT_LOGIN_BAD_BODY: spec(400, 'Bad Request', 'the login body must be a JSON object with string fields room and token: %s'),
  RC_ERR_BOT_ROOM_INVALID: spec(401, 'Unauthorized', 'room code is unknown or expired; ask an operator for the room\'s current code (operator console, Rooms page: issue a code; or `roomcast codes expire SPACE/ROOM`, or POST /apps/{app_id}/spaces/{space}/rooms/{room}/rotate_code)'),
  RC_ERR_BOT_TOKEN_INVALID: spec(401, 'Unauthorized', 'API token is unknown or expired (or belongs to a bot of another space); ask an operator for the bot\'s current token (operator console, Rooms page: issue a token; or `roomcast tokens expire SPACE/BOT`, or POST /apps/{app_id}/spaces/{space}/bots/{bot}/rotate_token)'),
  RC_ERR_BOT_SPACE_NOT_RUNNING: spec(503, 'Service Unavailable', 'space %s is not running; an operator starts it (operator console, Rooms page, or POST /apps/{app_id}/spaces/{space}/start), then log in again'),
  RC_ERR_BOT_BUSY: spec(503, 'Service Unavailable', 'the server is busy (%s); API clients are shed first, try again in %s s', true),
  RC_ERR_BOT_COOKIE_MISSING: spec(412, 'Precondition Failed', 'cookie %s is missing; send back both API-Cookie and API-Route from /api/v1/login'),
  RC_ERR_BOT_COOKIE_MALFORMED: spec(400, 'Bad Request', 'the Cookie header is not in RFC 6265 form: %s'),
  RC_ERR_BOT_COOKIE_TAMPERED: spec(400, 'Bad Request', 'cookie %s was altered; send it back byte for byte as /api/v1/login set it'),
  RC_ERR_BOT_COOKIE_UNKNOWN_SECRET: spec(400, 'Bad Request', 'cookie %s was sealed by a secret this cluster does not have (another cluster, a changed bots.cookieSecret, or a backend that lost its data); log in again'),
  RC_ERR_BOT_SESSION_EXPIRED: spec(403, 'Forbidden', 'your login expired (%s); log in again with POST /api/v1/login'),
  RC_ERR_BAYEUX_BAD_REQUEST: spec(400, 'Bad Request', 'the Bayeux request is malformed: %s'),
  RC_ERR_BAYEUX_WEBSOCKET_REFUSED: spec(400, 'Bad Request', 'this endpoint offers no WebSocket transport; use long-polling'),

  // --- bot API (issue 5): Bayeux protocol errors, sent inside replies as "<status>:<args>:<message>"
  RC_ERR_BAYEUX_SESSION_UNKNOWN: spec(402, 'session_unknown', 'client %s is unknown on this server; handshake again'),
  RC_ERR_BAYEUX_CHANNEL_FORBIDDEN: spec(403, 'channel_forbidden', 'channel %s is outside your room; use /service/stream or channels under %s'),
  RC_ERR_BAYEUX_CHANNEL_UNKNOWN: spec(404, 'channel_unknown', 'channel %s is not a channel this server serves'),
  RC_ERR_BAYEUX_CHANNEL_INVALID: spec(405, 'channel_invalid', 'channel %s is not a valid Bayeux channel name'),
  RC_ERR_BAYEUX_FIELD_MISSING: spec(400, 'field_missing', 'field %s is missing or has the wrong type'),
  RC_ERR_BAYEUX_CONNECTION_TYPE: spec(400, 'connection_type', 'connection type %s is not supported; use long-polling'),
  RC_ERR_BAYEUX_TOO_MANY_SUBSCRIPTIONS: spec(400, 'too_many_subscriptions', 'a client holds at most %s subscriptions; unsubscribe from some, or use a wildcard'),
  RC_ERR_BAYEUX_DATA_TOO_LARGE: spec(413, 'data_too_large', 'the message data is larger than the app allows (%s bytes)'),
  RC_ERR_BAYEUX_PUBLISH_REFUSED: spec(400, 'publish_refused', 'the message was refused: %s'),
  RC_ERR_BAYEUX_CONNECT_SUPERSEDED: spec(409, 'connect_superseded', 'a newer /meta/connect from this client replaced this one'),
  RC_ERR_BAYEUX_PUBLISH_FAILED: spec(500, 'publish_failed', 'the message could not be published: %s', true),
  RC_ERR_BAYEUX_PUBLISH_BACKPRESSURE: spec(503, 'publish_backpressure', 'delivery is %s ms behind on the slowest node (the bound is %s ms); publish again after %s s', true),
  RC_ERR_BAYEUX_CLIENT_MOVED: spec(503, 'client_moved', 'client %s is served by another node now (it took the client over while this node was lost to it); send the request again', true),
  RC_ERR_BAYEUX_RELAY_FAILED: spec(503, 'relay_failed', 'the node serving this client was lost while it ran this message, which may or may not have taken effect; send it again if it must', true),

  // --- bot API (issue 5): operator routes for spaces, rooms and bots
  RC_ERR_SPACE_NOT_FOUND: spec(404, 'Not Found', 'space %s does not exist in app %s'),
  RC_ERR_ROOM_NOT_FOUND: spec(404, 'Not Found', 'room %s does not exist in space %s'),
  RC_ERR_ROOM_EXISTS: spec(409, 'Conflict', 'room %s already exists in space %s'),
  RC_ERR_ROOM_CHANNEL_NOT_PRESENCE: spec(400, 'Bad Request', 'room channel %s is not a presence channel; name it presence-… (people joining and leaving it are the room\'s Join/Exit)'),
  RC_ERR_BOT_NOT_FOUND: spec(404, 'Not Found', 'bot %s does not exist in space %s'),
  RC_ERR_BOT_EXISTS: spec(409, 'Conflict', 'bot %s already exists in space %s'),
  RC_ERR_SECRET_IN_USE: spec(409, 'Conflict', 'that %s is already used by another room or bot; choose another or let the server generate one'),

  // --- push notifications (src/push)
  RC_ERR_PUSH_UNAVAILABLE: spec(503, 'Service Unavailable', 'push is not available on the %s backend', true),
  RC_ERR_PUSH_INVALID_REQUEST: spec(400, 'Bad Request', 'invalid push request: %s'),
  RC_ERR_PUSH_UNKNOWN_PLATFORM: spec(400, 'Bad Request', 'platform %s is not one of apns, fcm, web'),
  RC_ERR_PUSH_MISSING_TOKEN: spec(400, 'Bad Request', 'a %s device needs %s'),
  RC_ERR_PUSH_PAYLOAD_TOO_LARGE: spec(413, 'Payload Too Large', 'the rendered notification is %s bytes; the limit is %s'),
  RC_ERR_PUSH_TEMPLATE_PLACEHOLDER: spec(400, 'Bad Request', 'template %s needs placeholder {{%s}}, which template_data does not give'),
  RC_ERR_PUSH_TEMPLATE_NOT_FOUND: spec(404, 'Not Found', 'push template %s does not exist'),
  RC_ERR_PUSH_DEVICE_NOT_FOUND: spec(404, 'Not Found', 'push device %s is not registered'),
  RC_ERR_PUSH_SUBSCRIPTION_NOT_FOUND: spec(404, 'Not Found', 'no push subscription of %s to channel %s'),
  RC_ERR_PUSH_CREDENTIALS_NOT_FOUND: spec(404, 'Not Found', 'no %s push credentials are stored for this app'),
  RC_ERR_PUSH_CREDENTIALS_INVALID: spec(400, 'Bad Request', 'the %s credentials are not usable: %s'),
  RC_ERR_PUSH_PUBLISH_NOT_FOUND: spec(404, 'Not Found', 'push publish %s does not exist (or its status has expired)'),
  RC_ERR_PUSH_NOT_CANCELLABLE: spec(409, 'Conflict', 'push publish %s is %s and can no longer be cancelled'),
  RC_ERR_PUSH_BAD_SCHEDULE: spec(400, 'Bad Request', 'bad schedule: %s'),
  RC_ERR_PUSH_DEVICE_NOT_IN_PUBLISH: spec(404, 'Not Found', 'device %s was not sent push publish %s, so it cannot report a delivery status for it'),

  // --- webhooks (src/webhooks)
  RC_ERR_WEBHOOKS_UNAVAILABLE: spec(503, 'Service Unavailable', 'webhooks are not available on the %s backend', true),
  RC_ERR_WEBHOOKS_INVALID_REQUEST: spec(400, 'Bad Request', 'invalid webhooks request: %s'),
  RC_ERR_WEBHOOKS_DEAD_LETTER_NOT_FOUND: spec(404, 'Not Found', 'webhook dead letter %s does not exist (replayed already, or expired)'),

  // --- operator console
  RC_ERR_CONSOLE_LOGIN_FAILED: spec(401, 'Unauthorized', 'console login failed: unknown user or wrong password'),
  RC_ERR_CONSOLE_LOGIN_RATE_LIMITED: spec(429, 'Too Many Requests', 'too many console login attempts; retry after %s s', true),
  RC_ERR_CONSOLE_UNAUTHENTICATED: spec(401, 'Unauthorized', 'no console session (or it ended); log in again'),
  RC_ERR_CONSOLE_CSRF: spec(403, 'Forbidden', 'this console request lacks a valid CSRF token (%s); reload the console and retry'),
  RC_ERR_CONSOLE_FORBIDDEN: spec(403, 'Forbidden', 'the %s role may not %s; an admin must do it'),
  RC_ERR_CONSOLE_ASSETS_MISSING: spec(503, 'Service Unavailable', 'the console assets are not built (%s is missing); run npm run build'),
  RC_ERR_CONSOLE_NOT_FOUND: spec(404, 'Not Found', '%s %s does not exist'),

  // --- hardening (bad input on every door)
  RC_ERR_HTTP_URI_TOO_LONG: spec(414, 'URI Too Long', 'a path segment is longer than the server accepts (%s characters)'),
  RC_ERR_JSON_TOO_DEEP: spec(400, 'Bad Request', 'the JSON is nested deeper than %s levels'),
  RC_ERR_HTTP_TLS_REQUIRED: spec(404, 'Not Found', 'this port speaks plain HTTP for health probes only: use %s'),
  RC_ERR_HTTP_SHUTTING_DOWN: spec(503, 'Service Unavailable', 'this node is shutting down; retry, another node will answer', true),
  RC_ERR_JSON_STRING_TOO_LONG: spec(400, 'Bad Request', 'a JSON string or key is longer than %s characters'),
  RC_ERR_HTTP_CLIENT_ABORTED: spec(400, 'Bad Request', 'the request body was cut off before its end (%s)'),
  RC_ERR_WS_STALLED: spec(503, 'Service Unavailable', 'the connection stopped reading: a probe sent behind %s unread bytes had no answer within %s ms', true),
  RC_ERR_HTTP_REQUEST_TIMEOUT: spec(408, 'Request Timeout', 'the request was not received in full within server.requestTimeoutMs', true),
  RC_ERR_HTTP_HEADERS_TOO_LARGE: spec(431, 'Request Header Fields Too Large', 'the request line and headers are larger than the server accepts (16 KiB)'),
  RC_ERR_NODE_WARMING: spec(503, 'Service Unavailable', 'this node is still warming up (%s); route traffic elsewhere for now', true),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** An error from the catalogue. `cause` keeps the wrapped error, if any. */
export class RoomcastError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Extra fields a door may add to its reply (e.g. `retryAfterSec`, `index`). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, args: readonly unknown[], options?: { cause?: unknown; details?: Record<string, unknown> }) {
    const entry: ErrorSpec = ERRORS[code];
    super(formatMessage(entry.message, args), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RoomcastError';
    this.code = code;
    this.status = entry.status;
    this.retryable = entry.retryable;
    this.details = Object.freeze({ ...(options?.details ?? {}) });
  }

  /** The catalogue's short name (`error` field of JSON bodies). */
  get shortName(): string {
    return ERRORS[this.code].name;
  }
}

function formatMessage(template: string, args: readonly unknown[]): string {
  let index = 0;
  return template.replace(/%s/g, () => (index < args.length ? String(args[index++]) : '%s'));
}

/** Creates a catalogue error: `createError('RC_ERR_APP_NOT_FOUND', appId)`. */
export function createError(code: ErrorCode, ...args: unknown[]): RoomcastError {
  return new RoomcastError(code, args);
}

/** Creates a catalogue error that wraps `cause` and/or carries extra reply fields. */
export function createErrorWith(
  code: ErrorCode,
  options: { cause?: unknown; details?: Record<string, unknown> },
  ...args: unknown[]
): RoomcastError {
  return new RoomcastError(code, args, options);
}

export function isRoomcastError(value: unknown): value is RoomcastError {
  return value instanceof RoomcastError;
}
