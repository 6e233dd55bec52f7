/**
 * Issue 18: an app's connection quota is cluster-wide. Quota 100 over 3 real node
 * processes on one redis-server: 100 connections spread over the nodes are admitted,
 * the 101st is refused on every node with Pusher 4004 (over quota); closing one frees a
 * unit for a new connection on any node; a killed node's connections free up once its
 * lease expires with its heartbeat TTL. REST rate limits are shared the same way.
 *
 * QUOTA_TEST_REPO=/path runs the same test against another checkout (to see it fail there).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, writeConfigFile, type ConfigFile, type ServerProcess } from '../helpers/server-process.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

const repo = process.env.QUOTA_TEST_REPO ?? new URL('../../', import.meta.url).pathname;
const QUOTA = 100;
const LIMITED = { id: 'app-q', key: 'key-q', secret: 'secret-q', limits: { maxConnections: QUOTA, restRequestsPerWindow: 0 } };
const RATED = { id: 'app-r', key: 'key-r', secret: 'secret-r', limits: { restRequestsPerWindow: 30, restWindowMs: 60_000 } };

describe('issue 18: cluster-wide quotas over 3 node processes', () => {
  let redis: TestRedis;
  let file: ConfigFile | undefined;
  const nodes: ServerProcess[] = [];
  const clients: { client: RawPusherClient; node: number }[] = [];

  before(async () => {
    redis = await startRedis();
    const config = {
      server: { host: '127.0.0.1', port: 0 },
      log: { level: 'info' },
      // Leases live for the heartbeat TTL: generous, so a start-up stall on a loaded machine does not lapse them.
      node: { heartbeatIntervalMs: 500, heartbeatTtlMs: 8000 },
      bots: { cookieSecret: 'quota-test-cookie-secret', maxEventLoopDelayMs: 0 },
      backend: { redis: { keyPrefix: 'q18:' } },
      apps: [LIMITED, RATED],
    };
    file = writeConfigFile(config, 'rc-quotas-');
    const { configPath } = file;
    nodes.push(...(await Promise.all([0, 1, 2].map(() => startNodeProcess(configPath, { cwd: repo, env: { REDIS_URL: redis.url } })))));
  });

  after(async () => {
    for (const { client } of clients) client.ws.terminate();
    await Promise.all(nodes.map((node) => node.stop()));
    await redis?.stop();
    file?.remove();
  });

  /** Connects; resolves after `connection_established` or a refusal (generous deadline: the machine is shared). */
  async function connect(node: number): Promise<RawPusherClient> {
    const client = await RawPusherClient.connect(nodes[node]!.port, LIMITED.key, undefined, 20_000);
    return client;
  }

  async function assertRefused(node: number): Promise<void> {
    const refused = await connect(node);
    assert.equal(refused.socketId, '', `node ${node} admitted a connection past the quota`);
    const error = await refused.next((frame) => frame.event === 'pusher:error');
    assert.equal((error.data as { code: number }).code, 4004);
    assert.equal((await refused.closed).code, 4004);
  }

  test('100 connections over 3 nodes are admitted; the 101st is refused with 4004 on every node', async () => {
    // Ten at a time, round robin over the nodes.
    for (let batch = 0; batch < QUOTA / 10; batch++) {
      const opened = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const node = (batch * 10 + i) % 3;
          return { client: await connect(node), node };
        }),
      );
      clients.push(...opened);
    }
    assert.equal(clients.filter(({ client }) => client.socketId !== '').length, QUOTA, 'all 100 admitted');
    for (const node of [0, 1, 2]) await assertRefused(node);
  });

  test('closing one connection frees a unit for a new one on any node', async () => {
    for (const node of [2, 0, 1]) {
      const index = clients.findIndex((entry) => entry.node !== node);
      const [{ client }] = clients.splice(index, 1) as [{ client: RawPusherClient; node: number }];
      client.close();
      await client.closed;
      const fresh = await connect(node);
      assert.match(fresh.socketId, /^\d+\.\d+$/, `node ${node} admits a connection after a close elsewhere`);
      clients.push({ client: fresh, node });
      await assertRefused((node + 1) % 3);
    }
  });

  test("a killed node's connections free up within its heartbeat TTL", async () => {
    const victim = 1;
    const lost = clients.filter((entry) => entry.node === victim).length;
    assert.ok(lost > 0);
    await nodes[victim]!.kill();
    const admitted: RawPusherClient[] = [];
    await waitUntil(
      async () => {
        const fresh = await connect(0);
        if (fresh.socketId === '') return false;
        admitted.push(fresh);
        clients.push({ client: fresh, node: 0 });
        return admitted.length === lost;
      },
      30_000,
      `${lost} connections admitted after the node died`,
    );
    await assertRefused(2);
  });

  test('the REST rate limit is shared by the nodes: 30 per window across 3 nodes, then 429', async () => {
    const live = [0, 2];
    const path = `/apps/${RATED.id}/channels`;
    const call = (node: number) => signedCall(nodes[node]!.url, 'GET', path, { key: RATED.key, secret: RATED.secret });
    for (let i = 0; i < RATED.limits.restRequestsPerWindow; i++) assert.equal((await call(live[i % 2]!)).status, 200, `request ${i + 1}`);
    for (const node of live) {
      const limited = await call(node);
      assert.equal(limited.status, 429);
      assert.equal(limited.json.code, 'RC_ERR_RATE_LIMITED');
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    }
  });
});
