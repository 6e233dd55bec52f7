/**
 * The webhook endpoints of every app, resolved once from the config: which endpoints want
 * an event (its type and its channel's name), and the ordered lane each event goes to.
 *
 * Lanes: every endpoint has `lanesPerEndpoint` lanes, named `{appId}|{endpointId}|{n}`.
 * An event goes to lane `hash(partition key) mod lanes` of each endpoint that wants it;
 * the partition key is the channel name (the user id for `user_online`/`user_offline`),
 * so every event of one channel takes the same lane, in the order it was recorded.
 * A lane is drained by one delivery at a time, so the lane count bounds the requests one
 * endpoint receives at once, cluster-wide.
 *
 * `endpointId` is derived from the URL (and its position among endpoints with the same
 * URL), so it is the same on every node and across restarts with the same config. A
 * config reload replaces the endpoints (`update`); events already waiting in the lane of
 * an endpoint that is gone are dead-lettered by the dispatcher.
 */
import { createHash } from 'node:crypto';
import type { AppConfig, WebhookEndpointConfig, WebhookEventType } from '../config/schema.ts';

/** One configured endpoint, ready to match and address. */
export interface Endpoint {
  readonly appId: string;
  readonly id: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly eventTypes: ReadonlySet<WebhookEventType>;
  readonly startsWith: string;
  readonly endsWith: string;
  readonly laneCount: number;
}

export class WebhookEndpoints {
  private byApp = new Map<string, readonly Endpoint[]>();
  private byId = new Map<string, Endpoint>();
  /** `{appId}\n{type}` of the event types some endpoint of the app wants. */
  private wanted = new Set<string>();

  constructor(
    apps: readonly AppConfig[],
    private readonly laneCount: number,
  ) {
    this.update(apps);
  }

  /** Replaces every endpoint with those of `apps` (a config reload). */
  update(apps: readonly AppConfig[]): void {
    const laneCount = this.laneCount;
    this.byApp = new Map();
    this.byId = new Map();
    this.wanted = new Set();
    for (const app of apps) {
      const seen = new Map<string, number>();
      const endpoints = app.webhooks.map((config) => {
        const occurrence = seen.get(config.url) ?? 0;
        seen.set(config.url, occurrence + 1);
        return resolveEndpoint(app.id, config, occurrence, laneCount);
      });
      this.byApp.set(app.id, endpoints);
      for (const endpoint of endpoints) {
        this.byId.set(`${app.id}|${endpoint.id}`, endpoint);
        for (const type of endpoint.eventTypes) this.wanted.add(`${app.id}\n${type}`);
      }
    }
  }

  /** True when any endpoint of the app wants events of this type (whatever the channel). Cheap: one Set lookup. */
  wants(appId: string, type: WebhookEventType): boolean {
    return this.wanted.has(`${appId}\n${type}`);
  }

  /** True when any app has an endpoint. */
  get any(): boolean {
    return this.byId.size > 0;
  }

  /** The apps with at least one endpoint. */
  appIds(): string[] {
    return [...this.byApp].filter(([, endpoints]) => endpoints.length > 0).map(([id]) => id);
  }

  /**
   * The lanes an event goes to: one per endpoint that wants its type and whose filter
   * accepts the channel (`channel` undefined: events with no channel pass every filter).
   */
  lanesFor(appId: string, type: WebhookEventType, channel: string | undefined, partitionKey: string): string[] {
    const endpoints = this.byApp.get(appId);
    if (endpoints === undefined) return [];
    const lanes: string[] = [];
    for (const endpoint of endpoints) {
      if (!endpoint.eventTypes.has(type)) continue;
      if (channel !== undefined && !(channel.startsWith(endpoint.startsWith) && channel.endsWith(endpoint.endsWith))) continue;
      lanes.push(laneName(endpoint, partitionOf(partitionKey, endpoint.laneCount)));
    }
    return lanes;
  }

  /** The endpoint a lane belongs to, or undefined when it is no longer configured. */
  endpointOfLane(lane: string): Endpoint | undefined {
    const at = lane.lastIndexOf('|');
    return at < 0 ? undefined : this.byId.get(lane.slice(0, at));
  }
}

/** `{appId}|{endpointId}|{partition}`; neither part holds `|` (app ids are `[A-Za-z0-9_.-]`). */
export function laneName(endpoint: Endpoint, partition: number): string {
  return `${endpoint.appId}|${endpoint.id}|${partition}`;
}

/** FNV-1a of the key's UTF-16 code units, mod `count`: the same on every node. */
export function partitionOf(key: string, count: number): number {
  if (count <= 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % count;
}

function resolveEndpoint(appId: string, config: WebhookEndpointConfig, occurrence: number, laneCount: number): Endpoint {
  const id = createHash('sha256').update(`${config.url}\n${occurrence}`).digest('hex').slice(0, 12);
  return {
    appId,
    id,
    url: config.url,
    headers: { ...(config.headers ?? {}) },
    eventTypes: new Set(config.event_types),
    startsWith: config.filter?.channel_name_starts_with ?? '',
    endsWith: config.filter?.channel_name_ends_with ?? '',
    laneCount,
  };
}
