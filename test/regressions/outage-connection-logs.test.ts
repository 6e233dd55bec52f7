/**
 * Connections that go away during a Redis outage are counted in the outage's closing line,
 * not warned about one by one: one node process on one Redis, 8 WebSockets each on 3
 * public channels (the app announces subscription counts) and a presence channel, Redis
 * SIGKILLed, every connection closed, Redis started again. The node's warn lines from the
 * kill to "redis is back" are the outage's own pair (and the repeated tasks' first
 * failures), however many connections left; the per-connection failures are in the
 * closing line's counts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { writeClusterConfig, type ClusterFiles } from '../helpers/cluster-processes.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, waitReady, type ServerProcess } from '../helpers/server-process.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

const CONNECTIONS = 8;
const PUBLIC_CHANNELS = ['outage-a', 'outage-b', 'outage-c'];

let redis: TestRedis;
let files: ClusterFiles;
let node: ServerProcess;

before(async () => {
  redis = await startRedis();
  files = writeClusterConfig(redis.url, { heartbeatIntervalMs: 1000, heartbeatTtlMs: 4000 });
  node = await startNodeProcess(files.configPath, { nodeId: 'outage-node', timeoutMs: 90_000 });
  await waitReady(node.url, 30_000);
});
after(async () => {
  await node?.stop();
  await redis?.stop();
  files?.remove();
});

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

const linesOf = (from: number): LogLine[] => node.logs.slice(from).map((text) => JSON.parse(text) as LogLine);

test('connections closed while Redis is away: no warn per connection, the outage closing line counts them', async () => {
  const clients: RawPusherClient[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const client = await RawPusherClient.connect(node.port);
    for (const channel of PUBLIC_CHANNELS) assert.equal((await client.subscribe(channel)).event, 'pusher_internal:subscription_succeeded');
    const joined = await client.subscribe('presence-outage', { user_id: `user-${i}`, user_info: {} });
    assert.equal(joined.event, 'pusher_internal:subscription_succeeded');
    clients.push(client);
  }
  const from = node.logs.length;
  await redis.kill();
  await waitUntil(() => linesOf(from).some((line) => line.msg.startsWith('redis is away')), 10_000, 'the outage to open');
  for (const client of clients) client.close();
  await Promise.all(clients.map((client) => client.closed));
  // Each close's clean-up runs (and fails) while Redis is away.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await redis.restart();
  await waitUntil(() => linesOf(from).some((line) => line.msg.startsWith('redis is back')), 20_000, 'the outage to close');

  const window = linesOf(from);
  const back = window.find((line) => line.msg.startsWith('redis is back'))!;
  const warns = window.slice(0, window.indexOf(back) + 1).filter((line) => line.level >= 40);
  const perMessage = new Map<string, number>();
  for (const line of warns) perMessage.set(line.msg, (perMessage.get(line.msg) ?? 0) + 1);
  const repeated = [...perMessage].filter(([, count]) => count > 1);
  assert.deepEqual(repeated, [], `no warn repeats during the outage; warns: ${JSON.stringify([...perMessage])}`);
  assert.ok(warns.length <= 6, `a handful of warns, not one per connection: ${JSON.stringify([...perMessage])}`);
  const counted = Object.entries(back).filter(([field, value]) => field !== 'awayMs' && typeof value === 'number' && field !== 'level' && field !== 'time' && field !== 'pid');
  const failedCleanUps = counted.reduce((sum, [, value]) => sum + (value as number), 0);
  assert.ok(failedCleanUps >= CONNECTIONS * PUBLIC_CHANNELS.length, `the closing line counts the failed clean-ups: ${JSON.stringify(back)}`);
});
