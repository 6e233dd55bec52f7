/**
 * Issue 18: a connection quota is refused only when the cluster really holds the quota,
 * however late a node answers the reclaim. Quota 40 over 3 real node processes on one
 * redis-server: node 2 holds one connection and a spare block, then is frozen (SIGSTOP)
 * while node 0 takes every other unit; node 0's next connection (the 39th) needs node 2's
 * spare, so it must wait for node 2's answer (the freeze lasts longer than any fixed
 * reclaim wait) rather than be refused. Once the cluster holds 40, the 41st is refused
 * with Pusher 4004 on every node at once, without waiting for anyone.
 *
 * QUOTA_TEST_REPO=/path runs the same test against another checkout (to see it fail there).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, writeConfigFile, type ConfigFile, type ServerProcess } from '../helpers/server-process.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';

const repo = process.env.QUOTA_TEST_REPO ?? new URL('../../', import.meta.url).pathname;
const QUOTA = 40;
const APP = { id: 'app-q', key: 'key-q', secret: 'secret-q', limits: { maxConnections: QUOTA, restRequestsPerWindow: 0 } };
/** How long node 2 stays frozen: longer than any fixed reclaim wait, well within the heartbeat TTL. */
const FREEZE_MS = 1500;
const HEARTBEAT_TTL_MS = 8000;

describe('issue 18: a refusal at the quota waits for a late node, never a fixed time', () => {
  let redis: TestRedis;
  let file: ConfigFile | undefined;
  const nodes: ServerProcess[] = [];
  const clients: RawPusherClient[] = [];

  before(async () => {
    redis = await startRedis();
    file = writeConfigFile(
      {
        server: { host: '127.0.0.1', port: 0 },
        log: { level: 'info' },
        node: { heartbeatIntervalMs: 500, heartbeatTtlMs: HEARTBEAT_TTL_MS },
        bots: { cookieSecret: 'quota-test-cookie-secret', maxEventLoopDelayMs: 0 },
        backend: { redis: { keyPrefix: 'q18r:' } },
        apps: [APP],
      },
      'rc-quota-reclaim-',
    );
    const { configPath } = file;
    nodes.push(...(await Promise.all([0, 1, 2].map(() => startNodeProcess(configPath, { cwd: repo, env: { REDIS_URL: redis.url } })))));
  });

  after(async () => {
    for (const node of nodes) if (node.child.exitCode === null) process.kill(node.pid, 'SIGCONT');
    for (const client of clients) client.ws.terminate();
    await Promise.all(nodes.map((node) => node.stop()));
    await redis?.stop();
    file?.remove();
  });

  async function connect(node: number): Promise<RawPusherClient> {
    const client = await RawPusherClient.connect(nodes[node]!.port, APP.key, undefined, 20_000);
    clients.push(client);
    return client;
  }

  async function admitted(node: number, what: string): Promise<void> {
    const client = await connect(node);
    assert.match(client.socketId, /^\d+\.\d+$/, `node ${node} refused ${what}`);
  }

  test('node 0 waits for frozen node 2 to give back its spare unit: the 39th of 40 is admitted', async () => {
    // Node 2 leases a block for its one connection (quota 40: blocks of 2), so it holds spare units.
    await admitted(2, 'the first connection');
    process.kill(nodes[2]!.pid, 'SIGSTOP');
    try {
      // Node 0 takes every unit node 2 does not hold: 37.
      for (let batch = 0; batch < 4; batch++) {
        await Promise.all(Array.from({ length: batch < 3 ? 10 : 7 }, (_, i) => admitted(0, `connection ${batch * 10 + i + 2}`)));
      }
      // The 39th needs node 2's spare: node 2 answers only when it runs again.
      const pending = connect(0);
      let settled = false;
      void pending.then(() => (settled = true));
      await Promise.race([pending, new Promise((resolve) => setTimeout(resolve, FREEZE_MS))]);
      assert.equal(settled && (await pending).socketId === '', false, 'node 0 refused the 39th connection while node 2 was frozen (before it could answer)');
      process.kill(nodes[2]!.pid, 'SIGCONT');
      const client = await pending;
      assert.match(client.socketId, /^\d+\.\d+$/, 'node 0 admits the 39th connection once node 2 gave back its spare');
    } finally {
      process.kill(nodes[2]!.pid, 'SIGCONT');
    }
  });

  test('at 40 connections the 41st is refused with 4004 on every node, without waiting', async () => {
    await admitted(1, 'the 40th connection');
    for (const node of [0, 1, 2]) {
      const started = Date.now();
      const refused = await connect(node);
      assert.equal(refused.socketId, '', `node ${node} admitted a connection past the quota`);
      const error = await refused.next((frame) => frame.event === 'pusher:error');
      assert.equal((error.data as { code: number }).code, 4004);
      assert.equal((await refused.closed).code, 4004);
      const ms = Date.now() - started;
      // Every holder's record is exact at the quota: no reclaim, no wait (a wait would last up to the heartbeat TTL).
      assert.ok(ms < HEARTBEAT_TTL_MS / 4, `node ${node} took ${ms} ms to refuse`);
    }
  });
});
