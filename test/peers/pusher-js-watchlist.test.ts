/**
 * Watchlist events with pusher-js (`pusher.user.watchlist.bind('online' | 'offline')`),
 * on two nodes sharing one Redis: a signed-in user learns the current state of the users
 * on its watchlist, then each change, wherever those users connect; a user with two
 * connections goes offline only when the last one closes; users of a node that dies
 * (its heartbeat expires) go offline when it is reaped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { onlineUserKey } from '../../src/core/online-users.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { pusherJsClient, type PusherJs } from '../helpers/pusher-peers.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

interface WatchlistEvent {
  readonly name: 'online' | 'offline';
  readonly user_ids: string[];
}

/** Records a pusher-js client's watchlist events and lets a test wait for one. */
class WatchlistRecorder {
  readonly events: WatchlistEvent[] = [];
  constructor(pusher: PusherJs) {
    for (const name of ['online', 'offline'] as const) pusher.user.watchlist.bind(name, (event: WatchlistEvent) => this.events.push(event));
  }
  async next(name: 'online' | 'offline', userId: string, timeoutMs = 5000): Promise<void> {
    await waitUntil(
      () => {
        const index = this.events.findIndex((event) => event.name === name && event.user_ids.includes(userId));
        if (index < 0) return false;
        this.events.splice(index, 1);
        return true;
      },
      timeoutMs,
      `${name} ${userId}`,
    );
  }
  /** True when an event for `userId` is still unread. */
  has(name: 'online' | 'offline', userId: string): boolean {
    return this.events.some((event) => event.name === name && event.user_ids.includes(userId));
  }
}

describe('watchlist events across two nodes', () => {
  let redis: TestRedis;
  let nodeA: RunningApp;
  let nodeB: RunningApp;
  const peers: PusherJs[] = [];

  before(async () => {
    redis = await startRedis();
    // Heartbeats every 100 ms reap the ghost node below quickly; the nodes' own TTL is long, so a stall of this process
    // (both nodes run in it) does not let one reap the other and take its users offline.
    const config = testConfig({ apps: [{ ...TEST_APP, watchlistEvents: true, limits: { maxWatchlistUsers: 3 } }], node: { heartbeatIntervalMs: 100, heartbeatTtlMs: 3000 } }, redis.url);
    nodeA = await startApp(config, 'watch-a');
    nodeB = await startApp(config, 'watch-b');
  });
  after(async () => {
    for (const peer of peers) peer.disconnect();
    await nodeA?.close();
    await nodeB?.close();
    await redis?.stop();
  });

  async function signIn(node: RunningApp, id: string, watchlist?: string[]): Promise<{ pusher: PusherJs; watch: WatchlistRecorder }> {
    const pusher = await pusherJsClient(node.port, { user: watchlist === undefined ? { id } : { id, watchlist } });
    peers.push(pusher);
    const watch = new WatchlistRecorder(pusher);
    pusher.signin();
    await waitUntil(() => node.app.core.hub.userConnections(TEST_APP.id, id).length > 0, 5000, `${id} signed in`);
    return { pusher, watch };
  }

  test('initial state, then online/offline as watched users come and go on the other node', async () => {
    const carol = await signIn(nodeB, 'carol');
    const alice = await signIn(nodeA, 'alice', ['bob', 'carol']);
    await alice.watch.next('online', 'carol');
    await alice.watch.next('offline', 'bob');

    const bob1 = await signIn(nodeB, 'bob');
    await alice.watch.next('online', 'bob');
    const bob2 = await signIn(nodeA, 'bob');
    bob1.pusher.disconnect();
    // bob is still connected on node A: no offline. A later change proves the quiet.
    carol.pusher.disconnect();
    await alice.watch.next('offline', 'carol');
    assert.equal(alice.watch.has('offline', 'bob'), false, 'bob went offline while still connected elsewhere');
    assert.equal(alice.watch.has('online', 'bob'), false, 'bob announced online twice');
    bob2.pusher.disconnect();
    await alice.watch.next('offline', 'bob');
  });

  test('users of a node whose heartbeat expired go offline when it is reaped', async () => {
    const erin = await signIn(nodeA, 'erin', ['dave']);
    await erin.watch.next('offline', 'dave');
    // A node that signed dave in and then died: its entry stays until the reaper sees it dead.
    const { backend } = nodeA.app;
    // Its TTL outlasts the join and the signal below on a loaded machine: reaped before the join, dave's entry would never be.
    await backend.nodes.heartbeat('ghost-node', 1500);
    await backend.presence.join(onlineUserKey(TEST_APP.id, 'dave'), { connectionId: '1.1', nodeId: 'ghost-node', userId: 'dave', userInfo: 'null' });
    await backend.bus.signal(JSON.stringify({ type: 'user_online', appId: TEST_APP.id, userId: 'dave', online: true }));
    await erin.watch.next('online', 'dave');
    await erin.watch.next('offline', 'dave', 10_000);
  });

  test('a watchlist past limits.maxWatchlistUsers: the first ids are watched and pusher:error 4302 says so', async () => {
    const raw = await RawPusherClient.connect(nodeA.port);
    const userData = JSON.stringify({ id: 'frank', watchlist: ['w1', 'w2', 'w3', 'w4', 'w5'] });
    const { createHmac } = await import('node:crypto');
    const auth = `${TEST_APP.key}:${createHmac('sha256', TEST_APP.secret).update(`${raw.socketId}::user::${userData}`).digest('hex')}`;
    raw.send({ event: 'pusher:signin', data: { auth, user_data: userData } });
    await raw.nextEvent('pusher:signin_success');
    const error = await raw.nextEvent('pusher:error');
    assert.equal((error.data as { code: number }).code, 4302);
    assert.equal((error.data as { rc_code: string }).rc_code, 'RC_ERR_WS_WATCHLIST_TOO_LONG');
    const initial = await raw.nextEvent('pusher_internal:watchlist_events');
    assert.equal(initial.channel, undefined);
    const data = JSON.parse(initial.data as string) as { events: WatchlistEvent[] };
    assert.deepEqual(data.events, [{ name: 'offline', user_ids: ['w1', 'w2', 'w3'] }]);
    raw.close();
  });
});

describe('watchlist events off (the default)', () => {
  test('no watchlist events and no online tracking', async () => {
    const running = await startApp(testConfig());
    try {
      const watcher = await pusherJsClient(running.port, { user: { id: 'ann', watchlist: ['ben'] } });
      const seen = new WatchlistRecorder(watcher);
      watcher.signin();
      await waitUntil(() => running.app.core.hub.userConnections(TEST_APP.id, 'ann').length > 0, 5000, 'sign-in');
      const ben = await pusherJsClient(running.port, { user: { id: 'ben' } });
      ben.signin();
      await waitUntil(() => running.app.core.hub.userConnections(TEST_APP.id, 'ben').length > 0, 5000, 'sign-in');
      assert.equal(await running.app.backend.presence.userCount(onlineUserKey(TEST_APP.id, 'ben')), 0);
      assert.deepEqual(seen.events, []);
      watcher.disconnect();
      ben.disconnect();
    } finally {
      await running.close();
    }
  });
});
