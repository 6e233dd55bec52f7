/**
 * pusher-js (unmodified, in Node) against roomcast's WebSocket door, with channel and
 * user auth made by the official `pusher` server SDK. Events are published through
 * the core here; pusher-sdk-to-pusher-js.test.ts triggers them with the SDK over REST.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PresenceChannel } from 'pusher-js';
import type { AppConfig } from '../../src/config/schema.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { nextEvent, pusherJsClient, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { waitUntil } from '../helpers/ws-client.ts';

describe('pusher-js peer', () => {
  let running: RunningApp;
  let app: AppConfig;
  const clients: PusherJs[] = [];
  async function client(options?: Parameters<typeof pusherJsClient>[1]): Promise<PusherJs> {
    const created = await pusherJsClient(running.port, options);
    clients.push(created);
    return created;
  }
  const publish = (channel: string, name: string, data: unknown): Promise<unknown> =>
    running.app.core.publish(app, [{ name, channels: [channel], data, origin: 'rest' }]);

  before(async () => {
    running = await startApp(testConfig());
    app = running.app.core.apps.findById(TEST_APP.id)!;
  });
  after(async () => {
    for (const created of clients) created.disconnect();
    await running.close();
  });

  test('public and private channels receive published events (JSON data parsed by pusher-js)', async () => {
    const pusher = await client();
    assert.match(pusher.connection.socket_id, /^\d+\.\d+$/);
    const publicChannel = await subscribed(pusher, 'ticker');
    const privateChannel = await subscribed(pusher, 'private-inbox');
    const onPublic = nextEvent<{ price: number }>(publicChannel, 'tick');
    const onPrivate = nextEvent<string>(privateChannel, 'mail');
    await publish('ticker', 'tick', { price: 42 });
    await publish('private-inbox', 'mail', 'plain text');
    assert.deepEqual((await onPublic).data, { price: 42 });
    assert.equal((await onPrivate).data, 'plain text');
  });

  test('presence: two users see each other, member_added/removed and the count', async () => {
    const ann = await client({ presence: { user_id: 'ann', user_info: { name: 'Ann' } } });
    const annChannel = (await subscribed(ann, 'presence-lobby')) as PresenceChannel;
    assert.equal(annChannel.members.count, 1);
    assert.deepEqual(annChannel.members.me, { id: 'ann', info: { name: 'Ann' } });

    const added = new Promise<{ id: string; info: unknown }>((resolve) => annChannel.bind('pusher:member_added', resolve));
    const ben = await client({ presence: { user_id: 'ben', user_info: { name: 'Ben' } } });
    const benChannel = (await subscribed(ben, 'presence-lobby')) as PresenceChannel;
    assert.equal(benChannel.members.count, 2);
    assert.deepEqual(benChannel.members.get('ann'), { id: 'ann', info: { name: 'Ann' } });
    assert.deepEqual(await added, { id: 'ben', info: { name: 'Ben' } });
    assert.equal(annChannel.members.count, 2);

    const removed = new Promise<{ id: string }>((resolve) => annChannel.bind('pusher:member_removed', resolve));
    ben.disconnect();
    assert.equal((await removed).id, 'ben');
    assert.equal(annChannel.members.count, 1);
  });

  test('cache channels: pusher:cache_miss on an empty channel, the last event otherwise', async () => {
    const first = await client();
    const missChannel = first.subscribe('cache-scores');
    const miss = new Promise<void>((resolve) => missChannel.bind('pusher:cache_miss', () => resolve()));
    await miss;
    await publish('cache-scores', 'score', { home: 1 });
    await publish('cache-scores', 'score', { home: 2 });
    const second = await client();
    const hitChannel = second.subscribe('cache-scores');
    const hit = await nextEvent<{ home: number }>(hitChannel, 'score');
    assert.deepEqual(hit.data, { home: 2 });
  });

  test('client events go to the other pusher-js client, never back to the sender', async () => {
    const alice = await client({ presence: { user_id: 'alice' } });
    const bob = await client({ presence: { user_id: 'bob' } });
    const aliceChannel = await subscribed(alice, 'presence-chat');
    const bobChannel = await subscribed(bob, 'presence-chat');
    let echoed = false;
    aliceChannel.bind('client-message', () => {
      echoed = true;
    });
    const received = nextEvent<{ text: string }>(bobChannel, 'client-message');
    assert.equal(aliceChannel.trigger('client-message', { text: 'hi bob' }), true);
    const { data, metadata } = await received;
    assert.deepEqual(data, { text: 'hi bob' });
    assert.deepEqual(metadata, { user_id: 'alice' });
    // A later event from bob reaches alice: by then alice's own event would have arrived.
    const back = nextEvent<{ text: string }>(aliceChannel, 'client-reply');
    bobChannel.trigger('client-reply', { text: 'hi alice' });
    assert.deepEqual((await back).data, { text: 'hi alice' });
    assert.equal(echoed, false);
  });

  test('user sign-in and server-to-user events', async () => {
    const pusher = await client({ user: { id: 'user-7', user_info: { plan: 'pro' } } });
    pusher.signin();
    const event = new Promise<unknown>((resolve) => pusher.user.bind('account-updated', resolve));
    await waitUntil(() => running.app.core.hub.userConnections(TEST_APP.id, 'user-7').length === 1, 5000, 'the sign-in');
    await running.app.core.sendToUser(TEST_APP.id, 'user-7', 'account-updated', JSON.stringify({ plan: 'team' }));
    assert.deepEqual(await event, { plan: 'team' });
    // terminate_connections (close 4009) is tested with raw clients: after a 4009, pusher-js
    // calls close() on its already-closed faye socket, which arms a 30 s timer that keeps
    // the test process alive; nothing the server can change.
  });
});
