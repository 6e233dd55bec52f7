/**
 * Issue 14: a bot's own publish. On `/service/stream` a bot never hears itself (the
 * Sococo API's behaviour, kept); on mapped channels the server follows Bayeux: an
 * unmodified CometD or Faye client receives its own publish back, unless its handshake
 * opted out with `ext.broadcastToPublisher: false` (CometD's server-side option; neither
 * client has a wire option of its own).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { adapt } from 'cometd-nodejs-client';
import faye from 'faye';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { login, until } from '../helpers/bots.ts';

adapt();
const { CometD } = await import('cometd');
type Message = import('cometd').Message;

const ROOM = 'presence-room-acme-lobby';
let server: RunningApp;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 1000 } }));
});
after(() => server.close());

const app = () => server.app.core.apps.requireEnabled('app-1');
const publishAsPerson = (channel: string, data: string) =>
  server.app.core.publish(app(), [{ name: 'chat', channels: [channel], data, origin: 'rest', sender: { type: 'Human', id: 'alice' } }]);

test('cometd: its own publish on a mapped channel comes back, as from any Bayeux server', async () => {
  const { cookie } = await login(server.url);
  const cometd = new CometD();
  cometd.configure({ url: `${server.url}/api/v1/bayeux`, requestHeaders: { Cookie: cookie }, logLevel: 'warn' });
  await new Promise<void>((resolve) => cometd.handshake((reply) => reply.successful && resolve()));
  const received: Message[] = [];
  try {
    const subscribed = await new Promise<Message>((resolve) => cometd.subscribe(`/${ROOM}/chat`, (message) => received.push(message), resolve));
    assert.equal(subscribed.successful, true);
    const published = await new Promise<Message>((resolve) => cometd.publish(`/${ROOM}/chat`, 'my own words', resolve));
    assert.equal(published.successful, true);
    const own = await until(() => received.find((m) => (m.data as { contentData?: string }).contentData === 'my own words'));
    assert.equal((own.data as { senderID: string }).senderID, 'helper-bot');
  } finally {
    await new Promise<void>((resolve) => cometd.disconnect(() => resolve()));
  }
});

test('faye: its own publish on /service/stream never comes back; on a mapped channel it does', async () => {
  const { cookie } = await login(server.url);
  const client = new faye.Client(`${server.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  client.setHeader('Cookie', cookie);
  const stream: string[] = [];
  const mapped: string[] = [];
  try {
    await client.subscribe('/service/stream', (m) => stream.push((m as { contentData: string }).contentData));
    await client.subscribe(`/${ROOM}/chat`, (m) => mapped.push((m as { contentData: string }).contentData));
    await client.publish('/service/stream', 'to the room');
    await client.publish(`/${ROOM}/chat`, 'to the chat');
    await publishAsPerson(ROOM, 'after');
    await until(() => (stream.includes('after') && mapped.includes('to the chat') ? true : undefined));
    assert.deepEqual(stream, ['after']);
    assert.deepEqual(mapped, ['to the chat']);
  } finally {
    client.disconnect();
  }
});

test('faye with ext.broadcastToPublisher false on its handshake: its own publish on a mapped channel does not come back', async () => {
  const { cookie } = await login(server.url);
  const client = new faye.Client(`${server.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  client.setHeader('Cookie', cookie);
  client.addExtension({
    outgoing(message, callback) {
      if (message.channel === '/meta/handshake') message.ext = { broadcastToPublisher: false };
      callback(message);
    },
  });
  const mapped: string[] = [];
  try {
    await client.subscribe(`/${ROOM}/opt`, (m) => mapped.push((m as { contentData: string }).contentData));
    await client.publish(`/${ROOM}/opt`, 'mine');
    await publishAsPerson(`${ROOM}.opt`, 'theirs');
    await until(() => (mapped.includes('theirs') ? true : undefined));
    assert.deepEqual(mapped, ['theirs']);
  } finally {
    client.disconnect();
  }
});
