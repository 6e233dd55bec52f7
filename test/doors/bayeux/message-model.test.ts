/**
 * The message model on the bot stream (issue 4): bots receive each change of a room
 * message on /service/stream (not raw annotations), and a bot resubscribing with
 * `ext.last_serial` gets what it missed, in order and once, or a RecoveryFailed event.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryBus } from '../../../src/backends/memory/bus.ts';
import type { BusMessage } from '../../../src/backends/ports.ts';
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

  test('a message published while the recovering subscribe awaits its occupancy update arrives once, in order', async () => {
    const first = await publish('r0');
    await publish('r1');
    const clientId = await handshake(server.url, cookie);
    // Hold the core subscription's occupancy round trip (a Redis call in production) open,
    // and publish while it is: the window the bug lived in.
    const occupancy = server.app.core.backend.occupancy;
    const original = occupancy.adjust;
    let reached!: () => void;
    const inFlight = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    occupancy.adjust = async (key: string, nodeId: string, delta: number): Promise<number> => {
      if (delta > 0 && key.endsWith(ROOM)) {
        reached();
        await gate;
      }
      return original.call(occupancy, key, nodeId, delta);
    };
    let during: string;
    try {
      const subscribing = bayeux(server.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream', ext: { last_serial: first } }]);
      await inFlight;
      during = await publish('r2');
      release();
      const [reply] = await subscribing;
      assert.equal(reply!.successful, true);
    } finally {
      occupancy.adjust = original;
    }
    const last = await publish('r3');
    // Everything queued before r3 (the last publish) has arrived once r3 has.
    const events: (BayeuxReply & { data: StreamData })[] = [];
    const deadline = Date.now() + 5000;
    while (!events.some((e) => e.id === last) && Date.now() < deadline) events.push(...(await streamEvents(clientId, 1)));
    assert.deepEqual(events.map((e) => e.data.contentData), ['r1', 'r2', 'r3']);
    assert.equal(events[1]!.id, during);
  });

  test('a live copy the bus delivers after the history read already replayed it is not queued again', async () => {
    const first = await publish('s0');
    const clientId = await handshake(server.url, cookie);
    // Delay the bus hop of one room append past the recovery (a Redis subscriber socket can
    // be read after the command socket that returned the same entry from history).
    const bus = server.app.core.backend.bus;
    assert.ok(bus instanceof MemoryBus);
    const emit = bus.emit;
    const deferred: BusMessage[] = [];
    let deferring = true;
    bus.emit = (message: BusMessage): void => {
      if (deferring && message.kind === 'append' && message.stream.endsWith(ROOM)) deferred.push(message);
      else emit.call(bus, message);
    };
    let late: string;
    try {
      late = await publish('s1');
      const [reply] = await bayeux(server.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream', ext: { last_serial: first } }]);
      assert.equal(reply!.successful, true);
    } finally {
      deferring = false;
      bus.emit = emit;
    }
    assert.equal(deferred.length, 1);
    for (const message of deferred) emit.call(bus, message);
    const last = await publish('s2');
    const events: (BayeuxReply & { data: StreamData })[] = [];
    const deadline = Date.now() + 5000;
    while (!events.some((e) => e.id === last) && Date.now() < deadline) events.push(...(await streamEvents(clientId, 1)));
    assert.deepEqual(events.map((e) => [e.id, e.data.contentData]), [[late, 's1'], [last, 's2']]);
  });

  test('a publish reply carries the message serial in ext (the bot\'s own ext is not echoed)', async () => {
    const clientId = await handshake(server.url, cookie);
    const [reply] = await bayeux(server.url, cookie, [{ channel: '/service/stream', clientId, data: 'hi', ext: { trace: 1 } }]);
    assert.equal(reply!.successful, true);
    const ext = reply!.ext as { trace?: number; message_serial: string };
    assert.equal(ext.trace, undefined);
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
