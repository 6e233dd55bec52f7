/**
 * The WebSocket door during a Redis outage: open connections stay open, a subscribe
 * that needs the backend gets a clear `pusher:subscription_error`
 * (RC_ERR_BACKEND_UNAVAILABLE, Pusher code 4200), client events get `pusher:error`,
 * pings still answer, and once Redis is back the same requests work without a reconnect.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, type RunningApp } from '../../helpers/app.ts';
import { startRedis, type TestRedis } from '../../helpers/redis-server.ts';
import { RawPusherClient, waitUntil, type PusherFrame } from '../../helpers/ws-client.ts';

let redis: TestRedis;
let node: RunningApp;
let client: RawPusherClient;

before(async () => {
  redis = await startRedis();
  node = await startApp(testConfig({}, redis.url));
  client = await RawPusherClient.connect(node.port);
});

after(async () => {
  client?.close();
  await node?.close();
  await redis?.stop();
});

const rcCode = (frame: PusherFrame): string => (frame.data as { rc_code?: string }).rc_code ?? '';

test('Redis down: subscribes and client events fail clearly, the socket stays usable', async () => {
  assert.equal((await client.subscribe('private-before')).event, 'pusher_internal:subscription_succeeded');
  await redis.kill();
  let attempt = 0;
  let refused: PusherFrame | undefined;
  // The first command after the kill may still be in flight on the dead socket.
  await waitUntil(async () => {
    const reply = await client.subscribe(`during-${attempt++}`);
    if (reply.event === 'pusher:subscription_error') refused = reply;
    return refused !== undefined;
  }, 10_000, 'a subscription error');
  assert.equal(rcCode(refused!), 'RC_ERR_BACKEND_UNAVAILABLE');
  assert.equal((refused!.data as { code: number; status: number }).code, 4200);
  assert.equal((refused!.data as { status: number }).status, 503);

  client.send({ event: 'client-x', channel: 'private-before', data: {} });
  const error = await client.next((frame) => frame.event === 'pusher:error' && ['RC_ERR_BACKEND_UNAVAILABLE', 'RC_ERR_BACKEND_BUS_DOWN'].includes(rcCode(frame)), 10_000);
  assert.equal((error.data as { code: number }).code, 4200);

  client.send({ event: 'pusher:ping', data: {} });
  await client.nextEvent('pusher:pong');
  assert.equal(client.ws.readyState, client.ws.OPEN);
});

test('Redis back: the same connection subscribes and receives again', async () => {
  await redis.restart();
  await waitUntil(async () => (await client.subscribe(`after-${Date.now()}`)).event === 'pusher_internal:subscription_succeeded', 15_000, 'subscribes to work');
  await client.subscribe('news-after');
  const app = node.app.core.apps.requireEnabled('app-1');
  // The bus connection resubscribes on its own schedule; publish until one arrives.
  let n = 0;
  await waitUntil(async () => {
    await node.app.core.publish(app, [{ name: 'back', channels: ['news-after'], data: String(n++), origin: 'rest' }]);
    return client.frames.some((frame) => frame.event === 'back');
  }, 15_000, 'live delivery to resume');
  const first = await client.nextEvent('back', 'news-after');
  assert.match(first.data as string, /^\d+$/);
});
