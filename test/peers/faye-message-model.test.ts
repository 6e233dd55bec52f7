/**
 * The npm `faye` client (unmodified) and the message model (issue 4): a bot streaming
 * its room receives each change of a room message (update, append, delete, summary)
 * made over REST with the official `pusher` SDK, after the message itself.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import faye from 'faye';
import Pusher from 'pusher';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { login, until } from '../helpers/bots.ts';

const ROOM_CHANNEL = 'presence-room-acme-lobby';
let server: RunningApp;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 2000 } }));
});
after(() => server.close());

test('faye bot receives Message, then MessageUpdate, MessageAppend, MessageSummary, MessageDelete', async () => {
  const { cookie } = await login(server.url);
  const client = new faye.Client(`${server.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  client.setHeader('Cookie', cookie);
  const received: Record<string, unknown>[] = [];
  await client.subscribe('/service/stream', (message) => received.push(message as Record<string, unknown>));
  try {
    const pusher = new Pusher({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret, host: '127.0.0.1', port: String(server.port), useTLS: false });
    const reply = (await (await pusher.trigger(ROOM_CHANNEL, 'chat', 'draft')).json()) as { message_serial?: string; message_serials?: Record<string, string> };
    const serial = reply.message_serial ?? reply.message_serials?.[ROOM_CHANNEL];
    assert.ok(serial);
    const base = `/channels/${ROOM_CHANNEL}/messages/${serial}`;
    // The SDK JSON-encodes `body` itself; its typings say string.
    const post = (path: string, body: object) => pusher.post({ path, body: body as unknown as string });
    assert.equal((await post(`${base}/update`, { data: 'final', description: 'edited' })).status, 200);
    assert.equal((await post(`${base}/append`, { data: '!' })).status, 200);
    assert.equal((await post(`${base}/annotations`, { type: 'reactions:distinct.v1', name: 'like', client_id: 'ann' })).status, 200);
    assert.equal((await post(`${base}/delete`, {})).status, 200);
    await until(() => (received.length >= 5 ? true : undefined));
    assert.deepEqual(
      received.map((m) => [m.messageType, m.contentData]),
      [
        ['Message', 'draft'],
        ['MessageUpdate', 'final'],
        ['MessageAppend', 'final!'],
        ['MessageSummary', 'final!'],
        ['MessageDelete', ''],
      ],
    );
    assert.equal(received[1]!.messageSerial, serial);
    assert.equal(received[1]!.description, 'edited');
    assert.equal(received[2]!.fragment, '!');
    assert.deepEqual(received[3]!.summary, { 'reactions:distinct.v1': { like: { total: 1, clientIds: ['ann'], clipped: false } } });
  } finally {
    client.disconnect();
    // Wait for the server to see the disconnect: a Faye client still polling when the
    // server closes would keep retrying and hold the test process open.
    await until(() => (server.app.core.hub.localCount('app-1', ROOM_CHANNEL) === 0 ? true : undefined));
  }
});
