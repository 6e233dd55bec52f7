/**
 * `GET /stats`: cluster-wide figures for dashboards and operators (see
 * core/cluster-stats.ts for where each comes from):
 *   { node, config_hash, config_restart_pending, uptime_sec, memory_rss_bytes, nodes,
 *     apps: [ { id, enabled, occupied_channels, subscriptions,
 *               connections: { ws, bayeux_sessions, bayeux_held_polls }, presence_members,
 *               messages_published: { total, rest, ws, bayeux, internal }, client_events } ] }
 * `config_hash` fingerprints the config this node runs (defaults and env included): nodes
 * of one deployment that disagree show different hashes. `config_restart_pending` lists
 * settings changed by a reload that wait for a restart.
 * No channel or user names are exposed. Like /metrics it is unsigned: keep it off the
 * public network. The signed per-app route (`GET /apps/{app_id}/stats`) serves one app's entry.
 */
import type { FastifyInstance } from 'fastify';
import { clusterStatsOf } from '../core/cluster-stats.ts';
import type { Core } from '../core/core.ts';

const startedAt = Date.now();

export interface StatsOptions {
  readonly core: Core;
  /** The running config's hash and the settings waiting for a restart (ops/reload.ts). */
  readonly configState?: () => { readonly hash: string; readonly restartPending: readonly string[] };
}

export async function statsRoutes(app: FastifyInstance, options: StatsOptions): Promise<void> {
  const { core } = options;
  app.get('/stats', async () => {
    const report = await clusterStatsOf(core).read();
    return {
      node: core.nodeId,
      config_hash: options.configState?.().hash ?? null,
      config_restart_pending: options.configState?.().restartPending ?? [],
      uptime_sec: Math.floor((Date.now() - startedAt) / 1000),
      memory_rss_bytes: process.memoryUsage.rss(),
      nodes: report.nodes,
      apps: report.apps,
    };
  });
}
