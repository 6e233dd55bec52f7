/**
 * The message model on the bot stream (issue 4): bots receive each change of a room
 * message on /service/stream (not raw annotations), and a bot resubscribing with
 * `ext.last_serial` gets what it missed, in order and once, or a RecoveryFailed event.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../../helpers/app.ts';
import { bayeux, handshake, login, type BayeuxReply } from '../../helpers/bots.ts';

const ROOM = 'presence-room-acme-lobby';
let server: RunningApp;
let cookie: string;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 300 }, apps: [{ ...TEST_APP, history: { maxCount: 20, maxAgeSec: 0 } }] }));
  ({ cookie } = await login(server.url));
});
after(() => server.close());

const app = () => server.app.core.apps.requireEnabled('app-1');
const connect = (clientId: string) => ({ channel: '/meta/connect', clientId, connectionType: 'long-polling' });
type StreamData = { messageType: string; contentData: string; messageSerial?: string; fragment?: string; summary?: unknown; lastSerial?: string };

async function publish(data: string): Promise<string> {
  const groups = await server.app.core.publish(app(), [{ name: 'chat', channels: [ROOM], data, origin: 'rest' }]);
  return groups[0]![0]!.serial;
}

/** Polls until `count` stream events arrived. */
async function streamEvents(clientId: string, count: number): Promise<(BayeuxReply & { data: StreamData })[]> {
  const events: (BayeuxReply & { data: StreamData })[] = [];
  const deadline = Date.now() + 5000;
  while (events.length < count && Date.now() < deadline) {
    const replies = await bayeux(server.url, cookie, [connect(clientId)]);
    for (const reply of replies) if (reply.channel === '/service/stream') events.push(reply as BayeuxReply & { data: StreamData });
  }
  return events;
}

describe('message model on the bot stream', () => {
  test('updates, appends, deletes and summaries of room messages reach bots; raw annotations do not', async () => {
    const clientId = await handshake(server.url, cookie);
    await bayeux(server.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream' }]);
    const serial = await publish('Hello');
    await server.app.core.messages.mutate(app(), ROOM, serial, 'append', { data: ' world' });
    await server.app.core.annotations.create(app(), ROOM, serial, { type: 'r:total.v1' });
    await server.app.core.messages.mutate(app(), ROOM, serial, 'delete', {});
    const events = await streamEvents(clientId, 4);
    assert.deepEqual(events.map((e) => e.data.messageType), ['Message', 'MessageAppend', 'MessageSummary', 'MessageDelete']);
    assert.equal(events[1]!.data.contentData, 'Hello world');
    assert.equal(events[1]!.data.fragment, ' world');
    assert.equal(events[1]!.data.messageSerial, serial);
    assert.deepEqual(events[2]!.data.summary, { 'r:total.v1': { total: 1 } });
  });

  test('a resubscribe with ext.last_serial replays what was missed, once, in order', async () => {
    const first = await publish('m0');
    const missed = [await publish('m1'), await publish('m2')];
    const clientId = await handshake(server.url, cookie);
    const [reply] = await bayeux(server.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream', ext: { last_serial: first } }]);
    assert.equal(reply!.successful, true);
    await publish('m3');
    const events = await streamEvents(clientId, 3);
    assert.deepEqual(events.map((e) => e.data.contentData), ['m1', 'm2', 'm3']);
    assert.deepEqual(events.slice(0, 2).map((e) => e.id), missed);
  });

  test('a publish reply carries the message serial in ext, next to the bot\'s own ext', async () => {
    const clientId = await handshake(server.url, cookie);
    const [reply] = await bayeux(server.url, cookie, [{ channel: '/service/stream', clientId, data: 'hi', ext: { trace: 1 } }]);
    assert.equal(reply!.successful, true);
    const ext = reply!.ext as { trace: number; message_serial: string };
    assert.equal(ext.trace, 1);
    const stored = await server.app.core.messages.get(app(), ROOM, ext.message_serial);
    assert.equal(stored.data, 'hi');
  });

  test('a gap too old is a RecoveryFailed event', async () => {
    const old = await publish('old');
    for (let i = 0; i < 25; i++) await publish(`n${i}`);
    const clientId = await handshake(server.url, cookie);
    await bayeux(server.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream', ext: { last_serial: old } }]);
    const [event] = await streamEvents(clientId, 1);
    assert.equal(event!.data.messageType, 'RecoveryFailed');
    assert.equal(event!.data.lastSerial, old);
  });
});
