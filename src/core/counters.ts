/**
 * This node's operational counters, for `/metrics` (ops/metrics.ts) and the cluster
 * figures of `/stats` (each node writes a snapshot to the backend; see cluster-stats.ts).
 *
 * Hot paths (every publish, delivery, request) only add to plain numbers or to a Map
 * entry keyed by a short string (one lookup and an add); nothing here builds label
 * objects or touches prom-client. Label sets are bounded: app ids come from the config,
 * doors and outcomes from fixed lists, close codes from the protocol's ranges.
 *
 * Owned by one node (one per Core); gauges a door owns (its live connections) are read
 * through `sources` when a scrape or snapshot asks, never kept twice.
 */

/** Which front door a figure is about. */
export type DoorName = 'ws' | 'bayeux' | 'rest';

/** Counts per key; keys are built by the caller (`app`, or `app\n…`). */
export class CountMap {
  private readonly counts = new Map<string, number>();

  add(key: string, by = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + by);
  }

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  entries(): IterableIterator<[string, number]> {
    return this.counts.entries();
  }

  /** Sum of the keys that start with `{prefix}\n` (every sub-key of an app). */
  sumOf(prefix: string): number {
    let sum = 0;
    for (const [key, value] of this.counts) if (key === prefix || key.startsWith(`${prefix}\n`)) sum += value;
    return sum;
  }
}

/**
 * Fixed-bucket histogram: `observe` finds the bucket with a short loop (no allocation).
 * Bounds are upper bounds in the histogram's unit; values above the last go to +Inf.
 */
export class Buckets {
  /** Per bucket (not cumulative); the last is +Inf. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** Deliveries of one door. */
export interface DeliveryTally {
  messages: number;
  bytes: number;
}

/** Per-app counts a door reports when asked (its live connections). */
export type AppGauge = () => ReadonlyMap<string, number>;

/** One app's channels on this node. */
export interface LocalChannelFigures {
  /** Channels with at least one subscriber on this node. */
  readonly channels: number;
  /** Subscriptions of this node's connections (the cluster's total is the sum over nodes). */
  readonly subscriptions: number;
  /** Presence memberships of this node's connections. */
  readonly presenceMembers: number;
}

/** Publish → delivery latency buckets, in seconds. */
export const LATENCY_BUCKETS_SEC = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class NodeCounters {
  /** Gauges owned by doors, read at scrape or snapshot time. */
  readonly sources: {
    /** Open WebSocket connections per app. */
    wsConnections?: AppGauge;
    /** Live Bayeux clients (bot sessions connected to this node) per app. */
    bayeuxSessions?: AppGauge;
    /** /meta/connect long-polls held open per app. */
    bayeuxHeldPolls?: AppGauge;
    /** This node's channels with subscribers, subscriptions and presence memberships, per app. */
    localChannels?: () => ReadonlyMap<string, LocalChannelFigures>;
  } = {};

  /** WebSocket connections accepted, per app. */
  readonly wsOpened = new CountMap();
  /** WebSocket connections closed, per `app\ncode`. */
  readonly wsClosed = new CountMap();
  /** Channel messages this node published (one per channel), per `app\ndoor`. */
  readonly published = new CountMap();
  /** Client events this node accepted and published, per app. */
  readonly clientEvents = new CountMap();
  /**
   * Messages handed to subscribers and their bytes on the wire, per door. Plain fields: a
   * door increments them once per subscriber write, the fan-out's innermost loop.
   */
  readonly delivered: { readonly ws: DeliveryTally; readonly bayeux: DeliveryTally } = { ws: { messages: 0, bytes: 0 }, bayeux: { messages: 0, bytes: 0 } };
  /** Recoveries asked for on subscribe or reconnect, per `door\nok|failed`. */
  readonly recoveries = new CountMap();
  /** Requests refused to protect the node or an app, per `door\nreason` (rate_limited, shed, …). */
  readonly refusals = new CountMap();
  /** Heartbeats written, dead nodes this node reaped. */
  heartbeats = 0;
  reaps = 0;
  /** Seconds from the store's append time to this node's fan-out, once per message. */
  readonly deliveryLatency = new Buckets(LATENCY_BUCKETS_SEC);

  /** The gauge of a door per app (empty when the door is not installed). */
  gauge(source: 'wsConnections' | 'bayeuxSessions' | 'bayeuxHeldPolls'): ReadonlyMap<string, number> {
    return this.sources[source]?.() ?? new Map();
  }

  /** This node's channel figures per app (empty before the core registered its source). */
  localChannels(): ReadonlyMap<string, LocalChannelFigures> {
    return this.sources.localChannels?.() ?? new Map();
  }
}

const registry = new WeakMap<object, NodeCounters>();

/** The counters of a node (one per owner: the Core), created on first use. */
export function countersOf(owner: object): NodeCounters {
  let counters = registry.get(owner);
  if (counters === undefined) {
    counters = new NodeCounters();
    registry.set(owner, counters);
  }
  return counters;
}
