/**
 * Issue 12 for Bayeux bots: after a bus outage the node catches its channels up from the
 * log; when it cannot (here Redis restarted without persistence, so the channels' logs
 * start a new epoch), a `faye` bot subscribed to `/service/stream` and to a mapped channel
 * is told with a `RecoveryFailed` event on each (`code` `epoch_changed`), as a WebSocket
 * client gets `roomcast:recovery_failed`, on the connect it holds through the outage. (What
 * follows for the bot's session, lost with Redis's data, is liveness's business:
 * test/regressions/issue-12-redis-data-loss.test.ts; a bot whose next connect comes first
 * is told its session is unknown, and its resubscription with `ext.last_serial` gets
 * RecoveryFailed there.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import faye from 'faye';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { login, until } from '../helpers/bots.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

const ROOM = 'presence-room-acme-lobby';
let redis: TestRedis;
let server: RunningApp;

before(async () => {
  redis = await startRedis();
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0 } }, redis.url));
});
after(async () => {
  await server?.close();
  await redis?.stop();
});

const app = () => server.app.core.apps.requireEnabled('app-1');
async function publish(channel: string, data: string): Promise<void> {
  await server.app.core.publish(app(), [{ name: 'note', channels: [channel], data, origin: 'rest', sender: { type: 'Human', id: 'alice' } }]);
}

test('a bus outage the node cannot catch up from the log ends in RecoveryFailed on /service/stream and on a mapped channel', async () => {
  const { cookie } = await login(server.url);
  const client = new faye.Client(`${server.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  client.setHeader('Cookie', cookie);
  const stream: Record<string, unknown>[] = [];
  const chat: Record<string, unknown>[] = [];
  try {
    await client.subscribe('/service/stream', (message) => stream.push(message as Record<string, unknown>));
    await client.subscribe(`/${ROOM}/chat`, (message) => chat.push(message as Record<string, unknown>));
    await publish(ROOM, 'before');
    await publish(`${ROOM}.chat`, 'before');
    await until(() => (stream.some((m) => m.contentData === 'before') && chat.some((m) => m.contentData === 'before') ? true : undefined));

    // Redis comes back empty: the logs the node would catch up from are gone.
    await redis.kill();
    await redis.restart();

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
