/**
 * Issue 12, "Redis killed and restarted without persistence": serials restarted at 1
 * and were reissued to other messages, so a client recovering with `last_serial` or a
 * saved history cursor silently got the wrong messages. With stream epochs, every
 * position from before the loss is refused: recovery answers `recovery_failed`
 * (`epoch_changed`) on the WebSocket and Bayeux doors, the cursor and serial bounds are
 * RC_ERR_HISTORY_EPOCH_MISMATCH, a message route by old serial is
 * RC_ERR_MESSAGE_EPOCH_MISMATCH, no new serial equals an old one, and the node notices
 * the loss once (the backend's generation signal).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { bayeux, handshake, login, until, type BayeuxReply } from '../helpers/bots.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';

/** A public channel (no auth needed) for the WebSocket and REST checks. */
const CHANNEL = 'epochs-room';
/** The bot room's channel, for the Bayeux check. */
const ROOM = 'presence-room-acme-lobby';
const PATH = `/apps/${TEST_APP.id}`;
let redis: TestRedis;
let node: RunningApp;

before(async () => {
  redis = await startRedis();
  node = await startApp(
    testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 300 }, apps: [{ ...TEST_APP, history: { maxCount: 100, maxAgeSec: 0 } }] }, redis.url),
  );
});
after(async () => {
  await node?.close();
  await redis?.stop();
});

async function publish(data: string, channel = CHANNEL): Promise<string> {
  const reply = await signedCall(node.url, 'POST', `${PATH}/events`, { body: { name: 'chat', channel, data } });
  assert.equal(reply.status, 200, reply.text);
  const serial = (reply.json.message_serial ?? (reply.json.message_serials as Record<string, string> | undefined)?.[channel]) as string | undefined;
  assert.ok(serial, reply.text);
  return serial;
}

async function ready(): Promise<void> {
  await until(async () => ((await fetch(`${node.url}/ready`)).status === 200 ? true : undefined), 20_000, 50);
}

describe('issue 12: Redis restarted without persistence', () => {
  test('positions from before the loss are refused everywhere, never matched to the new messages', async () => {
    const losses: unknown[] = [];
    node.app.backend.generation?.onDataLost((loss) => losses.push(loss));
    const before: string[] = [];
    for (let i = 1; i <= 5; i++) before.push(await publish(`before-${i}`));
    const page = await signedCall(node.url, 'GET', `${PATH}/channels/${CHANNEL}/history`, { params: { limit: '2', direction: 'oldest_first' } });
    assert.equal(page.status, 200, page.text);
    const cursor = page.json.next_cursor as string;
    assert.ok(cursor);

    await redis.kill();
    await redis.restart();
    await ready();

    const afterLoss: string[] = [];
    for (let i = 1; i <= 7; i++) afterLoss.push(await publish(`after-${i}`));
    for (const serial of afterLoss) assert.ok(!before.includes(serial), `serial ${serial} was issued before the loss to another message`);

    // WebSocket (protocol 2) recovery with a last serial from before the loss.
    const client = await RawPusherClient.connect(node.port, TEST_APP.key, 'protocol=2&client=test&version=1.0');
    client.send({ event: 'pusher:subscribe', data: { channel: CHANNEL, last_serial: before[2] } });
    const failed = await client.nextEvent('roomcast:recovery_failed', CHANNEL);
    const failure = JSON.parse(failed.data as string) as { code?: string; reason: string };
    assert.equal(failure.code, 'epoch_changed');
    assert.match(failure.reason, /epoch/);
    assert.ok(!client.frames.some((frame) => frame.event === 'chat'), 'no message replayed as if it followed the old serial');
    client.close();

    // A history cursor and serial bounds from before the loss.
    const stale = await signedCall(node.url, 'GET', `${PATH}/channels/${CHANNEL}/history`, { params: { limit: '2', direction: 'oldest_first', cursor } });
    assert.equal(stale.status, 409, stale.text);
    assert.equal(stale.json.code, 'RC_ERR_HISTORY_EPOCH_MISMATCH');
    const bounded = await signedCall(node.url, 'GET', `${PATH}/channels/${CHANNEL}/history`, { params: { start_serial: before[1]! } });
    assert.equal(bounded.status, 409, bounded.text);
    assert.equal(bounded.json.code, 'RC_ERR_HISTORY_EPOCH_MISMATCH');

    // The message route by an old serial: the seq now names after-2, which must not be served as before-2.
    const message = await signedCall(node.url, 'GET', `${PATH}/channels/${CHANNEL}/messages/${before[1]}`);
    assert.equal(message.status, 409, message.text);
    assert.equal(message.json.code, 'RC_ERR_MESSAGE_EPOCH_MISMATCH');

    // History state names the new epoch, which starts every new serial.
    const state = await signedCall(node.url, 'GET', `${PATH}/channels/${CHANNEL}/history/state`);
    assert.equal(state.status, 200, state.text);
    const epoch = state.json.epoch as string;
    assert.match(epoch, /^[0-9a-z]{8}$/);
    for (const serial of afterLoss) assert.ok(serial.startsWith(`${epoch}-`), serial);
    assert.ok(!before[0]!.startsWith(`${epoch}-`));

    // The node noticed the loss, once.
    await until(() => (losses.length > 0 ? true : undefined), 5000, 20);
    assert.equal(losses.length, 1);
  });

  test('a bot resubscribing with ext.last_serial from before the loss gets RecoveryFailed', async () => {
    const old = await publish('bot-before', ROOM);
    await redis.kill();
    await redis.restart();
    await ready();
    for (let i = 1; i <= 3; i++) await publish(`bot-after-${i}`, ROOM);
    // The bot's session lived in Redis too: it logs in again, as a real bot would.
    const { cookie } = await login(node.url);
    const clientId = await handshake(node.url, cookie);
    await bayeux(node.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream', ext: { last_serial: old } }]);
    const events: (BayeuxReply & { data: { messageType: string; code?: string; contentData: string } })[] = [];
    await until(async () => {
      const replies = await bayeux(node.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
      for (const reply of replies) if (reply.channel === '/service/stream') events.push(reply as (typeof events)[number]);
      return events.length > 0 ? true : undefined;
    }, 10_000, 0);
    assert.equal(events[0]!.data.messageType, 'RecoveryFailed');
    assert.equal(events[0]!.data.code, 'epoch_changed');
    assert.ok(!events.some((event) => event.data.contentData?.startsWith('bot-after')), 'nothing replayed as following the old serial');
  });
});
