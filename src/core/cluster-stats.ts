/**
 * Cluster-wide figures for `/stats` and the signed per-app stats route, summed from every
 * live node through the backend:
 *
 * - each node writes a snapshot of its own figures (connections per door, subscriptions,
 *   presence memberships, messages published per door, client events) every
 *   `metrics.statsIntervalMs` into one backend hash (`stats:nodes`, field = its `node.id`),
 *   stamped with its time and its registration id; a snapshot older than
 *   `node.heartbeatTtlMs` is a dead node's and is ignored (and removed by the next
 *   reader), so a node's figures leave the sum when its heartbeat would;
 * - one snapshot per node id counts, the latest written: a node that registers again
 *   (dropped after a stall, or Redis lost its data) keeps its counters and its field, so
 *   it is never counted twice and its totals never go back; a node restarted under the
 *   same id replaces its dead incarnation's figures at its first write. (A field named by
 *   a registration id, `<node.id>#<suffix>`, as older versions wrote, counts as that
 *   node's, so a rolling upgrade counts no node twice either.);
 * - a reader sums the fresh snapshots, using this node's live figures for itself;
 * - subscriptions and occupied channels come from the backend's occupancy counts, the
 *   same source as the channel API, so the two always agree.
 *
 * The figures are the ones `/metrics` exposes per node (core/counters.ts), so `/stats`
 * equals `/metrics` summed over nodes once every node has written its snapshot (within
 * `statsIntervalMs`).
 */
import type { HashStore } from '../backends/ports.ts';
import { streamKey } from './channels.ts';
import type { Core } from './core.ts';
import { countersOf, type NodeCounters } from './counters.ts';
import { ORIGINS } from './types.ts';

const STATS_KEY = 'stats:nodes';
/** Doors whose publishes are counted (`internal`: the server's own, e.g. presence history). */
const PUBLISH_DOORS = ORIGINS;

/** One app's figures on one node (the snapshot's unit). */
export interface NodeAppFigures {
  ws_connections: number;
  bayeux_sessions: number;
  bayeux_held_polls: number;
  subscriptions: number;
  presence_members: number;
  messages_published: Record<(typeof PUBLISH_DOORS)[number], number>;
  client_events: number;
}

interface NodeSnapshot {
  /** Writer's clock, ms since the epoch. */
  readonly at: number;
  /** The writer's `node.id` (absent in snapshots older versions wrote: the field then names it). */
  readonly node?: string;
  /** The writer's registration id when it wrote (which incarnation, for an operator reading the hash). */
  readonly registration?: string;
  readonly apps: Readonly<Record<string, NodeAppFigures>>;
}

/** One app's cluster-wide figures. */
export interface AppClusterStats {
  readonly id: string;
  readonly enabled: boolean;
  /** From the backend's occupancy counts (what the channel API answers). */
  readonly occupied_channels: number;
  readonly subscriptions: number;
  /** Summed over the nodes' snapshots. */
  readonly connections: { readonly ws: number; readonly bayeux_sessions: number; readonly bayeux_held_polls: number };
  readonly presence_members: number;
  readonly messages_published: { readonly total: number } & Readonly<Record<(typeof PUBLISH_DOORS)[number], number>>;
  readonly client_events: number;
}

export interface ClusterStatsReport {
  /** Nodes whose snapshot is fresh (this one included). */
  readonly nodes: number;
  readonly apps: AppClusterStats[];
}

