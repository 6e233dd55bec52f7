/**
 * Laravel Echo (pinned, unmodified) over pusher-js against roomcast: the client most
 * Laravel applications use. Events are triggered with the official `pusher` server SDK,
 * as Laravel's Pusher broadcaster does, under Laravel's event names (`App\Events\…`).
 *
 * Private channels here are authorised the way pusher-js's own integration-test server
 * does it: `authorizeChannel(socket_id, channel, channel_data)` for every channel, which
 * signs `socket_id:channel:channel_data` and returns the channel_data, which pusher-js
 * then sends in `pusher:subscribe`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Echo from 'laravel-echo';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { pusherJsClient, serverSdk, type PeerOptions, type PusherJs } from '../helpers/pusher-peers.ts';

type PusherEcho = Echo<'pusher'>;

/** Resolves with the first call's argument, or rejects after `timeoutMs`. */
function once<T>(register: (callback: (value: T) => void) => unknown, what: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
    register((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

describe('laravel-echo over pusher-js', () => {
  let running: RunningApp;
  const echoes: PusherEcho[] = [];
  async function echo(options: PeerOptions): Promise<{ echo: PusherEcho; pusher: PusherJs }> {
    const pusher = await pusherJsClient(running.port, options);
    const created = new Echo({ broadcaster: 'pusher', key: 'unused', client: pusher }) as PusherEcho;
    echoes.push(created);
    return { echo: created, pusher };
  }

  before(async () => {
    running = await startApp(testConfig());
  });
  after(async () => {
    for (const created of echoes) created.disconnect();
    await running.close();
  });

  test('a private channel authorised with channel_data (signed socket:channel:channel_data) subscribes and receives', async () => {
    const { echo: client } = await echo({ channelDataForAll: { user_id: '7', user_info: { name: 'Integration 7' } } });
    const channel = client.private('orders.7');
    await once((callback) => channel.subscribed(() => callback(undefined)), 'private subscription');
    const shipped = once<{ order: number }>((callback) => channel.listen('OrderShipped', callback), 'OrderShipped');
    await serverSdk(running.port).trigger('private-orders.7', 'App\\Events\\OrderShipped', { order: 7 });
    assert.deepEqual(await shipped, { order: 7 });
  });

  test('a private channel with a channel_data signature made for other data is still refused', async () => {
    // An auth endpoint that signs one channel_data but lets the client send another.
    const sdk = serverSdk(running.port);
    const { echo: client } = await echo({
      channelAuth: (socketId, channelName) => ({
        auth: sdk.authorizeChannel(socketId, channelName, { user_id: 'alice' }).auth,
        channel_data: JSON.stringify({ user_id: 'mallory' }),
      }),
    });
    const channel = client.private('vault');
    const error = await once<{ type: string; status: number }>((callback) => channel.error(callback), 'subscription error');
    assert.equal(error.type, 'AuthError');
    assert.equal(error.status, 401);
  });

  test('presence: here, joining, leaving and whispers between two users', async () => {
    const ann = await echo({ presence: { user_id: 'ann', user_info: { name: 'Ann' } } });
    const annRoom = ann.echo.join('chat.1');
    const here = await once<{ name: string }[]>((callback) => annRoom.here(callback), 'here');
    assert.deepEqual(here, [{ name: 'Ann' }]);

    const joining = once<{ name: string }>((callback) => annRoom.joining(callback), 'joining');
    const ben = await echo({ presence: { user_id: 'ben', user_info: { name: 'Ben' } } });
    const benRoom = ben.echo.join('chat.1');
    const benHere = await once<{ name: string }[]>((callback) => benRoom.here(callback), 'here (ben)');
    assert.deepEqual(benHere.map((member) => member.name).sort(), ['Ann', 'Ben']);
    assert.deepEqual(await joining, { name: 'Ben' });

    const whisper = once<{ typing: boolean }>((callback) => annRoom.listenForWhisper('typing', callback), 'whisper');
    benRoom.whisper('typing', { typing: true });
    assert.deepEqual(await whisper, { typing: true });

    const leaving = once<{ name: string }>((callback) => annRoom.leaving(callback), 'leaving');
    ben.echo.leave('chat.1');
    assert.deepEqual(await leaving, { name: 'Ben' });
  });
});
