/**
 * End to end with two real peers: the official `pusher` server SDK triggers over the
 * signed REST door, pusher-js receives over the WebSocket door. Covers trigger,
 * triggerBatch, cache channels (live, then replayed to a later subscriber), sendToUser,
 * socket_id exclusion, encrypted channels (payload passed untouched and decrypted by
 * pusher-js) and terminateUserConnections.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type Pusher from 'pusher';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { nextEvent, pusherJsClient, serverSdk, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

describe('pusher SDK → roomcast → pusher-js', () => {
  let running: RunningApp;
  let sdk: Pusher;
  const peers: PusherJs[] = [];
  async function peer(options?: Parameters<typeof pusherJsClient>[1]): Promise<PusherJs> {
    const created = await pusherJsClient(running.port, options);
    peers.push(created);
    return created;
  }
  before(async () => {
    running = await startApp(testConfig());
    sdk = serverSdk(running.port);
  });
  after(async () => {
    for (const created of peers) created.disconnect();
    await running.close();
  });

  test('trigger and triggerBatch reach pusher-js subscribers', async () => {
    const client = await peer({ presence: { user_id: 'u1' } });
    const news = await subscribed(client, 'news');
    const room = await subscribed(client, 'presence-room');
    const single = nextEvent<{ headline: string }>(news, 'breaking');
    const response = await sdk.trigger('news', 'breaking', { headline: 'roomcast ships' });
    assert.equal(response.status, 200);
    assert.deepEqual((await single).data, { headline: 'roomcast ships' });

    const first = nextEvent<string>(news, 'batch-1');
    const second = nextEvent<{ n: number }>(room, 'batch-2');
    await sdk.triggerBatch([
      { channel: 'news', name: 'batch-1', data: 'plain' },
      { channel: 'presence-room', name: 'batch-2', data: { n: 2 } },
    ]);
    assert.equal((await first).data, 'plain');
    assert.deepEqual((await second).data, { n: 2 });
  });

  test('trigger on a cache channel: live to subscribers, then replayed to a later pusher-js subscriber', async () => {
    const first = await peer();
    const channel = first.subscribe('cache-weather');
    await new Promise<void>((resolve) => channel.bind('pusher:cache_miss', () => resolve()));
    const live = nextEvent<{ sky: string }>(channel, 'forecast');
    assert.equal((await sdk.trigger('cache-weather', 'forecast', { sky: 'grey' })).status, 200);
    assert.deepEqual((await live).data, { sky: 'grey' });
    const latest = nextEvent<{ sky: string }>(channel, 'forecast');
    assert.equal((await sdk.trigger('cache-weather', 'forecast', { sky: 'blue' })).status, 200);
    assert.deepEqual((await latest).data, { sky: 'blue' });

    const later = await peer();
    const laterChannel = later.subscribe('cache-weather');
    let missed = false;
    laterChannel.bind('pusher:cache_miss', () => {
      missed = true;
    });
    const cached = await nextEvent<{ sky: string }>(laterChannel, 'forecast');
    assert.deepEqual(cached.data, { sky: 'blue' }, 'the last event, not the first');
    assert.equal(missed, false);
  });

  test('socket_id excludes the triggering connection only', async () => {
    const sender = await peer();
    const other = await peer();
    const senderChannel = await subscribed(sender, 'private-updates');
    const otherChannel = await subscribed(other, 'private-updates');
    let echoed = false;
    senderChannel.bind('update', () => {
      echoed = true;
    });
    const received = nextEvent(otherChannel, 'update');
    await sdk.trigger('private-updates', 'update', { v: 1 }, { socket_id: sender.connection.socket_id });
    await received;
    const marker = nextEvent(senderChannel, 'marker');
    await sdk.trigger('private-updates', 'marker', {});
    await marker;
    assert.equal(echoed, false);
  });

  test('encrypted channels: the SDK encrypts, roomcast passes it through, pusher-js decrypts', async () => {
    const client = await peer({ encryption: true });
    const channel = await subscribed(client, 'private-encrypted-vault');
    const received = nextEvent<{ secret: string }>(channel, 'sealed');
    const tap = new Promise<string>((resolve) => {
      const stop = running.app.core.tapMessages((message) => {
        if (message.channel === 'private-encrypted-vault') {
          stop();
          resolve(message.record.data);
        }
      });
    });
    await sdk.trigger('private-encrypted-vault', 'sealed', { secret: 'swordfish' });
    assert.deepEqual((await received).data, { secret: 'swordfish' });
    // What the server stored and fanned out is ciphertext, not the secret.
    const stored = JSON.parse(await tap) as { nonce: string; ciphertext: string };
    assert.ok(stored.nonce.length > 0 && stored.ciphertext.length > 0);
    assert.equal((await tap).includes('swordfish'), false);
  });

  test('sendToUser reaches the signed-in pusher-js user', async () => {
    const client = await peer({ user: { id: 'user-9' } });
    client.signin();
    const event = new Promise<unknown>((resolve) => client.user.bind('welcome', resolve));
    await waitUntil(() => running.app.core.hub.userConnections(TEST_APP.id, 'user-9').length === 1, 5000, 'the sign-in');
    await sdk.sendToUser('user-9', 'welcome', { plan: 'pro' });
    assert.deepEqual(await event, { plan: 'pro' });
  });

  test('terminateUserConnections closes the user’s sockets with 4009', async () => {
    const client = await RawPusherClient.connect(running.port);
    const userData = JSON.stringify({ id: 'mallory' });
    const signature = createHmac('sha256', TEST_APP.secret).update(`${client.socketId}::user::${userData}`).digest('hex');
    client.send({ event: 'pusher:signin', data: { user_data: userData, auth: `${TEST_APP.key}:${signature}` } });
    await client.nextEvent('pusher:signin_success');
    await waitUntil(() => running.app.core.hub.userConnections(TEST_APP.id, 'mallory').length === 1, 10_000, 'the sign-in');
    await sdk.terminateUserConnections('mallory');
    assert.equal((await client.closed).code, 4009);
  });
});
