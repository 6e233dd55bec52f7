/**
 * Issue 12 for Bayeux bots: after a bus outage the node catches its channels up from the
 * log; when it cannot, a `faye` bot subscribed to `/service/stream` and to a mapped
 * channel is told with a `RecoveryFailed` event on each, as a WebSocket client gets
 * `roomcast:recovery_failed`. Here node A is cut off Redis (its bus too) while node B
 * resets both channels' history (a new epoch) and publishes on them, so A cannot catch
 * up: `code` `epoch_changed`. Redis keeps its data, so the bot's session lives on and the
 * events reach it on its next connect. (A Redis that lost its data ends the session
 * instead: test/regressions/issue-12-redis-data-loss.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import faye from 'faye';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { login, until } from '../helpers/bots.ts';
import { redisProxy, type RedisProxy } from '../helpers/redis-proxy.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { waitUntil } from '../helpers/ws-client.ts';

const ROOM = 'presence-room-acme-lobby';
let redis: TestRedis;
let proxyA: RedisProxy;
let nodeA: RunningApp;
let nodeB: RunningApp;

before(async () => {
  redis = await startRedis();
  proxyA = await redisProxy(redis.port);
  const config = testConfig({ bots: { maxEventLoopDelayMs: 0 } }, redis.url);
  nodeA = await startApp({ ...config, backend: { ...config.backend, redis: { ...config.backend.redis!, url: proxyA.url } } }, 'node-a');
  nodeB = await startApp(config, 'node-b');
});
after(async () => {
  proxyA?.restore();
  await nodeA?.close();
  await nodeB?.close();
  await proxyA?.close();
  await redis?.stop();
});

async function publish(on: RunningApp, channel: string, data: string): Promise<void> {
  const app = on.app.core.apps.requireEnabled('app-1');
  await on.app.core.publish(app, [{ name: 'note', channels: [channel], data, origin: 'rest', sender: { type: 'Human', id: 'alice' } }]);
}

test('a bus outage the node cannot catch up from the log ends in RecoveryFailed on /service/stream and on a mapped channel', async () => {
  const { cookie } = await login(nodeA.url);
  const client = new faye.Client(`${nodeA.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  client.setHeader('Cookie', cookie);
  const stream: Record<string, unknown>[] = [];
  const chat: Record<string, unknown>[] = [];
  try {
    await client.subscribe('/service/stream', (message) => stream.push(message as Record<string, unknown>));
    await client.subscribe(`/${ROOM}/chat`, (message) => chat.push(message as Record<string, unknown>));
    await publish(nodeA, ROOM, 'before');
    await publish(nodeA, `${ROOM}.chat`, 'before');
    await until(() => (stream.some((m) => m.contentData === 'before') && chat.some((m) => m.contentData === 'before') ? true : undefined));

    // A is off Redis; meanwhile B starts both channels' history afresh and publishes on them.
    proxyA.cut();
    await waitUntil(() => nodeA.app.core.backend.bus.isSubscribed?.() === false, 5000, 'A off the bus');
    const app = nodeB.app.core.apps.requireEnabled('app-1');
    for (const channel of [ROOM, `${ROOM}.chat`]) {
      await nodeB.app.core.history.reset(app, channel, channel);
      await publish(nodeB, channel, 'during');
    }
    proxyA.restore();

    const failedStream = await until(() => stream.find((m) => m.messageType === 'RecoveryFailed'), 20_000);
    const failedChat = await until(() => chat.find((m) => m.messageType === 'RecoveryFailed'), 20_000);
    for (const failed of [failedStream, failedChat]) {
      assert.equal(failed.code, 'epoch_changed');
      assert.equal(typeof failed.contentData, 'string');
      assert.ok(typeof failed.lastSerial === 'string' && failed.lastSerial !== '', 'the last serial delivered before the outage');
    }
  } finally {
    client.disconnect();
  }
});

test('a bot following channels only by a wildcard is told RecoveryFailed (code untracked) on the wildcard after a bus outage', async () => {
  const { cookie } = await login(nodeA.url);
  const client = new faye.Client(`${nodeA.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  client.setHeader('Cookie', cookie);
  const wildcard = `/${ROOM}/*`;
  const seen: Record<string, unknown>[] = [];
  try {
    await client.subscribe(wildcard, (message) => seen.push(message as Record<string, unknown>));
    await publish(nodeA, `${ROOM}.side`, 'before');
    await until(() => (seen.some((m) => m.contentData === 'before') ? true : undefined));

    // A is off Redis while B publishes on a channel the bot follows only by the wildcard.
    proxyA.cut();
    await waitUntil(() => nodeA.app.core.backend.bus.isSubscribed?.() === false, 5000, 'A off the bus');
    await publish(nodeB, `${ROOM}.side`, 'during');
    proxyA.restore();

    const failed = await until(() => seen.find((m) => m.messageType === 'RecoveryFailed'), 20_000);
    assert.equal(failed.code, 'untracked');
    assert.equal(failed.lastSerial, '');
    assert.match(String(failed.contentData), /wildcard/);
  } finally {
    client.disconnect();
  }
});
