/**
 * `GET /stats`: a small JSON snapshot for dashboards and operators:
 *   { node, uptime_sec, memory_rss_bytes, apps: [ { id, enabled, occupied_channels, subscriptions } ] }
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

export async function statsRoutes(app: FastifyInstance, options: { core: Core }): Promise<void> {
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
      uptime_sec: Math.floor((Date.now() - startedAt) / 1000),
      memory_rss_bytes: process.memoryUsage.rss(),
      apps,
    };
  });
}
