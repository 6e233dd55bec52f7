/**
 * The configuration's shape: TypeScript types (documented field by field) and the
 * ajv JSON schema that validates a file at start-up. Defaults live in the schema
 * (`default`), so a config file may be as small as `{ "apps": [...] }`.
 */

/** Per-app limits. Pusher's published defaults where Pusher has one. */
export interface AppLimits {
  /** Max size of one event's `data`, in bytes. Default 10240 (10 KiB). Past it: 413. */
  maxEventDataBytes: number;
  /** Max length of an event name, in characters. Default 200. */
  maxEventNameLength: number;
  /** Max length of a channel name, in characters. Default 200. */
  maxChannelNameLength: number;
  /** Max channels one event may target. Default 100. */
  maxChannelsPerEvent: number;
  /** Max events in one batch. Default 10. */
  maxBatchSize: number;
  /** Signed REST requests allowed per app per window. Default 10000; 0 disables the limit. */
  restRequestsPerWindow: number;
  /** The rate-limit window, in milliseconds. Default 1000. */
  restWindowMs: number;
  /** Client events one connection may send per second. Default 10 (Pusher's); 0 means no limit. */
  clientEventsPerSecond: number;
  /** Max WebSocket connections for the app on this node. Default 0 (unlimited). */
  maxConnections: number;
  /** Max presence members per presence channel. Default 100 (Pusher's). */
  maxPresenceMembers: number;
}

/** History retention per channel. */
export interface HistoryRetention {
  /** Max messages kept per channel. Default 1000; 0 keeps none (serials are still assigned). */
  maxCount: number;
  /** Max age of a kept message, in seconds. Default 86400 (one day); 0 means no age limit. */
  maxAgeSec: number;
  /** Versions preserved per message (the oldest are dropped first). Default 1000; minimum 1. */
  maxVersionsPerMessage: number;
  /** Live annotations per message; past it a new annotation is refused (409). Default 5000; minimum 1. */
  maxAnnotationsPerMessage: number;
}

export interface AppConfig {
  /** The `{app_id}` in REST paths. */
  id: string;
  /** Public key: the WebSocket path `/app/{key}` and the `auth_key` of signed requests. */
  key: string;
  /** Shared secret for request signatures and channel auth. Never logged. */
  secret: string;
  /** A disabled app answers 403 on REST and close code 4003 on WebSocket. Default true. */
  enabled: boolean;
  /** Allow `client-*` events on private and presence channels. Default true. */
  clientEvents: boolean;
  /** How long an `idempotency_key` replay returns the first reply, in seconds. Default 120. */
  idempotencyWindowSec: number;
  limits: AppLimits;
  history: HistoryRetention;
  /**
   * Webhook endpoints (soketi's shape, so a soketi app list keeps working). Default []:
   * no webhooks. Each endpoint gets the events it names, in Pusher's format, signed with
   * this app's key and secret; see docs/webhooks.md.
   */
  webhooks: WebhookEndpointConfig[];
}

