/**
 * Issue 14: a generic Faye or CometD app on a mapped channel gets the object that was
 * published, not roomcast's bot envelope (`messageType`, `contentData`, …), when the
 * channel is listed in `bots.rawDataChannels`. Other mapped channels keep the envelope.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import faye from 'faye';

type FayeClient = InstanceType<typeof faye.Client>;
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { login, until } from '../helpers/bots.ts';
import { serverSdk } from '../helpers/pusher-peers.ts';

const ROOM = 'presence-room-acme-lobby';
let server: RunningApp;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 1000, rawDataChannels: [`/${ROOM}/app/**`] } }));
});
after(() => server.close());

/** A logged-in Faye client (wrapped: a Faye client is a thenable that never settles, so it cannot be an async result). */
async function fayeBot(): Promise<{ client: FayeClient }> {
  const { cookie } = await login(server.url);
  const client = new faye.Client(`${server.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  client.setHeader('Cookie', cookie);
  return { client };
}

test('faye apps on a raw-data channel exchange their objects as published; the pusher SDK\'s JSON arrives parsed', async () => {
  const { client: listener } = await fayeBot();
  const { client: speaker } = await fayeBot();
  const received: unknown[] = [];
  try {
    await listener.subscribe(`/${ROOM}/app/state`, (message) => received.push(message));
    await speaker.publish(`/${ROOM}/app/state`, { board: [1, 2, 3], turn: 'x' });
    await until(() => received[0]);
    assert.deepEqual(received[0], { board: [1, 2, 3], turn: 'x' });
    await serverSdk(server.port).trigger(`${ROOM}.app.state`, 'state', { board: [4], turn: 'o' });
    await serverSdk(server.port).trigger(`${ROOM}.app.state`, 'note', 'plain text');
    await until(() => received[2]);
    assert.deepEqual(received.slice(1), [{ board: [4], turn: 'o' }, 'plain text']);
  } finally {
    listener.disconnect();
    speaker.disconnect();
  }
});

test('a mapped channel not listed keeps the bot envelope', async () => {
  const { client } = await fayeBot();
  const received: Record<string, unknown>[] = [];
  try {
    await client.subscribe(`/${ROOM}/chat`, (message) => received.push(message as Record<string, unknown>));
    await serverSdk(server.port).trigger(`${ROOM}.chat`, 'chat', 'hello');
    const event = await until(() => received[0]);
    assert.equal(event.messageType, 'Message');
    assert.equal(event.contentData, 'hello');
  } finally {
    client.disconnect();
  }
});
