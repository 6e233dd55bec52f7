/**
 * Issue 14: recovery by `ext.last_serial` on mapped channels and wildcard subscriptions,
 * not only on `/service/stream`, with the unmodified `faye` client (an extension adds the
 * serial to its /meta/subscribe, as a Faye app would). A serial the channel cannot continue
 * from ends in a recovery failure — in the subscribe reply's `ext.recovery` and a
 * `RecoveryFailed` event — never in a silent replay or a silent nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import faye from 'faye';

type FayeClient = InstanceType<typeof faye.Client>;
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { login, until } from '../helpers/bots.ts';

const ROOM = 'presence-room-acme-lobby';
let server: RunningApp;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 1000 } }));
});
after(() => server.close());

const app = () => server.app.core.apps.requireEnabled('app-1');
async function publish(channel: string, data: string): Promise<string> {
  const groups = await server.app.core.publish(app(), [{ name: 'note', channels: [channel], data, origin: 'rest', sender: { type: 'Human', id: 'alice' } }]);
  return groups[0]![0]!.serial;
}

/** A Faye client whose /meta/subscribe carries `ext.last_serial`, recording the subscribe replies. */
async function fayeRecovering(lastSerial: unknown): Promise<{ client: FayeClient; replies: Record<string, unknown>[] }> {
  const { cookie } = await login(server.url);
  const client = new faye.Client(`${server.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  client.setHeader('Cookie', cookie);
  const replies: Record<string, unknown>[] = [];
  client.addExtension({
    outgoing(message, callback) {
      if (message.channel === '/meta/subscribe') message.ext = { ...(message.ext as object | undefined), last_serial: lastSerial };
      callback(message);
    },
    incoming(message, callback) {
      if (message.channel === '/meta/subscribe') replies.push(message);
      callback(message);
    },
  });
  return { client, replies };
}

test('a mapped channel recovers what was published after the last serial, in order, then goes on live', async () => {
  const first = await publish(`${ROOM}.chat`, 'seen');
  await publish(`${ROOM}.chat`, 'missed 1');
  await publish(`${ROOM}.chat`, 'missed 2');
  const { client, replies } = await fayeRecovering(first);
  const received: string[] = [];
  try {
    await client.subscribe(`/${ROOM}/chat`, (message) => received.push((message as { contentData: string }).contentData));
    await publish(`${ROOM}.chat`, 'live');
    await until(() => (received.length >= 3 ? true : undefined));
    assert.deepEqual(received, ['missed 1', 'missed 2', 'live']);
    assert.deepEqual((replies[0]!.ext as { recovery: unknown }).recovery, [{ channel: `/${ROOM}/chat`, recovered: true, replayed: 2 }]);
  } finally {
    client.disconnect();
  }
});

test('a wildcard subscription recovers each channel named in last_serial', async () => {
  const chat = await publish(`${ROOM}.w.chat`, 'chat seen');
  await publish(`${ROOM}.w.chat`, 'chat missed');
  const news = await publish(`${ROOM}.w.news`, 'news seen');
  await publish(`${ROOM}.w.news`, 'news missed');
  const { client, replies } = await fayeRecovering({ [`/${ROOM}/w/chat`]: chat, [`/${ROOM}/w/news`]: news });
  const received: string[] = [];
  try {
    await client.subscribe(`/${ROOM}/w/*`, (message) => received.push((message as { contentData: string }).contentData));
    await until(() => (received.length >= 2 ? true : undefined));
    assert.deepEqual(received.sort(), ['chat missed', 'news missed']);
    const recovery = (replies[0]!.ext as { recovery: { channel: string; recovered: boolean; replayed: number }[] }).recovery;
    assert.deepEqual(recovery.map((r) => [r.channel, r.recovered, r.replayed]).sort(), [
      [`/${ROOM}/w/chat`, true, 1],
      [`/${ROOM}/w/news`, true, 1],
    ]);
  } finally {
    client.disconnect();
  }
});

test('a serial of another stream epoch is a recovery failure (epoch_changed), not a replay', async () => {
  const first = await publish(`${ROOM}.gone`, 'one');
  await publish(`${ROOM}.gone`, 'two');
  // Opaque to the bot; here: this channel's serial as another epoch of its stream would spell it.
  const foreign = first.replace(/^[^-]+-/, 'zzzzzzzz-');
  assert.notEqual(foreign, first);
  const { client, replies } = await fayeRecovering(foreign);
  const received: Record<string, unknown>[] = [];
  try {
    await client.subscribe(`/${ROOM}/gone`, (message) => received.push(message as Record<string, unknown>));
    const failed = await until(() => received.find((m) => m.messageType === 'RecoveryFailed'));
    assert.equal(failed.lastSerial, foreign);
    assert.equal(failed.code, 'epoch_changed');
    const recovery = (replies[0]!.ext as { recovery: { recovered: boolean; code?: string; reason?: string }[] }).recovery;
    assert.equal(recovery[0]!.recovered, false);
    assert.equal(recovery[0]!.code, 'epoch_changed');
    assert.equal(typeof recovery[0]!.reason, 'string');
    await publish(`${ROOM}.gone`, 'three');
    await until(() => received.find((m) => m.contentData === 'three'));
    assert.deepEqual(received.filter((m) => m.contentData === 'one' || m.contentData === 'two'), [], 'nothing replayed');
  } finally {
    client.disconnect();
  }
});