/** Every event a webhook endpoint can ask for: Pusher's seven, then roomcast's own. */
export const WEBHOOK_EVENT_TYPES = [
  'channel_occupied',
  'channel_vacated',
  'member_added',
  'member_removed',
  'client_event',
  'cache_miss',
  'subscription_count',
  'message_created',
  'message_updated',
  'message_deleted',
  'message_appended',
  'annotation_created',
  'annotation_deleted',
  'bot_joined',
  'bot_left',
  'user_online',
  'user_offline',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** One webhook endpoint of an app. */
export interface WebhookEndpointConfig {
  /** Where events are POSTed: an `http://` or `https://` URL. */
  url: string;
  /** The events this endpoint receives (at least one; see WEBHOOK_EVENT_TYPES). */
  event_types: WebhookEventType[];
  /**
   * Only events of channels whose name matches both conditions (when given). Events with
   * no channel (`user_online`, `user_offline`) always pass. Default: every channel.
   */
  filter?: WebhookFilter;
  /** Extra request headers (e.g. an auth token of the receiver). Default none; may not set Content-Type or X-Pusher-*. */
  headers?: Record<string, string>;
}

export interface WebhookFilter {
  channel_name_starts_with?: string;
  channel_name_ends_with?: string;
}

export interface RoomConfig {
  /** Room id, unique in its space. */
  id: string;
  /** The room code a bot logs in with. */
  code: string;
  /** The room's channel in the app's channel space: a presence channel (`presence-…`). Default `presence-room-{space}-{room}`. */
  channel?: string;
}

export interface BotConfig {
  /** Bot id, shown as `senderID`. */
  id: string;
  /** The bot's API token. */
  token: string;
  /** Shown as `senderDisplayName`. Default: the id. */
  displayName?: string;
}

export interface SpaceConfig {
  id: string;
  /** The app whose channel space the rooms live in. */
  app: string;
  /** A space that is not running answers bot logins with 503. Default true. */
  running: boolean;
  rooms: RoomConfig[];
  bots: BotConfig[];
}

export interface RedisConfig {
  /** `redis://[[user]:password@]host:port[/db]` or `rediss://…` (TLS). A standalone Redis ≥ 7.0. Never logged with its password. */
  url: string;
  /** Prefix of every key and pub/sub channel roomcast uses, so several deployments can share one Redis. Default `rc:`; nodes of one deployment must use the same prefix. */
  keyPrefix: string;
  /**
   * How long a command may wait for Redis's answer before failing with
   * RC_ERR_BACKEND_TIMEOUT, in milliseconds (also the connect timeout, at least 1000).
   * While disconnected, commands fail at once with RC_ERR_BACKEND_UNAVAILABLE. Default 2000; minimum 10.
   */
  commandTimeoutMs: number;
}

export interface BackendConfig {
  /** `memory` (one process, nothing to install) or `redis` (durable, shared by several nodes). */
  driver: 'memory' | 'redis';
  redis?: RedisConfig;
}

export interface ServerConfig {
  host: string;
  port: number;
  /** Trust `X-Forwarded-For` from these proxies (addresses/CIDRs). Default [] (trust none). */
  trustedProxies: string[];
  /** Max HTTP body size, in bytes. Default 1048576 (1 MiB). */
  bodyLimitBytes: number;
  /** How long shutdown waits for in-flight work, in milliseconds. Default 10000. */
  shutdownGraceMs: number;
}

export interface NodeConfig {
  /** This node's id. Default: random per process. */
  id?: string;
  /** How often a node renews its heartbeat, in milliseconds. Default 5000. */
  heartbeatIntervalMs: number;
  /** A node whose heartbeat is older than this is dead and its members leave, in milliseconds. Default 15000. */
  heartbeatTtlMs: number;
}

export interface WebSocketConfig {
  /** Seconds of silence before the server pings; a client that stays silent is closed. Default 120. */
  activityTimeoutSec: number;
  /** After a server ping, how long a silent client has before it is closed with 4201, in seconds. Default 30 (Pusher's). */
  pongTimeoutSec: number;
  /** Channels one connection may be subscribed to at once. Default 1000; 0 means no limit. */
  maxSubscriptionsPerConnection: number;
  /** Max size of one incoming frame, in bytes. Default 262144 (256 KiB). */
  maxFrameBytes: number;
  /** A socket whose unsent buffer passes this is closed with a reconnect code, in bytes. Default 4194304 (4 MiB). */
  maxBufferedBytes: number;
}

export interface BotApiConfig {
  /** Secret that seals `API-Cookie` and `API-Route`. Default: random per process (set it for several nodes!). */
  cookieSecret?: string;
  /** A session with no outstanding or recent /meta/connect for this long expires, in milliseconds. Default 10000. */
  sessionGraceMs: number;
  /** How long /meta/connect is held open, in milliseconds. Default 25000. */
  connectTimeoutMs: number;
  /** Live bot sessions on this node past which new logins get 503. Default 10000; 0 disables. */
  maxSessions: number;
  /** Event-loop delay (p99, ms) past which new logins get 503. Default 200; 0 disables. */
  maxEventLoopDelayMs: number;
}

/** Push notifications (devices, publish, delivery workers). */
export interface PushConfig {
  /** Run this node's delivery workers. Default true; false makes a node admit publishes but never deliver. */
  workers: boolean;
  /** Device jobs one node delivers at once. Default 16. */
  concurrency: number;
  /** APNs base URL. Default `https://api.push.apple.com` (sandbox: `https://api.sandbox.push.apple.com`). `http://` speaks h2c (tests). */
  apnsBaseUrl: string;
  /** FCM HTTP v1 base URL. Default `https://fcm.googleapis.com`. */
  fcmBaseUrl: string;
  /** One provider request may take this long, in milliseconds. Default 10000. */
  providerTimeoutMs: number;
  /** Max size of a rendered notification (title, body, data as JSON), in bytes. Default 4096 (APNs' limit). */
  maxPayloadBytes: number;
  /** Provider attempts per device before it is dead-lettered. Default 5; 1 means no retry. */
  maxAttempts: number;
  /** First retry delay, doubled each attempt (±20 % jitter), in milliseconds. Default 1000. */
  retryBaseMs: number;
  /** Cap of our own exponential retry delay, in milliseconds. Default 300000. A provider's Retry-After is bounded by `retryAfterMaxMs` instead. */
  retryMaxMs: number;
  /**
   * Longest provider `Retry-After` honoured, in milliseconds. Default 3600000 (1 hour). A
   * delivery asked to wait longer is dead-lettered rather than sent early against the
   * provider's instruction.
   */
  retryAfterMaxMs: number;
  /** How long a `sync` publish waits for its outcome before answering 202, in milliseconds. Default 10000, at most 60000 (an HTTP request should not be held longer). */
  syncTimeoutMs: number;
  /** Latest allowed `not_before`, in seconds from now. Default 2592000 (30 days). */
  maxScheduleAheadSec: number;
  /** How long publish status and dead letters are kept, in seconds. Default 604800 (7 days). */
  statusTtlSec: number;
  /** Max recipients entries in one publish. Default 100. */
  maxRecipients: number;
  /**
   * Accept `http://` Web Push endpoints (local test push services). Default false: only
   * `https://`, as browsers' push services use, so a registration cannot point the server at
   * plain-HTTP internal addresses.
   */
  webPushAllowHttp: boolean;
}

/** How webhooks are delivered (every app's endpoints share these settings). */
export interface WebhookDeliveryConfig {
  /** Run this node's delivery workers. Default true; false makes a node record events but never send them. */
  workers: boolean;
  /** Deliveries (HTTP requests) one node makes at once, over all endpoints. Default 16. */
  concurrency: number;
  /**
   * Ordered lanes per endpoint: at most this many requests to one endpoint are in flight
   * cluster-wide, and a channel's events always share one lane, so their order holds.
   * Default 4; 1 gives one ordered stream per endpoint.
   */
  lanesPerEndpoint: number;
  /** Events per request, at most (Pusher's batch format). Default 50; 1 sends one event per request. */
  batchSize: number;
  /** One request may take this long before it counts as failed (and is retried), in milliseconds. Default 5000. */
  timeoutMs: number;
  /** Attempts per batch before it goes to the dead-letter list. Default 8; 1 means no retry. */
  maxAttempts: number;
  /** First retry delay, doubled each attempt (±20 % jitter), in milliseconds. Default 1000. */
  retryBaseMs: number;
  /** Cap of the retry delay, in milliseconds. Default 60000. */
  retryMaxMs: number;
  /**
   * `channel_vacated`, `member_removed` and `user_offline` wait this long, and are not
   * sent when the channel, member or user is back meanwhile (a reconnect), in
   * milliseconds. Default 3000; 0 sends them at once.
   */
  leaveDelayMs: number;
  /** How long dead letters are kept for listing and replay, in seconds. Default 604800 (7 days). */
  deadLetterTtlSec: number;
  /**
   * A delivery whose node died is taken over by another node after this long, in
   * milliseconds (the queue lock; Redis). Default 10000; a node whose event loop stalls
   * longer may see a batch sent twice (events keep their ids).
   */
  failoverMs: number;
}

/** Prometheus metrics and cluster stats. */
export interface MetricsConfig {
  /**
   * Serve `GET /metrics` on this port only (a listener of its own, on `server.host`), so
   * it can stay off the public port. Default 0: on the main port, beside `/stats`.
   */
  port: number;
  /** How often each node writes its counters to the backend for `/stats`, in milliseconds. Default 1000. */
  statsIntervalMs: number;
}

export interface Config {
  server: ServerConfig;
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  node: NodeConfig;
  backend: BackendConfig;
  websocket: WebSocketConfig;
  bots: BotApiConfig;
  apps: AppConfig[];
  spaces: SpaceConfig[];
  push: PushConfig;
  webhookDelivery: WebhookDeliveryConfig;
  metrics: MetricsConfig;
}

// No ':' so `{appId}:{channel}` stream keys split unambiguously.
const idPattern = '^[A-Za-z0-9_.-]{1,100}$';

const limitsSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    maxEventDataBytes: { type: 'integer', minimum: 1, default: 10240 },
    maxEventNameLength: { type: 'integer', minimum: 1, default: 200 },
    maxChannelNameLength: { type: 'integer', minimum: 1, default: 200 },
    maxChannelsPerEvent: { type: 'integer', minimum: 1, default: 100 },
    maxBatchSize: { type: 'integer', minimum: 1, default: 10 },
    restRequestsPerWindow: { type: 'integer', minimum: 0, default: 10000 },
    restWindowMs: { type: 'integer', minimum: 1, default: 1000 },
    clientEventsPerSecond: { type: 'integer', minimum: 0, default: 10 },
    maxConnections: { type: 'integer', minimum: 0, default: 0 },
    maxPresenceMembers: { type: 'integer', minimum: 1, default: 100 },
  },
} as const;

