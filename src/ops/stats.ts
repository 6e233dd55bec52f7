/**
 * `GET /stats`: cluster-wide figures for dashboards and operators (see
 * core/cluster-stats.ts for where each comes from):
 *   { node, uptime_sec, memory_rss_bytes, nodes,
 *     apps: [ { id, enabled, occupied_channels, subscriptions,
 *               connections: { ws, bayeux_sessions, bayeux_held_polls }, presence_members,
 *               messages_published: { total, rest, ws, bayeux, internal }, client_events } ] }
 * No channel or user names are exposed. Like /metrics it is unsigned: keep it off the
 * public network. The signed per-app route (`GET /apps/{app_id}/stats`) serves one app's entry.
 */
import type { FastifyInstance } from 'fastify';
import { clusterStatsOf } from '../core/cluster-stats.ts';
import type { Core } from '../core/core.ts';

const startedAt = Date.now();

export async function statsRoutes(app: FastifyInstance, options: { core: Core }): Promise<void> {
  const { core } = options;
  app.get('/stats', async () => {
    const report = await clusterStatsOf(core).read();
    return {
      node: core.nodeId,
      uptime_sec: Math.floor((Date.now() - startedAt) / 1000),
      memory_rss_bytes: process.memoryUsage.rss(),
      nodes: report.nodes,
      apps: report.apps,
    };
  });
}
