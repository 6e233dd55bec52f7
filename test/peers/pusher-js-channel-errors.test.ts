/**
 * pusher-js routes every frame that carries a `channel` to that channel object
 * (`Pusher#connection.bind('message')` → `channel.handleEvent`), and a channel emits any
 * non-internal event under its own name. So a `pusher:error` that names its channel
 * reaches `channel.bind('pusher:error', …)`; one without a channel reaches only the
 * connection's global `error`, and a caller waiting on the channel waits for ever.
 * (pusher-js does not turn it into `pusher:subscription_error`: that event is emitted
 * only for failed auth requests and for `pusher:subscription_error` frames.)
 *
 * Also here: `pusher:cache_miss` carries no `data`, as Pusher sends it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Channel } from 'pusher-js';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { pusherJsClient, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';

interface PusherErrorData {
  readonly code: number;
  readonly message: string;
  readonly rc_code: string;
}

/** The next `pusher:error` pusher-js hands to this channel object. */
function channelError(channel: Channel, timeoutMs = 5000): Promise<PusherErrorData> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no pusher:error reached ${channel.name}`)), timeoutMs);
    const handler = (data: PusherErrorData): void => {
      clearTimeout(timer);
      channel.unbind('pusher:error', handler);
      resolve(data);
    };
    channel.bind('pusher:error', handler);
  });
}

describe('pusher-js: errors caused by a channel-scoped frame reach that channel', () => {
  let running: RunningApp;
  const clients: PusherJs[] = [];
  const raws: RawPusherClient[] = [];
  async function client(): Promise<PusherJs> {
    const created = await pusherJsClient(running.port);
    clients.push(created);
    return created;
  }

  before(async () => {
    running = await startApp(
      testConfig({ apps: [{ ...TEST_APP, limits: { maxEventNameLength: 40, maxEventDataBytes: 1024, clientEventsPerSecond: 3 } }] }),
    );
  });
  after(async () => {
    for (const created of clients) created.disconnect();
    for (const raw of raws) raw.close();
    await running.close();
  });

  test('a client event whose name is too long: pusher:error on the channel', async () => {
    const pusher = await client();
    const channel = await subscribed(pusher, 'private-names');
    const error = channelError(channel);
    channel.trigger(`client-${'x'.repeat(60)}`, { hello: 1 });
    const data = await error;
    assert.equal(data.rc_code, 'RC_ERR_EVENT_INVALID_NAME');
    assert.equal(data.code, 4300);
    assert.match(data.message, /longer than 40/);
  });

  test('a client event whose payload is too big: pusher:error on the channel', async () => {
    const pusher = await client();
    const channel = await subscribed(pusher, 'private-big');
    const error = channelError(channel);
    channel.trigger('client-big', { blob: 'y'.repeat(2000) });
    const data = await error;
    assert.equal(data.rc_code, 'RC_ERR_EVENT_DATA_TOO_LARGE');
  });

  test('a rate-limited client event: pusher:error 4301 on the channel', async () => {
    const pusher = await client();
    const channel = await subscribed(pusher, 'private-flood');
    const error = channelError(channel);
    for (let i = 0; i < 5; i++) channel.trigger('client-n', { i });
    assert.equal((await error).code, 4301);
  });

  test('a client event on a public channel: pusher:error 4302 on the channel', async () => {
    const pusher = await client();
    const channel = await subscribed(pusher, 'public-room');
    const error = channelError(channel);
    channel.trigger('client-hi', {});
    assert.equal((await error).code, 4302);
  });

  test('malformed subscribe and unsubscribe frames name their channel; frames without one do not', async () => {
    const raw = await RawPusherClient.connect(running.port);
    raws.push(raw);
    raw.send({ event: 'pusher:subscribe', data: { channel: 'private-typo', auth: 42 } });
    const badAuth = await raw.nextEvent('pusher:error');
    assert.equal(badAuth.channel, 'private-typo');
    assert.equal((badAuth.data as PusherErrorData).rc_code, 'RC_ERR_WS_BAD_FRAME');
    raw.send({ event: 'pusher:subscribe', data: JSON.stringify({ channel: 'string-data', last_serial: 7 }) });
    assert.equal((await raw.nextEvent('pusher:error')).channel, 'string-data');
    raw.send({ event: 'pusher:unsubscribe', data: { channel: 'never-subscribed' } });
    assert.equal((await raw.nextEvent('pusher:error')).channel, 'never-subscribed');
    raw.send({ event: 'client-x', channel: 'private-not-mine', data: {} });
    assert.equal((await raw.nextEvent('pusher:error')).channel, 'private-not-mine');
    raw.send('not json');
    assert.equal((await raw.nextEvent('pusher:error')).channel, undefined);
    raw.send({ event: 'pusher:nonsense', data: {} });
    assert.equal((await raw.nextEvent('pusher:error')).channel, undefined);
  });
});

describe('pusher:cache_miss', () => {
  let running: RunningApp;
  const clients: PusherJs[] = [];
  before(async () => {
    running = await startApp(testConfig());
  });
  after(async () => {
    for (const created of clients) created.disconnect();
    await running.close();
  });

  test('is sent without data, as Pusher sends it', async () => {
    const raw = await RawPusherClient.connect(running.port);
    raw.send({ event: 'pusher:subscribe', data: { channel: 'cache-empty' } });
    await raw.nextEvent('pusher_internal:subscription_succeeded', 'cache-empty');
    const miss = await raw.nextEvent('pusher:cache_miss', 'cache-empty');
    assert.deepEqual(Object.keys(miss).sort(), ['channel', 'event']);
    raw.close();

    const pusher = await pusherJsClient(running.port);
    clients.push(pusher);
    const channel = pusher.subscribe('cache-empty-2');
    const seen = await new Promise<unknown[]>((resolve) => channel.bind('pusher:cache_miss', (...args: unknown[]) => resolve(args)));
    assert.equal(seen[0], undefined, 'pusher-js hands the handler no data');
  });
});