/** ajv schema; `useDefaults` fills every default above. */
export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['apps'],
  properties: {
    $schema: { type: 'string' },
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', minLength: 1, default: '0.0.0.0' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 6001 },
        trustedProxies: { type: 'array', items: { type: 'string' }, default: [] },
        bodyLimitBytes: { type: 'integer', minimum: 1024, default: 1048576 },
        shutdownGraceMs: { type: 'integer', minimum: 0, default: 10000 },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
      },
    },
    node: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        id: { type: 'string', pattern: idPattern },
        heartbeatIntervalMs: { type: 'integer', minimum: 50, default: 5000 },
        heartbeatTtlMs: { type: 'integer', minimum: 100, default: 15000 },
      },
    },
    backend: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        driver: { enum: ['memory', 'redis'], default: 'memory' },
        redis: {
          type: 'object',
          additionalProperties: false,
          required: ['url'],
          properties: {
            url: { type: 'string', pattern: '^rediss?://' },
            keyPrefix: { type: 'string', default: 'rc:' },
            commandTimeoutMs: { type: 'integer', minimum: 10, default: 2000 },
          },
        },
      },
    },
    websocket: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        activityTimeoutSec: { type: 'integer', minimum: 1, default: 120 },
        pongTimeoutSec: { type: 'integer', minimum: 1, default: 30 },
        maxSubscriptionsPerConnection: { type: 'integer', minimum: 0, default: 1000 },
        maxFrameBytes: { type: 'integer', minimum: 1024, default: 262144 },
        maxBufferedBytes: { type: 'integer', minimum: 1024, default: 4194304 },
      },
    },
    bots: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        cookieSecret: { type: 'string', minLength: 16 },
        sessionGraceMs: { type: 'integer', minimum: 100, default: 10000 },
        connectTimeoutMs: { type: 'integer', minimum: 0, default: 25000 },
        maxSessions: { type: 'integer', minimum: 0, default: 10000 },
        maxEventLoopDelayMs: { type: 'integer', minimum: 0, default: 200 },
      },
    },
    apps: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'key', 'secret'],
        properties: {
          id: { type: 'string', pattern: idPattern },
          key: { type: 'string', pattern: idPattern },
          secret: { type: 'string', minLength: 1 },
          enabled: { type: 'boolean', default: true },
          clientEvents: { type: 'boolean', default: true },
          idempotencyWindowSec: { type: 'integer', minimum: 1, default: 120 },
          limits: limitsSchema,
          history: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              maxCount: { type: 'integer', minimum: 0, default: 1000 },
              maxAgeSec: { type: 'integer', minimum: 0, default: 86400 },
              maxVersionsPerMessage: { type: 'integer', minimum: 1, default: 1000 },
              maxAnnotationsPerMessage: { type: 'integer', minimum: 1, default: 5000 },
            },
          },
          webhooks: {
            type: 'array',
            default: [],
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['url', 'event_types'],
              properties: {
                url: { type: 'string', pattern: '^https?://[^\\s]+$', maxLength: 2000 },
                event_types: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...WEBHOOK_EVENT_TYPES] } },
                filter: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    channel_name_starts_with: { type: 'string', maxLength: 200 },
                    channel_name_ends_with: { type: 'string', maxLength: 200 },
                  },
                },
                headers: { type: 'object', additionalProperties: { type: 'string', maxLength: 4000 } },
              },
            },
          },
        },
      },
    },
    push: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        workers: { type: 'boolean', default: true },
        concurrency: { type: 'integer', minimum: 1, maximum: 1000, default: 16 },
        apnsBaseUrl: { type: 'string', pattern: '^https?://', default: 'https://api.push.apple.com' },
        fcmBaseUrl: { type: 'string', pattern: '^https?://', default: 'https://fcm.googleapis.com' },
        providerTimeoutMs: { type: 'integer', minimum: 100, default: 10000 },
        maxPayloadBytes: { type: 'integer', minimum: 256, maximum: 65536, default: 4096 },
        maxAttempts: { type: 'integer', minimum: 1, maximum: 50, default: 5 },
        retryBaseMs: { type: 'integer', minimum: 1, default: 1000 },
        retryMaxMs: { type: 'integer', minimum: 1, default: 300000 },
        retryAfterMaxMs: { type: 'integer', minimum: 1, default: 3600000 },
        syncTimeoutMs: { type: 'integer', minimum: 0, maximum: 60000, default: 10000 },
        maxScheduleAheadSec: { type: 'integer', minimum: 1, default: 2592000 },
        statusTtlSec: { type: 'integer', minimum: 60, default: 604800 },
        maxRecipients: { type: 'integer', minimum: 1, default: 100 },
        webPushAllowHttp: { type: 'boolean', default: false },
      },
    },
    webhookDelivery: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        workers: { type: 'boolean', default: true },
        concurrency: { type: 'integer', minimum: 1, maximum: 1000, default: 16 },
        lanesPerEndpoint: { type: 'integer', minimum: 1, maximum: 64, default: 4 },
        batchSize: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
        timeoutMs: { type: 'integer', minimum: 100, default: 5000 },
        maxAttempts: { type: 'integer', minimum: 1, maximum: 100, default: 8 },
        retryBaseMs: { type: 'integer', minimum: 1, default: 1000 },
        retryMaxMs: { type: 'integer', minimum: 1, default: 60000 },
        leaveDelayMs: { type: 'integer', minimum: 0, maximum: 600000, default: 3000 },
        deadLetterTtlSec: { type: 'integer', minimum: 60, default: 604800 },
        failoverMs: { type: 'integer', minimum: 500, default: 10000 },
      },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 0 },
        statsIntervalMs: { type: 'integer', minimum: 100, default: 1000 },
      },
    },
    spaces: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'app'],
        properties: {
          id: { type: 'string', pattern: idPattern },
          app: { type: 'string' },
          running: { type: 'boolean', default: true },
          rooms: {
            type: 'array',
            default: [],
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['id', 'code'],
              properties: {
                id: { type: 'string', pattern: idPattern },
                code: { type: 'string', minLength: 1 },
                // A presence channel: its joins and leaves are the room's Join/Exit (core/rooms.ts checks the same for rooms added at run time).
                channel: { type: 'string', minLength: 1, maxLength: 200, pattern: '^presence-' },
              },
            },
          },
          bots: {
            type: 'array',
            default: [],
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['id', 'token'],
              properties: {
                id: { type: 'string', pattern: idPattern },
                token: { type: 'string', minLength: 1 },
                displayName: { type: 'string', minLength: 1 },
              },
            },
          },
        },
      },
    },
  },
} as const;
