/**
 * Metrics and stats after a scripted scenario on two nodes sharing one Redis: N WebSocket
 * connections, M publishes, K Bayeux sessions spread over the nodes. `/metrics` on each
 * node reports that node's part exactly, and `/stats` (on either node) the sums, which
 * also agree with the channel API.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { handshake, login } from '../helpers/bots.ts';
import { serverSdk } from '../helpers/pusher-peers.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';

let redis: TestRedis;
const nodes: RunningApp[] = [];
const clients: RawPusherClient[] = [];

/** Per node: WebSocket connections, REST publishes (each to one channel), Bayeux sessions. */
const PLAN = [
  { connections: 3, publishes: 4, sessions: 2 },
  { connections: 2, publishes: 5, sessions: 1 },
] as const;

before(async () => {
  redis = await startRedis();
  const config = testConfig({
    backend: { driver: 'redis', redis: { url: redis.url, keyPrefix: `mx${Math.random().toString(36).slice(2, 8)}:` } },
    metrics: { statsIntervalMs: 200 },
    // Logins are not shed for event-loop lag here: the machine may be busy with other tests.
    bots: { cookieSecret: 'metrics-cluster-cookie-secret', maxEventLoopDelayMs: 0 },
  });
  nodes.push(await startApp(config, 'node-a'), await startApp(config, 'node-b'));
});
after(async () => {
  for (const client of clients) client.close();
  for (const node of nodes) await node.close();
  await redis.stop();
});

/** The value of one series in a node's /metrics text (0 when absent). */
async function series(node: RunningApp, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function eventually(check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

test('each node\'s /metrics reports exactly its part; /stats the sums, agreeing with the channel API', async () => {
  for (const [index, plan] of PLAN.entries()) {
    const node = nodes[index]!;
    for (let i = 0; i < plan.connections; i++) {
      const client = await RawPusherClient.connect(node.port);
      clients.push(client);
      await client.subscribe(`metrics-${index}-${i % 2}`);
    }
    const sdk = serverSdk(node.port);
    for (let i = 0; i < plan.publishes; i++) assert.equal((await sdk.trigger(`metrics-${index}-0`, 'tick', { i })).status, 200);
    for (let i = 0; i < plan.sessions; i++) {
      const bot = await login(node.url);
      assert.equal(bot.status, 200, JSON.stringify(bot.body));
      await handshake(node.url, bot.cookie);
    }
  }
  const app = `app="${TEST_APP.id}"`;
  for (const [index, plan] of PLAN.entries()) {
    const node = nodes[index]!;
    assert.equal(await series(node, 'roomcast_ws_connections', app), plan.connections, `node ${index} ws connections`);
    assert.equal(await series(node, 'roomcast_ws_connections_opened_total', app), plan.connections);
    // Each bot client is a presence member of its room channel: one subscription too.
    assert.equal(await series(node, 'roomcast_subscriptions', app), plan.connections + plan.sessions, 'one subscription per connection and per bot client');
    assert.equal(await series(node, 'roomcast_messages_published_total', `${app},door="rest"`), plan.publishes, `node ${index} publishes`);
    assert.equal(await series(node, 'roomcast_bayeux_sessions', app), plan.sessions, `node ${index} bayeux sessions`);
    // Interest routing (the default): each node publishes to a channel subscribed on itself only.
    assert.equal(await series(node, 'roomcast_messages_received_total', app), plan.publishes, 'each node receives its subscribers\' channels only');
  }
  const totals = {
    ws: PLAN[0].connections + PLAN[1].connections,
    publishes: PLAN[0].publishes + PLAN[1].publishes,
    sessions: PLAN[0].sessions + PLAN[1].sessions,
  };
  const subscribers = (await signedCall(nodes[0]!.url, 'GET', `/apps/${TEST_APP.id}/channels`, { params: { info: 'subscription_count' } })).json.channels as Record<string, { subscription_count: number }>;
  const channelApiTotal = Object.values(subscribers).reduce((sum, channel) => sum + channel.subscription_count, 0);
  assert.equal(channelApiTotal, totals.ws + totals.sessions);
  for (const node of nodes) {
    await eventually(async () => {
      const stats = (await (await fetch(`${node.url}/stats`)).json()) as { nodes: number; apps: { id: string; subscriptions: number; occupied_channels: number; connections: { ws: number; bayeux_sessions: number }; messages_published: { total: number; rest: number } }[] };
      const entry = stats.apps.find((a) => a.id === TEST_APP.id)!;
      assert.equal(stats.nodes, 2);
      assert.equal(entry.connections.ws, totals.ws);
      assert.equal(entry.connections.bayeux_sessions, totals.sessions);
      assert.equal(entry.messages_published.rest, totals.publishes);
      assert.equal(entry.messages_published.total, totals.publishes);
      assert.equal(entry.subscriptions, channelApiTotal, 'the channel API and /stats agree');
      assert.equal(entry.occupied_channels, Object.keys(subscribers).length);
    });
  }
});

test('a node that stops leaves the sums at once', async () => {
  const node = nodes.pop()!;
  await node.close();
  await eventually(async () => {
    const stats = (await (await fetch(`${nodes[0]!.url}/stats`)).json()) as { nodes: number; apps: { id: string; connections: { ws: number } }[] };
    assert.equal(stats.nodes, 1);
    assert.equal(stats.apps.find((a) => a.id === TEST_APP.id)!.connections.ws, PLAN[0].connections);
  });
});
