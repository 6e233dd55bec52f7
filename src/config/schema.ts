/**
 * The configuration's JSON schema, validated by ajv at start-up and on reload. It is the
 * one place each field is documented: `description` (what it does, what 0 means),
 * `default`, and `x-unit`; the environment variable that sets a field is derived from its
 * path (env.ts). docs/configuration.md is generated from it (`npm run docs:config`), and
 * `roomcast config check` prints a refused field's description. Defaults live here, so a
 * config file may be as small as `{ "apps": [...] }`.
 */
import { consoleSchema } from './console.ts';
import { WEBHOOK_EVENT_TYPES } from './webhook-events.ts';

export type * from './types.ts';

export { WEBHOOK_EVENT_TYPES } from './webhook-events.ts';

// No ':' so `{appId}:{channel}` stream keys split unambiguously.
const idPattern = '^[A-Za-z0-9_.-]{1,100}$';

const limitsSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: "Per-app limits. Pusher's published defaults where Pusher has one.",
  properties: {
    maxEventDataBytes: { type: 'integer', minimum: 1, default: 10240, 'x-unit': 'bytes', description: "Max size of one event's `data` (10 KiB). Past it: 413." },
    maxEventNameLength: { type: 'integer', minimum: 1, default: 200, 'x-unit': 'characters', description: 'Max length of an event name.' },
    maxChannelNameLength: { type: 'integer', minimum: 1, default: 200, 'x-unit': 'characters', description: 'Max length of a channel name.' },
    maxChannelsPerEvent: { type: 'integer', minimum: 1, default: 100, 'x-unit': 'channels', description: 'Max channels one event may target.' },
    maxBatchSize: { type: 'integer', minimum: 1, default: 10, 'x-unit': 'events', description: 'Max events in one batch.' },
    restRequestsPerWindow: { type: 'integer', minimum: 0, default: 10000, 'x-unit': 'requests', description: 'Signed REST requests allowed per app per window across every node of the cluster (`quotas.restLeaseBlock`). 0 disables the limit.' },
    restWindowMs: { type: 'integer', minimum: 1, default: 1000, 'x-unit': 'ms', description: 'The rate-limit window.' },
    clientEventsPerSecond: { type: 'integer', minimum: 0, default: 10, 'x-unit': 'events/s', description: "Client events one connection may send per second (Pusher's 10). 0 means no limit." },
    maxConnections: { type: 'integer', minimum: 0, default: 0, 'x-unit': 'connections', description: 'Max WebSocket connections of the app across every node of the cluster (`quotas`); past it a connection is closed with Pusher 4004 (over quota). 0 means unlimited.' },
    maxPresenceMembers: { type: 'integer', minimum: 1, default: 100, 'x-unit': 'members', description: "Max presence members (distinct users) per presence channel across every node of the cluster (Pusher's 100): checked atomically with each join; past it the subscription fails with Pusher 4304. A dead node's members keep their places until its heartbeat TTL expires." },
    maxPresenceMemberBytes: { type: 'integer', minimum: 64, default: 2048, 'x-unit': 'bytes', description: "Largest presence member: the `user_info` of a presence subscription's `channel_data` (or of the signed-in user), as JSON. Every member's info goes to every subscriber of the channel on each join, so 100 members of 2 KiB are a 200 KiB member list; past it the subscription fails with `RC_ERR_WS_BAD_CHANNEL_DATA`. (soketi and Sockudo use 2 KiB too.)" },
    maxWatchlistUsers: {
      type: 'integer',
      minimum: 1,
      maximum: 10000,
      default: 100,
      'x-unit': 'user ids',
      description: "Max user ids of a signed-in user's `watchlist` (Pusher's 100). Past it the first ones are watched and the sign-in is followed by `pusher:error` 4302.",
    },
  },
} as const;

const tlsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['cert', 'key'],
  description:
    'Serve HTTPS and WSS on `server.port` (every door). The files are read at start, and read again on SIGHUP, `roomcast config reload` and when they change on disk; open connections keep going. Absent: plain HTTP.',
  properties: {
    cert: { type: 'string', minLength: 1, description: 'Path of the PEM certificate chain (the server certificate first, then intermediates).' },
    key: { type: 'string', minLength: 1, description: 'Path of the PEM private key.' },
    ca: { type: 'string', minLength: 1, description: 'Path of PEM CA certificates to trust instead of the system ones (for client certificates; rarely needed). `roomcast` commands trust it for https:// and wss://.' },
    passphrase: { type: 'string', description: 'Passphrase of an encrypted private key. Never logged; prefer the environment variable.' },
    watchIntervalMs: { type: 'integer', minimum: 0, default: 5000, 'x-unit': 'ms', description: 'How often the certificate and key files are checked for changes (a renewal is picked up within this). 0 turns watching off (SIGHUP still reloads).' },
  },
} as const;

/** ajv schema; `useDefaults` fills every default. */
export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['apps'],
  properties: {
    $schema: { type: 'string', description: 'Ignored: lets an editor find a JSON schema for the file.' },
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The HTTP/WebSocket listener.',
      properties: {
        host: { type: 'string', minLength: 1, default: '0.0.0.0', 'x-env': 'HOST', description: 'Address to listen on (`0.0.0.0`: every IPv4 interface; `::` for IPv6 too).' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 6001, 'x-env': 'PORT', description: 'Port of every door (REST, WebSocket, bot API, ops routes). 0 picks a free port.' },
        trustedProxies: {
          type: 'array',
          items: { type: 'string' },
          default: [],
          description: 'Trust `X-Forwarded-For` (and `X-Forwarded-Proto`) only from these proxies: addresses or CIDRs, e.g. `["10.0.0.0/8"]`. Empty: trust none, the peer address is the client. Env: comma-separated.',
        },
        bodyLimitBytes: { type: 'integer', minimum: 1024, default: 1048576, 'x-unit': 'bytes', description: 'Max HTTP request body (1 MiB).' },
        shutdownGraceMs: { type: 'integer', minimum: 0, default: 10000, 'x-unit': 'ms', description: 'How long shutdown waits for in-flight work before exiting with 1.' },
        headersTimeoutMs: {
          type: 'integer',
          minimum: 1000,
          default: 10000,
          'x-unit': 'ms',
          description: "A connection must send a request's complete headers within this long of starting it (of opening, for its first request); else it is closed (408).",
        },
        requestTimeoutMs: {
          type: 'integer',
          minimum: 1000,
          default: 30000,
          'x-unit': 'ms',
          description: "A request's headers and body must arrive within this long; else the connection is closed (408). Replies are not bounded by it, so a held Bayeux connect is unaffected. At least `headersTimeoutMs`.",
        },
        keepAliveTimeoutMs: { type: 'integer', minimum: 1000, default: 72000, 'x-unit': 'ms', description: "An idle keep-alive connection (between requests) is closed after this long (above common balancers' 60 s)." },
        idleTimeoutMs: {
          type: 'integer',
          minimum: 0,
          default: 30000,
          'x-unit': 'ms',
          description: 'A connection on which no byte moves for this long while a request is read or a reply is written is closed, so a client that stops reading a reply cannot hold it. A held Bayeux connect extends its own by its hold. 0 disables (not recommended).',
        },
        maxConnections: { type: 'integer', minimum: 0, default: 50000, 'x-unit': 'connections', description: 'Concurrent TCP connections (HTTP and WebSocket) this node accepts; more are closed at once. 0 means no limit. Also the listen backlog (at most 65535), so a burst of new connections waits in the accept queue instead of losing its SYNs; the kernel caps the backlog at `net.core.somaxconn` (4096 on Linux since 5.4): raise that for larger bursts.' },
        maxConnectionsPerAddress: {
          type: 'integer',
          minimum: 0,
          default: 1000,
          'x-unit': 'connections',
          description: 'Concurrent TCP connections from one client address; more are closed at once. A peer listed in `trustedProxies` is exempt (it carries many clients). 0 means no limit.',
        },
        tls: tlsSchema,
        httpPort: {
          type: 'integer',
          minimum: 0,
          maximum: 65535,
          'x-unit': 'port',
          description:
            'With `server.tls`: also listen on this plain-HTTP port, which answers `/up` and `/ready` (for probes), `POST /api/v1/login` with 404 and a message naming `https://`, and everything else with 404 `RC_ERR_HTTP_TLS_REQUIRED` (no redirect). 0 picks a free port. Absent: no plain listener.',
        },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Logging (JSON lines on stdout, pino).',
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', 'x-env': 'LOG_LEVEL', description: 'Least severe level written. Applied again on reload.' },
      },
    },
    node: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'This process as a member of a cluster.',
      properties: {
        id: { type: 'string', pattern: idPattern, description: "This node's id (logs, `/stats`, API-Route cookies). Default: random per process." },
        heartbeatIntervalMs: { type: 'integer', minimum: 50, default: 5000, 'x-unit': 'ms', description: "How often a node renews its heartbeat. Also how long, at most, a channel Redis dropped from a node's presence or occupancy set stays unlisted while joins there go on." },
        heartbeatTtlMs: { type: 'integer', minimum: 100, default: 15000, 'x-unit': 'ms', description: "A node whose heartbeat is older than this is dead, and its presence members leave." },
      },
    },
    backend: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Where shared state lives.',
      properties: {
        driver: { enum: ['memory', 'redis'], default: 'memory', description: '`memory` (one process, nothing to install) or `redis` (durable, shared by several nodes). `REDIS_URL` sets `redis`.' },
        redis: {
          type: 'object',
          additionalProperties: false,
          description:
            'The Redis backend (Redis ≥ 7.0): a standalone Redis (`url`), a Redis Cluster (`cluster`) or a master watched by Sentinel (`sentinels`); exactly one of the three. See docs/scaling.md.',
          properties: {
            url: {
              type: 'string',
              pattern: '^rediss?://',
              'x-env': 'REDIS_URL',
              description:
                '`redis://[[user]:password@]host:port[/db]` or `rediss://…` (TLS): a standalone Redis. With `cluster` or `sentinels` only its credentials, database and TLS are used (the host comes from the cluster or the sentinels). Never logged with its password. `REDIS_URL` also sets `backend.driver` to `redis`.',
            },
            cluster: {
              type: 'object',
              additionalProperties: false,
              required: ['nodes'],
              description: 'A Redis Cluster (Redis ≥ 7.0, for sharded pub/sub). Keys are hash-tagged per shard of channels (`shards`), so every atomic step touches one slot; the bus uses SSUBSCRIBE/SPUBLISH on one topic per shard. The webhook outbox is kept per shard too (one lane part per shard).',
              properties: {
                nodes: {
                  type: 'array',
                  minItems: 1,
                  items: { type: 'string', pattern: '^[^\\s:/]+:[0-9]+$' },
                  description: 'Some of the cluster\'s nodes as `host:port` (the client discovers the rest). Any master or replica will do; list several so start-up survives one being down.',
                },
              },
            },
            sentinels: {
              type: 'array',
              minItems: 1,
              items: { type: 'string', pattern: '^[^\\s:/]+:[0-9]+$' },
              description: 'Redis Sentinel addresses as `host:port`: the backend asks them for the current master of `masterName` and follows failovers (connections reconnect to the promoted replica).',
            },
            masterName: { type: 'string', minLength: 1, default: 'mymaster', description: 'The master name the sentinels monitor (with `sentinels`).' },
            keyPrefix: { type: 'string', default: 'rc:', description: 'Prefix of every key and pub/sub channel, so several deployments can share one Redis. Nodes of one deployment must use the same prefix. On a cluster, a prefix holding a `{…}` hash tag pins every key to one slot.' },
            routing: {
              enum: ['broadcast', 'interest'],
              default: 'interest',
              description:
                'Which channel messages a node takes from the bus. `interest`: a node receives the messages of the channels it has local subscribers in (one Redis subscription per such channel), and every message only while a Bayeux wildcard subscription is open on it. `broadcast`: every node receives every message (one subscription per shard). Nodes of one deployment may differ; see docs/scaling.md for the measured trade-off.',
            },
            shards: {
              type: 'integer',
              minimum: 1,
              maximum: 16384,
              default: 128,
              'x-unit': 'shards',
              description:
                'Channels are spread over this many shards by hash: a shard is the unit of key placement (one hash slot on a cluster; its channels\' bus topics are in that slot too) and the topic a node routing by `broadcast` subscribes to. Part of the key layout: every node must use the same value, and changing it leaves stored history unread.',
            },
            waitReplicas: {
              type: 'integer',
              minimum: 0,
              default: 0,
              'x-unit': 'replicas',
              description:
                'After each append (publish, message change), wait until this many replicas acknowledged it (`WAIT`) before answering; a publish that is not acknowledged within `waitTimeoutMs` fails with RC_ERR_BACKEND_UNAVAILABLE (it may still have been delivered). 0: answer once the master has it.',
            },
            waitTimeoutMs: { type: 'integer', minimum: 1, default: 500, 'x-unit': 'ms', description: 'With `waitReplicas`: how long an append waits for replica acknowledgements; must be below `commandTimeoutMs`.' },
            commandTimeoutMs: {
              type: 'integer',
              minimum: 10,
              default: 2000,
              'x-unit': 'ms',
              description: "How long a command may wait for Redis's answer before failing with RC_ERR_BACKEND_TIMEOUT (also the connect timeout, at least 1000); judged after the answers that already arrived are read, so a node whose event loop stalled longer than this does not fail commands Redis had answered. While disconnected, commands fail at once with RC_ERR_BACKEND_UNAVAILABLE.",
            },
          },
        },
      },
    },
    websocket: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The WebSocket gateway (`/app/{key}`).',
      properties: {
        activityTimeoutSec: { type: 'integer', minimum: 1, default: 120, 'x-unit': 's', description: 'Silence before the server pings; a client that stays silent is closed.' },
        pongTimeoutSec: { type: 'integer', minimum: 1, default: 30, 'x-unit': 's', description: "After a server ping, how long a silent client has before it is closed with 4201 (Pusher's 30)." },
        maxSubscriptionsPerConnection: { type: 'integer', minimum: 0, default: 1000, 'x-unit': 'channels', description: 'Channels one connection may be subscribed to at once. 0 means no limit.' },
        maxFrameBytes: { type: 'integer', minimum: 1024, default: 262144, 'x-unit': 'bytes', description: 'Max size of one incoming frame (256 KiB).' },
        maxBufferedBytes: { type: 'integer', minimum: 1024, default: 4194304, 'x-unit': 'bytes', description: "A socket whose unsent buffer in the server (past what the kernel took) passes this is closed with 4200 (4 MiB)." },
        stallTimeoutMs: {
          type: 'integer',
          minimum: 0,
          default: 5000,
          'x-unit': 'ms',
          description: "A connection that stops reading is closed with 4200 when a read probe (a WebSocket ping sent behind 64 KiB of unread frames) has no pong for this long. It bounds what a stalled reader costs in kernel buffers, which `maxBufferedBytes` does not see. 0 disables (not recommended).",
        },
      },
    },
    bots: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The bot streaming API (`/api/v1/login`, `/api/v1/bayeux`).',
      properties: {
        cookieSecret: { type: 'string', minLength: 16, description: 'Secret that seals `API-Cookie` and `API-Route`. Default: random secrets the nodes share through the backend (the first node creates one, the others adopt it; each node writes the one it seals with back within one heartbeat interval after the backend lost its data, and every node accepts the cookies of every live node), so nodes started from one config need nothing per node. Set it to pin the secret (the same value on every node). Never logged.' },
        sessionGraceMs: { type: 'integer', minimum: 100, default: 10000, 'x-unit': 'ms', description: 'A session with no outstanding or recent /meta/connect for this long expires.' },
        connectTimeoutMs: { type: 'integer', minimum: 0, default: 25000, 'x-unit': 'ms', description: 'How long /meta/connect is held open.' },
        maxSessions: { type: 'integer', minimum: 0, default: 10000, 'x-unit': 'sessions', description: 'Live bot sessions on this node past which new logins get 503. 0 disables.' },
        maxEventLoopDelayMs: { type: 'integer', minimum: 0, default: 200, 'x-unit': 'ms', description: 'Sustained event-loop delay past which new logins get 503 with a proportional Retry-After: the median of the p99 delays of the last five one-second windows, judged once the node is warm (one stall or a start-up burst sheds nobody). 0 disables.' },
        chatEvents: {
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 200 },
          uniqueItems: true,
          default: ['message', 'chat', 'client-message', 'client-chat'],
          description:
            'Event names that are chat: a bot receives them on `/service/stream` (and in the envelope of mapped channels) as `messageType: "Message"`. `typing` and `client-typing` are `Typing`; every other event is `Event` (its name is in `event`). See docs/bot-api.md.',
        },
        rawDataChannels: {
          type: 'array',
          items: { type: 'string', minLength: 2, maxLength: 256, pattern: '^(/[A-Za-z0-9_@-]+)+(/\\*{1,2})?$|^/\\*{1,2}$' },
          default: [],
          description:
            'Bayeux channels or patterns (`/presence-room-acme-lobby/app/**`) mapped to app channels whose events reach Bayeux subscribers as the published data itself, as a generic Faye or CometD app expects, instead of the bot envelope (`messageType`, `contentData`, …). JSON object and array texts arrive parsed, other data as the string; message changes are not sent there. Empty: every mapped channel carries the envelope.',
        },
      },
    },
    apps: {
      type: 'array',
      description: 'The apps this server hosts: each is a channel space with its own key and secret.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'key', 'secret'],
        properties: {
          id: { type: 'string', pattern: idPattern, description: 'The `{app_id}` in REST paths.' },
          key: { type: 'string', pattern: idPattern, description: 'Public key: the WebSocket path `/app/{key}` and the `auth_key` of signed requests.' },
          secret: { type: 'string', minLength: 1, description: 'Shared secret for request signatures and channel auth. Never logged.' },
          enabled: { type: 'boolean', default: true, description: 'A disabled app answers 403 on REST and close code 4003 on WebSocket.' },
          clientEvents: { type: 'boolean', default: true, description: 'Allow `client-*` events on private and presence channels.' },
          idempotencyWindowSec: { type: 'integer', minimum: 1, default: 120, 'x-unit': 's', description: 'How long an `idempotency_key` replay returns the first reply.' },
          userAuthenticationTimeoutSec: {
            type: 'integer',
            minimum: 0,
            maximum: 86400,
            default: 0,
            'x-unit': 's',
            description:
              "Authorized connections (Pusher's; soketi's `userAuthenticationTimeout`): a WebSocket that has not signed in (`pusher:signin`) this long after connecting is closed with 4009. 0 means connections need not sign in.",
          },
          watchlistEvents: {
            type: 'boolean',
            default: false,
            description:
              'Watchlist events: signed-in users get `pusher_internal:watchlist_events` (online / offline) for the user ids of the `watchlist` in their `user_data`, across nodes. Off: sign-ins are not tracked and watchlists are ignored (as on Pusher until the app setting is on).',
          },
          subscriptionCountEvents: {
            type: 'boolean',
            default: false,
            description:
              'Subscription count events: subscribers of non-presence channels get `pusher_internal:subscription_count` when the channel\'s subscription count changes (at most every 5 s on channels of more than 100 subscriptions).',
          },
          limits: limitsSchema,
          history: {
            type: 'object',
            additionalProperties: false,
            default: {},
            description: 'History retention per channel.',
            properties: {
              maxCount: { type: 'integer', minimum: 0, default: 1000, 'x-unit': 'messages', description: 'Max messages kept per channel. 0 keeps none (serials are still assigned).' },
              maxAgeSec: { type: 'integer', minimum: 0, default: 86400, 'x-unit': 's', description: 'Max age of a kept message (one day). 0 means no age limit.' },
              maxVersionsPerMessage: { type: 'integer', minimum: 1, default: 1000, 'x-unit': 'versions', description: 'Versions preserved per message (the oldest are dropped first).' },
              maxAnnotationsPerMessage: { type: 'integer', minimum: 1, default: 5000, 'x-unit': 'annotations', description: 'Live annotations per message; past it a new annotation is refused (409).' },
            },
          },
          webhooks: {
            type: 'array',
            default: [],
            description:
              "Webhook endpoints, in soketi's shape (a soketi app list keeps working). Each gets the events it names, in Pusher's format, signed with this app's key and secret (see docs/webhooks.md). Empty: no webhooks.",
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['url', 'event_types'],
              properties: {
                url: { type: 'string', pattern: '^https?://[^\\s]+$', maxLength: 2000, description: 'Where events are POSTed: an `http://` or `https://` URL (redirects are not followed).' },
                event_types: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...WEBHOOK_EVENT_TYPES] }, description: 'The events this endpoint receives (docs/webhooks.md lists them).' },
                filter: {
                  type: 'object',
                  additionalProperties: false,
                  description: 'Only events of channels whose name matches both conditions (when given). Events with no channel (`user_online`, `user_offline`) always pass. Absent: every channel.',
                  properties: {
                    channel_name_starts_with: { type: 'string', maxLength: 200, description: 'The channel name starts with this.' },
                    channel_name_ends_with: { type: 'string', maxLength: 200, description: 'The channel name ends with this.' },
                  },
                },
                headers: { type: 'object', additionalProperties: { type: 'string', maxLength: 4000 }, description: 'Extra request headers (e.g. a token the receiver checks). May not set Content-Type, Host or X-Pusher-*.' },
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
      description: 'Push notifications (devices, publish, delivery workers).',
      properties: {
        workers: { type: 'boolean', default: true, description: "Run this node's delivery workers. false makes a node admit publishes but never deliver." },
        concurrency: { type: 'integer', minimum: 1, maximum: 1000, default: 16, 'x-unit': 'jobs', description: 'Device jobs one node delivers at once.' },
        apnsBaseUrl: { type: 'string', pattern: '^https?://', default: 'https://api.push.apple.com', description: 'APNs base URL (sandbox: `https://api.sandbox.push.apple.com`). `http://` speaks h2c (tests).' },
        fcmBaseUrl: { type: 'string', pattern: '^https?://', default: 'https://fcm.googleapis.com', description: 'FCM HTTP v1 base URL.' },
        providerTimeoutMs: { type: 'integer', minimum: 100, default: 10000, 'x-unit': 'ms', description: 'One provider request may take this long.' },
        maxPayloadBytes: { type: 'integer', minimum: 256, maximum: 65536, default: 4096, 'x-unit': 'bytes', description: "Max size of a rendered notification (title, body, data as JSON); 4096 is APNs' limit." },
        maxAttempts: { type: 'integer', minimum: 1, maximum: 50, default: 5, 'x-unit': 'attempts', description: 'Provider attempts per device before it is dead-lettered. 1 means no retry.' },
        retryBaseMs: { type: 'integer', minimum: 1, default: 1000, 'x-unit': 'ms', description: 'First retry delay, doubled each attempt (±20 % jitter).' },
        retryMaxMs: { type: 'integer', minimum: 1, default: 300000, 'x-unit': 'ms', description: "Cap of our own exponential retry delay. A provider's Retry-After is bounded by `retryAfterMaxMs` instead." },
        retryAfterMaxMs: { type: 'integer', minimum: 1, default: 3600000, 'x-unit': 'ms', description: "Longest provider `Retry-After` honoured (1 hour). A delivery asked to wait longer is dead-lettered rather than sent early against the provider's instruction." },
        syncTimeoutMs: { type: 'integer', minimum: 0, maximum: 60000, default: 10000, 'x-unit': 'ms', description: 'How long a `sync` publish waits for its outcome before answering 202 (at most 60000: an HTTP request should not be held longer).' },
        maxScheduleAheadSec: { type: 'integer', minimum: 1, default: 2592000, 'x-unit': 's', description: 'Latest allowed `not_before`, from now (30 days).' },
        statusTtlSec: { type: 'integer', minimum: 60, default: 604800, 'x-unit': 's', description: 'How long publish status and dead letters are kept (7 days).' },
        maxRecipients: { type: 'integer', minimum: 1, default: 100, 'x-unit': 'entries', description: 'Max recipients entries in one publish.' },
        webPushAllowHttp: { type: 'boolean', default: false, description: "Accept `http://` Web Push endpoints (local test push services). false: only `https://`, as browsers' push services use, so a registration cannot point the server at plain-HTTP internal addresses." },
      },
    },
    webhookDelivery: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: "How webhooks are delivered (every app's endpoints share these settings).",
      properties: {
        workers: { type: 'boolean', default: true, description: "Run this node's delivery workers. false makes a node record events but never send them." },
        concurrency: { type: 'integer', minimum: 1, maximum: 1000, default: 16, 'x-unit': 'requests', description: 'Deliveries (HTTP requests) one node makes at once, over all endpoints.' },
        lanesPerEndpoint: {
          type: 'integer',
          minimum: 1,
          maximum: 64,
          default: 4,
          'x-unit': 'lanes',
          description: "Ordered lanes per endpoint: at most this many requests to one endpoint are in flight cluster-wide, and a channel's events always share one lane, so their order holds. 1: one ordered stream per endpoint.",
        },
        batchSize: { type: 'integer', minimum: 1, maximum: 1000, default: 50, 'x-unit': 'events', description: "Events per request, at most (Pusher's batch format). 1 sends one event per request." },
        timeoutMs: { type: 'integer', minimum: 100, default: 5000, 'x-unit': 'ms', description: 'One request may take this long before it counts as failed and is retried.' },
        maxAttempts: { type: 'integer', minimum: 1, maximum: 100, default: 8, 'x-unit': 'attempts', description: 'Attempts per batch (5xx, 408, 429, timeouts) before it goes to the dead-letter list. 1 means no retry.' },
        retryBaseMs: { type: 'integer', minimum: 1, default: 1000, 'x-unit': 'ms', description: "First retry delay, doubled each attempt (±20 % jitter); an endpoint's longer Retry-After is honoured." },
        retryMaxMs: { type: 'integer', minimum: 1, default: 60000, 'x-unit': 'ms', description: 'Cap of the retry delay.' },
        leaveDelayMs: {
          type: 'integer',
          minimum: 0,
          maximum: 600000,
          default: 3000,
          'x-unit': 'ms',
          description: '`channel_vacated`, `member_removed` and `user_offline` wait this long, and are not sent when the channel, member or user is back meanwhile (a reconnect). 0 sends them at once.',
        },
        deadLetterTtlSec: { type: 'integer', minimum: 60, default: 604800, 'x-unit': 's', description: 'How long dead letters are kept for listing and replay (7 days).' },
        failoverMs: {
          type: 'integer',
          minimum: 500,
          default: 10000,
          'x-unit': 'ms',
          description: 'A delivery whose node died is taken over by another node after this long (the queue lock, Redis). A node whose event loop stalls longer may see a batch sent twice (events keep their ids).',
        },
      },
    },
    quotas: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: "How nodes share apps' limits (`limits.maxConnections`, `limits.restRequestsPerWindow`) cluster-wide through the backend (docs/scaling.md#quotas-and-backpressure).",
      properties: {
        connectionLeaseBlock: {
          type: 'integer',
          minimum: 1,
          default: 32,
          'x-unit': 'connections',
          description: "Connections a node leases from an app's cluster-wide quota at once (at most a sixteenth of the quota), so most connections cost no backend round trip. 1: every connection and close is one round trip.",
        },
        reclaimWaitMs: {
          type: 'integer',
          minimum: 0,
          maximum: 5000,
          default: 1000,
          'x-unit': 'ms',
          description:
            'How long a connection waits at a full connection quota for one to close on any node before it is refused with 4004 (a close is told to the waiting nodes at once). Nodes that may hold spare leases are waited for separately, at most `node.heartbeatTtlMs` (docs/scaling.md#connection-quota-limitsmaxconnections).',
        },
        restLeaseBlock: {
          type: 'integer',
          minimum: 1,
          default: 64,
          'x-unit': 'requests',
          description: "REST requests a node takes from an app's cluster-wide rate window at once (at most a sixteenth of the limit). Unused ones lapse with the window. 1: every request is one round trip.",
        },
      },
    },
    backpressure: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Publishers are pushed back (503 with Retry-After) while any node delivers too late (docs/scaling.md#quotas-and-backpressure).',
      properties: {
        maxLagMs: {
          type: 'integer',
          minimum: 0,
          default: 2000,
          'x-unit': 'ms',
          description: "Largest delivery lag of any node (publish → the frames handed to the kernel on that node, a backlog waiting there, or its event-loop delay; the level held for 0.5 s of the last 1.5 s) past which publishes are refused with 503 `RC_ERR_PUBLISH_BACKPRESSURE`. 0 disables.",
        },
        reportIntervalMs: { type: 'integer', minimum: 50, default: 250, 'x-unit': 'ms', description: "How often each node shares its lag through the backend and reads the cluster's." },
        countSilentNodes: {
          type: 'boolean',
          default: false,
          description:
            'Also count a node that stopped reporting (stopped or starved, until its heartbeat expires) as lagging by its silence past three report intervals (at least 2 s). Off by default: a node that crashed would then push publishers back until `node.heartbeatTtlMs` passes.',
        },
      },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Prometheus metrics (`GET /metrics`) and the cluster figures of `/stats`.',
      properties: {
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 0, 'x-unit': 'port', description: 'Serve `GET /metrics` on this port only (a listener of its own on `server.host`, plain HTTP), so it can stay off the public port. 0: on the main port, beside `/stats`.' },
        statsIntervalMs: { type: 'integer', minimum: 100, default: 1000, 'x-unit': 'ms', description: 'How often each node writes its figures to the backend for `/stats` (the cluster sums are this fresh).' },
      },
    },
    console: consoleSchema,
    spaces: {
      type: 'array',
      default: [],
      description: 'Bot API spaces: each belongs to an app and has rooms (with room codes) and bots (with API tokens).',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'app'],
        properties: {
          id: { type: 'string', pattern: idPattern, description: 'Space id.' },
          app: { type: 'string', description: 'The app whose channel space the rooms live in.' },
          running: { type: 'boolean', default: true, description: 'A space that is not running answers bot logins with 503.' },
          rooms: {
            type: 'array',
            default: [],
            description: 'Rooms bots can log into.',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['id', 'code'],
              properties: {
                id: { type: 'string', pattern: idPattern, description: 'Room id, unique in its space.' },
                code: { type: 'string', minLength: 1, description: 'The room code a bot logs in with, different from every other room code and bot token. Never logged; stored as a digest.' },
                // core/rooms.ts checks the same prefix for rooms added at run time.
                channel: { type: 'string', minLength: 1, maxLength: 200, pattern: '^presence-', description: "The room's channel: a presence channel, whose joins and leaves are the room's Join/Exit. Default `presence-room-{space}-{room}`." },
              },
            },
          },
          bots: {
            type: 'array',
            default: [],
            description: 'Bots of the space.',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['id', 'token'],
              properties: {
                id: { type: 'string', pattern: idPattern, description: 'Bot id, unique in its space, shown as `senderID`.' },
                token: { type: 'string', minLength: 1, description: "The bot's API token, different from every other bot token and room code. Never logged; stored as a digest." },
                displayName: { type: 'string', minLength: 1, description: 'Shown as `senderDisplayName`. Default: the id.' },
              },
            },
          },
        },
      },
    },
  },
} as const;
