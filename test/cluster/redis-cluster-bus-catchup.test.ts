/**
 * Issue 12 on a Redis Cluster: when a node's sharded subscriber connection drops (here by
 * `CLIENT KILL` on every master, as a master restart or a network cut would), ioredis opens
 * it again and renews the subscriptions, but what was published in between never reaches
 * the node by pub/sub. The bus reports `lost` and `resumed` as on a standalone Redis, and
 * the node catches its channels up from the log: a WebSocket subscriber on node A gets
 * every publish acknowledged through node B once and in order (or `recovery_failed`).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { BusMessage } from '../../src/backends/ports.ts';
import { createRedisBackend } from '../../src/backends/redis/index.ts';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { startCluster, type TestCluster } from '../helpers/redis-cluster.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

let cluster: TestCluster;
let nodeA: RunningApp;
let nodeB: RunningApp;
const clients: RawPusherClient[] = [];

before(async () => {
  cluster = await startCluster();
  const config = testConfig({
    backend: { driver: 'redis', redis: { cluster: { nodes: cluster.addresses }, keyPrefix: `k${Math.random().toString(36).slice(2, 8)}:` } },
    push: { workers: false },
  });
  nodeA = await startApp(config, 'node-a');
  nodeB = await startApp(config, 'node-b');
});
after(async () => {
  for (const client of clients) client.close();
  await nodeA?.close();
  await nodeB?.close();
  await cluster?.stop();
});

const LANES = 4;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Kills every sharded subscriber connection (both nodes') on every live cluster node; returns how many. */
async function killShardedSubscribers(): Promise<number> {
  let killed = 0;
  for (const node of cluster.nodes.filter((each) => each.alive())) {
    const admin = new Redis({ port: node.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await admin.connect();
      const list = (await admin.call('CLIENT', 'LIST')) as string;
      for (const line of list.split('\n')) {
        if (!line.includes('ssubscriber')) continue;
        const id = /(?:^| )id=(\d+)/.exec(line)?.[1];
        if (id !== undefined) killed += Number(await admin.call('CLIENT', 'KILL', 'ID', id));
      }
    } finally {
      admin.disconnect();
    }
  }
  return killed;
}

test('sharded subscriber connections killed under publish load: every acknowledged publish reaches the subscriber once, in order', async (t) => {
  const channel = 'cluster-load';
  const subscriber = await RawPusherClient.connect(nodeA.port);
  clients.push(subscriber);
  assert.equal((await subscriber.subscribe(channel)).event, 'pusher_internal:subscription_succeeded');

  const core = nodeB.app.core;
  const app = core.apps.requireEnabled('app-1');
  const acknowledged: number[] = [];
  let refused = 0;
  let stop = false;
  const lane = async (first: number): Promise<void> => {
    for (let n = first; !stop && n < 1_000_000; n += LANES) {
      try {
        await core.publish(app, [{ name: 'tick', channels: [channel], data: String(n), origin: 'rest' }]);
        acknowledged.push(n);
      } catch {
        refused++;
        await sleep(5);
      }
    }
  };
  const publishing = Promise.all(Array.from({ length: LANES }, (_, index) => lane(index + 1)));

  await sleep(300);
  let killed = 0;
  for (let round = 0; round < 5; round++) {
    killed += await killShardedSubscribers();
    await sleep(300);
  }
  await sleep(300);
  stop = true;
  await publishing;
  assert.ok(killed > 0, 'sharded subscriber connections were found and killed');

  const ticks = (): number[] => subscriber.frames.filter((frame) => frame.event === 'tick').map((frame) => Number(frame.data));
  const failed = (): boolean => subscriber.frames.some((frame) => frame.event === 'roomcast:recovery_failed');
  await waitUntil(() => failed() || new Set(ticks()).size >= new Set(acknowledged).size, 15_000, 'every acknowledged tick').catch(() => undefined);
  const got = ticks();
  t.diagnostic(`acknowledged ${acknowledged.length}, refused ${refused}, connections killed ${killed}, received ${got.length}, recovery_failed ${failed()}`);
  assert.equal(new Set(got).size, got.length, 'no publish delivered twice');
  for (let l = 0; l < LANES; l++) {
    const ofLane = got.filter((n) => n % LANES === (l + 1) % LANES);
    for (let i = 1; i < ofLane.length; i++) assert.ok(ofLane[i]! > ofLane[i - 1]!, `in order (${ofLane[i - 1]} then ${ofLane[i]})`);
  }
  if (!failed()) {
    const have = new Set(got);
    const missing = acknowledged.filter((n) => !have.has(n));
    assert.deepEqual(missing.slice(0, 20), [], `every acknowledged publish delivered (${missing.length} of ${acknowledged.length} missing)`);
  }
});

test('the bus tells lost, then resumed once every topic is subscribed again, when a sharded subscriber connection drops', async () => {
  const backend = createRedisBackend({ cluster: { nodes: cluster.addresses }, keyPrefix: 'lost-resumed:', commandTimeoutMs: 1000 }, pino({ level: 'silent' }));
  const told: BusMessage['kind'][] = [];
  backend.bus.setHandler((message) => {
    if (message.kind === 'lost' || message.kind === 'resumed') told.push(message.kind);
  });
  await backend.start();
  try {
    assert.equal(backend.bus.isSubscribed?.(), true);
    assert.ok((await killShardedSubscribers()) > 0);
    await waitUntil(() => told.at(-1) === 'resumed' && backend.bus.isSubscribed?.() === true, 15_000, 'resumed');
    // One connection per master was killed, one after the other: each may be its own outage.
    assert.ok(told.length >= 2, `told ${told.join(', ')}`);
    told.forEach((kind, index) => assert.equal(kind, index % 2 === 0 ? 'lost' : 'resumed', `told ${told.join(', ')}`));
  } finally {
    await backend.close?.();
  }
});
