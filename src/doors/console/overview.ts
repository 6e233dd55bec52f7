/**
 * The overview page's data: nodes, connections per door, publish and delivery rates,
 * backend health and queue depths, and per-app channel totals.
 *
 * The page depends only on `OverviewSource`; `ClusterOverview` builds it today from the
 * per-node reports (node-reports.ts), the core's channel counts and the backend ping.
 * A richer source (cluster-wide metrics, queue depths from the webhook and push queues)
 * replaces the implementation, not the page. A figure nobody measures yet is `null`, and
 * the page says "not reported" rather than showing a zero.
 */
import type { Core } from '../../core/core.ts';
import type { NodeReport, NodeReporter } from './node-reports.ts';

export interface NodeView extends NodeReport {
  /** Milliseconds since the node last reported (its heartbeat as the console sees it). */
  readonly heartbeatAgeMs: number;
  /** True for the node serving this page. */
  readonly self: boolean;
}

export interface AppView {
  readonly id: string;
  readonly enabled: boolean;
  readonly occupiedChannels: number;
  readonly subscriptions: number;
}

export interface Overview {
  readonly generatedAt: number;
  readonly backend: { readonly driver: string; readonly ok: boolean; readonly latencyMs: number | null; readonly error?: string };
  readonly nodes: readonly NodeView[];
  readonly totals: {
    readonly connections: { readonly ws: number; readonly bayeuxLongPolls: number };
    /** Cluster-wide, by door: summed over the nodes' reports (each publish is counted by the node that took it). */
    readonly publishesPerSec: Readonly<Record<string, number>>;
    /** Summed over the nodes' reports. */
    readonly deliveriesPerSec: number;
  };
  /** Jobs waiting per queue; null while no source measures it. */
  readonly queues: { readonly push: number | null; readonly webhooks: number | null };
  readonly apps: readonly AppView[];
}

export interface OverviewSource {
  overview(): Promise<Overview>;
  /** Marks the overview as watched (nodes report while it is); returns the function that ends it. */
  watch(): () => void;
}

/** Queue depths, when something measures them (the push and webhook queues' owners). */
export type QueueDepths = () => Promise<{ push: number | null; webhooks: number | null }>;

export class ClusterOverview implements OverviewSource {
  constructor(
    private readonly core: Core,
    private readonly reporter: NodeReporter,
    private readonly queueDepths: QueueDepths = async () => ({ push: null, webhooks: null }),
  ) {}

  watch(): () => void {
    return this.reporter.watch();
  }

  async overview(): Promise<Overview> {
    const now = Date.now();
    const [backend, reports, apps, queues] = await Promise.all([
      this.reporter.ping(),
      this.reporter.reports().catch(() => [] as NodeReport[]),
      Promise.all(this.core.apps.all().map((app) => this.appView(app.id, app.enabled))),
      this.queueDepths().catch(() => ({ push: null, webhooks: null })),
    ]);
    const nodes: NodeView[] = reports.map((report) => ({ ...report, heartbeatAgeMs: Math.max(0, now - report.reportedAt), self: report.node === this.core.nodeId }));
    let ws = 0;
    let bayeuxLongPolls = 0;
    let deliveriesPerSec = 0;
    const publishesPerSec: Record<string, number> = {};
    for (const node of nodes) {
      ws += node.connections.ws;
      bayeuxLongPolls += node.connections.bayeuxLongPolls;
      deliveriesPerSec += node.deliveriesPerSec;
      // Each publish is counted by the node that took it.
      for (const [door, rate] of Object.entries(node.publishesPerSec)) publishesPerSec[door] = Math.round(((publishesPerSec[door] ?? 0) + rate) * 10) / 10;
    }
    return {
      generatedAt: now,
      backend: { driver: this.core.backend.driver, ...backend },
      nodes,
      totals: { connections: { ws, bayeuxLongPolls }, publishesPerSec, deliveriesPerSec: Math.round(deliveriesPerSec * 10) / 10 },
      queues,
      apps,
    };
  }

  private async appView(id: string, enabled: boolean): Promise<AppView> {
    const channels = await this.core.listChannels(id).catch(() => new Map<string, number>());
    let subscriptions = 0;
    for (const count of channels.values()) subscriptions += count;
    return { id, enabled, occupiedChannels: channels.size, subscriptions };
  }
}