export class ClusterStats {
  private readonly counters: NodeCounters;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly core: Core,
    private readonly now: () => number = Date.now,
  ) {
    this.counters = countersOf(core);
  }

  private get hashes(): HashStore | undefined {
    return this.core.backend.hashes;
  }

  /** Starts writing this node's snapshot every `metrics.statsIntervalMs`. */
  start(): void {
    if (this.timer !== null || this.hashes === undefined) return;
    const write = (): void => void this.writeSnapshot().catch(() => undefined);
    write();
    this.timer = setInterval(write, this.core.config.metrics.statsIntervalMs);
    this.timer.unref();
  }

  /** Stops writing and removes this node's snapshot (its figures leave the sum at once). */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.hashes?.remove(STATS_KEY, this.core.nodeId).catch(() => false);
  }

  /** Writes this node's snapshot now (under its node id, whatever its registration). */
  async writeSnapshot(): Promise<void> {
    const snapshot: NodeSnapshot = { at: this.now(), node: this.core.nodeId, registration: this.core.registrationId, apps: Object.fromEntries(this.localFigures()) };
    await this.hashes?.set(STATS_KEY, this.core.nodeId, JSON.stringify(snapshot));
  }

  /** This node's figures per app, live. */
  localFigures(): Map<string, NodeAppFigures> {
    const counters = this.counters;
    const ws = counters.gauge('wsConnections');
    const sessions = counters.gauge('bayeuxSessions');
    const held = counters.gauge('bayeuxHeldPolls');
    const channels = counters.localChannels();
    const out = new Map<string, NodeAppFigures>();
    for (const app of this.core.apps.all()) {
      const local = channels.get(app.id);
      out.set(app.id, {
        ws_connections: ws.get(app.id) ?? 0,
        bayeux_sessions: sessions.get(app.id) ?? 0,
        bayeux_held_polls: held.get(app.id) ?? 0,
        subscriptions: local?.subscriptions ?? 0,
        presence_members: local?.presenceMembers ?? 0,
        messages_published: Object.fromEntries(PUBLISH_DOORS.map((door) => [door, counters.published.get(`${app.id}\n${door}`)])) as NodeAppFigures['messages_published'],
        client_events: counters.clientEvents.get(app.id),
      });
    }
    return out;
  }

  /** The cluster's figures, for every app or one. */
  async read(onlyApp?: string): Promise<ClusterStatsReport> {
    const snapshots = await this.freshSnapshots();
    const apps = this.core.apps.all().filter((app) => onlyApp === undefined || app.id === onlyApp);
    const report: AppClusterStats[] = [];
    for (const app of apps) {
      const channels = await this.core.backend.occupancy.list(streamKey(app.id, ''));
      let occupied = 0;
      let subscriptions = 0;
      for (const count of channels.values()) {
        if (count <= 0) continue;
        occupied++;
        subscriptions += count;
      }
      const sum = zeroFigures();
      for (const snapshot of snapshots) addFigures(sum, snapshot.apps[app.id]);
      const published = sum.messages_published;
      report.push({
        id: app.id,
        enabled: app.enabled,
        occupied_channels: occupied,
        subscriptions,
        connections: { ws: sum.ws_connections, bayeux_sessions: sum.bayeux_sessions, bayeux_held_polls: sum.bayeux_held_polls },
        presence_members: sum.presence_members,
        messages_published: { total: PUBLISH_DOORS.reduce((total, door) => total + published[door], 0), ...published },
        client_events: sum.client_events,
      });
    }
    return { nodes: snapshots.length, apps: report };
  }

  /**
   * One fresh snapshot per node id, the latest written; this node's replaced by its live
   * figures. Stale fields are removed.
   */
  private async freshSnapshots(): Promise<NodeSnapshot[]> {
    const ownId = this.core.nodeId;
    const own: NodeSnapshot = { at: this.now(), node: ownId, apps: Object.fromEntries(this.localFigures()) };
    if (this.hashes === undefined) return [own];
    const all = await this.hashes.getAll(STATS_KEY);
    const cutoff = this.now() - this.core.config.node.heartbeatTtlMs;
    const byNode = new Map<string, NodeSnapshot>([[ownId, own]]);
    for (const [field, text] of all) {
      let snapshot: NodeSnapshot;
      try {
        snapshot = JSON.parse(text) as NodeSnapshot;
      } catch {
        continue;
      }
      if (snapshot.at < cutoff) {
        await this.hashes.remove(STATS_KEY, field);
        continue;
      }
      const node = nodeIdOf(field, snapshot);
      if (node === ownId) continue;
      const kept = byNode.get(node);
      if (kept === undefined || snapshot.at > kept.at) byNode.set(node, snapshot);
    }
    return [...byNode.values()];
  }
}

/** The node a snapshot is of: its own `node`, else its field's (a node id, or a registration id `<node.id>#<suffix>`). */
function nodeIdOf(field: string, snapshot: NodeSnapshot): string {
  if (typeof snapshot.node === 'string') return snapshot.node;
  const hash = field.lastIndexOf('#');
  return hash > 0 ? field.slice(0, hash) : field;
}

function zeroFigures(): NodeAppFigures {
  return {
    ws_connections: 0,
    bayeux_sessions: 0,
    bayeux_held_polls: 0,
    subscriptions: 0,
    presence_members: 0,
    messages_published: Object.fromEntries(PUBLISH_DOORS.map((door) => [door, 0])) as NodeAppFigures['messages_published'],
    client_events: 0,
  };
}

function addFigures(sum: NodeAppFigures, figures: NodeAppFigures | undefined): void {
  if (figures === undefined) return;
  sum.ws_connections += figures.ws_connections ?? 0;
  sum.bayeux_sessions += figures.bayeux_sessions ?? 0;
  sum.bayeux_held_polls += figures.bayeux_held_polls ?? 0;
  sum.subscriptions += figures.subscriptions ?? 0;
  sum.presence_members += figures.presence_members ?? 0;
  for (const door of PUBLISH_DOORS) sum.messages_published[door] += figures.messages_published?.[door] ?? 0;
  sum.client_events += figures.client_events ?? 0;
}

const registry = new WeakMap<Core, ClusterStats>();

/** The cluster stats of a core (one per core), created on first use. */
export function clusterStatsOf(core: Core): ClusterStats {
  let stats = registry.get(core);
  if (stats === undefined) {
    stats = new ClusterStats(core);
    registry.set(core, stats);
  }
  return stats;
}
