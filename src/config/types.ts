/**
 * The configuration's TypeScript shape. What each field means, its default, unit and
 * environment variable are stated once, in `configSchema` (schema.ts: each field's
 * `description`, `default` and `x-unit`), which validates a file at start-up, feeds
 * `roomcast config check` and renders docs/configuration.md (`npm run docs:config`).
 */
import type { ConsoleConfig } from './console.ts';
import type { WebhookEventType } from './webhook-events.ts';

/** Per-app limits (`apps[].limits`). Pusher's published defaults where Pusher has one. */
export interface AppLimits {
  maxEventDataBytes: number;
  maxEventNameLength: number;
  maxChannelNameLength: number;
  maxChannelsPerEvent: number;
  maxBatchSize: number;
  restRequestsPerWindow: number;
  restWindowMs: number;
  clientEventsPerSecond: number;
  maxConnections: number;
  maxPresenceMembers: number;
  maxPresenceMemberBytes: number;
  maxWatchlistUsers: number;
}

/** History retention per channel (`apps[].history`). */
export interface HistoryRetention {
  maxCount: number;
  maxAgeSec: number;
  maxVersionsPerMessage: number;
  maxAnnotationsPerMessage: number;
}

/** One app (`apps[]`): a channel space with its own key and secret. */
export interface AppConfig {
  id: string;
  key: string;
  /** Never logged. */
  secret: string;
  enabled: boolean;
  clientEvents: boolean;
  idempotencyWindowSec: number;
  userAuthenticationTimeoutSec: number;
  watchlistEvents: boolean;
  subscriptionCountEvents: boolean;
  limits: AppLimits;
  history: HistoryRetention;
  webhooks: WebhookEndpointConfig[];
}

export type { WebhookEventType };

/** One webhook endpoint of an app (`apps[].webhooks[]`). */
export interface WebhookEndpointConfig {
  url: string;
  event_types: WebhookEventType[];
  filter?: { channel_name_starts_with?: string; channel_name_ends_with?: string };
  headers?: Record<string, string>;
}

export interface RoomConfig {
  id: string;
  code: string;
  channel?: string;
}

export interface BotConfig {
  id: string;
  token: string;
  displayName?: string;
}

export interface SpaceConfig {
  id: string;
  app: string;
  running: boolean;
  rooms: RoomConfig[];
  bots: BotConfig[];
}

export interface RedisConfig {
  /** A standalone Redis; with `cluster` or `sentinels`, only its credentials, db and TLS. Never logged with its password. */
  url?: string;
  cluster?: { nodes: string[] };
  /** Sentinel addresses, `host:port`. */
  sentinels?: string[];
  masterName?: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  /** Default `interest`: a node takes only its local subscribers' channels from the bus (docs/scaling.md). */
  routing?: 'broadcast' | 'interest';
  /** Default 128. */
  shards?: number;
  /** Default 0. */
  waitReplicas?: number;
  /** Default 500 (ms). */
  waitTimeoutMs?: number;
}

export interface BackendConfig {
  driver: 'memory' | 'redis';
  redis?: RedisConfig;
}

/** TLS on the main port (`server.tls`): file paths, re-read on SIGHUP and when they change. */
export interface TlsConfig {
  cert: string;
  key: string;
  ca?: string;
  /** Never logged. */
  passphrase?: string;
  watchIntervalMs: number;
}

export interface ServerConfig {
  host: string;
  port: number;
  trustedProxies: string[];
  bodyLimitBytes: number;
  shutdownGraceMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  tls?: TlsConfig;
  httpPort?: number;
}

export interface NodeConfig {
  id?: string;
  heartbeatIntervalMs: number;
  heartbeatTtlMs: number;
}

export interface WebSocketConfig {
  activityTimeoutSec: number;
  pongTimeoutSec: number;
  maxSubscriptionsPerConnection: number;
  maxFrameBytes: number;
  maxBufferedBytes: number;
  stallTimeoutMs: number;
}

export interface BotApiConfig {
  cookieSecret?: string;
  sessionGraceMs: number;
  connectTimeoutMs: number;
  maxSessions: number;
  maxEventLoopDelayMs: number;
  /** Event names a bot receives as `messageType: "Message"`. */
  chatEvents: string[];
  /** Bayeux channels or patterns whose subscribers receive the published data, not the bot envelope. */
  rawDataChannels: string[];
}

/** Push notifications (devices, publish, delivery workers). */
export interface PushConfig {
  workers: boolean;
  concurrency: number;
  apnsBaseUrl: string;
  fcmBaseUrl: string;
  providerTimeoutMs: number;
  maxPayloadBytes: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  retryAfterMaxMs: number;
  syncTimeoutMs: number;
  maxScheduleAheadSec: number;
  statusTtlSec: number;
  maxRecipients: number;
  webPushAllowHttp: boolean;
}

/** How webhooks are delivered (`webhookDelivery`). */
export interface WebhookDeliveryConfig {
  workers: boolean;
  concurrency: number;
  lanesPerEndpoint: number;
  batchSize: number;
  timeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  leaveDelayMs: number;
  deadLetterTtlSec: number;
  failoverMs: number;
}

/** Prometheus metrics and `/stats` (`metrics`). */
export interface MetricsConfig {
  port: number;
  statsIntervalMs: number;
}

/** Cluster-wide quotas (`quotas`). */
export interface QuotasConfig {
  connectionLeaseBlock: number;
  reclaimWaitMs: number;
  restLeaseBlock: number;
}

/** Publisher backpressure (`backpressure`). */
export interface BackpressureConfig {
  maxLagMs: number;
  reportIntervalMs: number;
  countSilentNodes: boolean;
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
  quotas: QuotasConfig;
  backpressure: BackpressureConfig;
  /** The operator console (its own block: console.ts). */
  console: ConsoleConfig;
}
