/**
 * `GET /stats`: a small JSON snapshot for dashboards and operators:
 *   { node, config_hash, config_restart_pending, uptime_sec, memory_rss_bytes, apps: [ { id, enabled, occupied_channels, subscriptions } ] }
 * `config_hash` fingerprints the config this node runs (defaults and env included): nodes
 * of one deployment that disagree show different hashes. `config_restart_pending` lists
 * settings changed by a reload that wait for a restart.
 * Channel counts come from the backend, so they are cluster-wide; no channel or user
 * names are exposed. Like /metrics it is unsigned: keep it off the public network.
 */
import type { FastifyInstance } from 'fastify';
import type { Core } from '../core/core.ts';

export interface AppStats {
  readonly id: string;
  readonly enabled: boolean;
  readonly occupied_channels: number;
  readonly subscriptions: number;
}

const startedAt = Date.now();

export interface StatsOptions {
  readonly core: Core;
  /** The running config's hash and the settings waiting for a restart (ops/reload.ts). */
  readonly configState?: () => { readonly hash: string; readonly restartPending: readonly string[] };
}

export async function statsRoutes(app: FastifyInstance, options: StatsOptions): Promise<void> {
  const { core } = options;
  app.get('/stats', async () => {
    const apps: AppStats[] = await Promise.all(
      core.apps.all().map(async (config) => {
        const channels = await core.listChannels(config.id);
        let subscriptions = 0;
        let occupied = 0;
        for (const count of channels.values()) {
          if (count <= 0) continue;
          occupied++;
          subscriptions += count;
        }
        return { id: config.id, enabled: config.enabled, occupied_channels: occupied, subscriptions };
      }),
    );
    return {
      node: core.nodeId,
      config_hash: options.configState?.().hash ?? null,
      config_restart_pending: options.configState?.().restartPending ?? [],
      uptime_sec: Math.floor((Date.now() - startedAt) / 1000),
      memory_rss_bytes: process.memoryUsage.rss(),
      apps,
    };
  });
}
