/**
 * The WebSocket door at the connection level, with raw `ws` clients: handshake, refusals
 * with Pusher close codes, ping/pong, idle closing, bad input (malformed, binary and
 * oversized frames, unknown events), slow consumers (the close code a stalled client
 * actually receives) and shutdown. After every abuse the
 * process must still serve other clients.
 */
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../../helpers/app.ts';
import { RawPusherClient, waitUntil } from '../../helpers/ws-client.ts';

const DISABLED_APP = { id: 'app-off', key: 'key-off', secret: 'secret-off', enabled: false };
const SMALL_APP = { id: 'app-small', key: 'key-small', secret: 'secret-small', limits: { maxConnections: 1 } };

describe('ws door: connection protocol', () => {
  let running: RunningApp;
  before(async () => {
    running = await startApp(testConfig({ apps: [{ ...TEST_APP }, DISABLED_APP, SMALL_APP], websocket: { activityTimeoutSec: 30 } }));
  });
  after(() => running.close());

  /** The process still serves: a fresh client connects and gets a pong. */
  async function assertAlive(): Promise<void> {
    const client = await RawPusherClient.connect(running.port);
    client.send({ event: 'pusher:ping', data: {} });
    await client.nextEvent('pusher:pong');
    client.close();
  }

  test('connection_established carries a Pusher socket_id and the activity timeout', async () => {
    const a = await RawPusherClient.connect(running.port);
    const b = await RawPusherClient.connect(running.port);
    assert.match(a.socketId, /^\d+\.\d+$/);
    assert.match(b.socketId, /^\d+\.\d+$/);
    assert.notEqual(a.socketId, b.socketId);
    // The data is a JSON string, as Pusher sends it; re-connect to read the raw frame.
    const c = new RawPusherClient(new (await import('ws')).WebSocket(`ws://127.0.0.1:${running.port}/app/${TEST_APP.key}?protocol=7&client=js&version=8.4.0`));
    const established = await c.nextEvent('pusher:connection_established');
    assert.equal(typeof established.data, 'string');
    const data = JSON.parse(established.data as string) as { socket_id: string; activity_timeout: number };
    assert.equal(data.activity_timeout, 30);
    assert.match(data.socket_id, /^\d+\.\d+$/);
    for (const client of [a, b, c]) client.close();
  });

  test('pusher:ping is answered with pusher:pong', async () => {
    const client = await RawPusherClient.connect(running.port);
    client.send({ event: 'pusher:ping', data: {} });
    const pong = await client.nextEvent('pusher:pong');
    assert.deepEqual(pong.data, {});
    client.close();
  });

  const refusals: [string, string, string, number, string][] = [
    ['an unknown app key', 'no-such-key', 'protocol=7', 4001, 'RC_ERR_WS_UNKNOWN_APP_KEY'],
    ['a disabled app', DISABLED_APP.key, 'protocol=7', 4003, 'RC_ERR_APP_DISABLED'],
    ['an unsupported protocol', TEST_APP.key, 'protocol=3', 4007, 'RC_ERR_WS_PROTOCOL_UNSUPPORTED'],
    ['a missing protocol', TEST_APP.key, 'client=js', 4008, 'RC_ERR_WS_PROTOCOL_MISSING'],
  ];
  for (const [what, key, query, code, rcCode] of refusals) {
    test(`${what} gets pusher:error ${code} and close ${code}`, async () => {
      const client = await RawPusherClient.connect(running.port, key, query);
      const error = await client.nextEvent('pusher:error');
      assert.equal((error.data as { code: number }).code, code);
      assert.equal((error.data as { rc_code: string }).rc_code, rcCode);
      assert.equal((await client.closed).code, code);
    });
  }

  test('an unsupported protocol is told every supported version (7, and 2: 7 with the message model)', async () => {
    const client = await RawPusherClient.connect(running.port, TEST_APP.key, 'protocol=3');
    const error = await client.nextEvent('pusher:error');
    const message = (error.data as { message: string }).message;
    assert.match(message, /protocol "3" is not supported/);
    assert.match(message, /\b7\b/);
    assert.match(message, /\b2\b/);
    await client.closed;
  });

  test('past limits.maxConnections a new connection is closed with 4004 (over quota: do not reconnect)', async () => {
    const first = await RawPusherClient.connect(running.port, SMALL_APP.key);
    assert.match(first.socketId, /^\d+\.\d+$/);
    const second = await RawPusherClient.connect(running.port, SMALL_APP.key);
    const error = await second.nextEvent('pusher:error');
    assert.equal((error.data as { code: number }).code, 4004);
    assert.equal((error.data as { rc_code: string }).rc_code, 'RC_ERR_WS_OVER_QUOTA');
    assert.equal((await second.closed).code, 4004);
    first.close();
    await first.closed;
    // The slot is released when the first one leaves.
    await waitUntil(async () => {
      const third = await RawPusherClient.connect(running.port, SMALL_APP.key);
      const ok = third.socketId !== '';
      third.close();
      return ok;
    }, 3000, 'a free slot');
  });

  test('malformed frames get pusher:error 4300 and the connection keeps working', async () => {
    const client = await RawPusherClient.connect(running.port);
    const bad: [unknown, RegExp][] = [
      ['{not json', /not valid JSON/],
      ['[1,2,3]', /JSON object/],
      ['"just a string"', /JSON object/],
      [{ data: {} }, /"event" must be a non-empty string/],
      [{ event: 'pusher:subscribe' }, /"data" must be an object/],
      [{ event: 'pusher:subscribe', data: {} }, /data\.channel/],
      [{ event: 'pusher:subscribe', data: '{oops' }, /not JSON/],
      [{ event: 'pusher:subscribe', data: { channel: 'x', auth: 42 } }, /data\.auth/],
      [{ event: 'pusher:signin', data: { auth: 'a' } }, /data\.user_data/],
      [{ event: 'client-x', data: {} }, /"channel"/],
    ];
    for (const [frame, message] of bad) {
      client.send(frame);
      const error = await client.nextEvent('pusher:error');
      const data = error.data as { code: number; message: string; rc_code: string };
      assert.equal(data.code, 4300, JSON.stringify(frame));
      assert.equal(data.rc_code, 'RC_ERR_WS_BAD_FRAME');
      assert.match(data.message, message);
    }
    client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    const binary = await client.nextEvent('pusher:error');
    assert.match((binary.data as { message: string }).message, /binary frames are not supported/);
    client.send({ event: 'pusher:ping', data: {} });
    await client.nextEvent('pusher:pong');
    client.close();
  });

  test('unknown events get pusher:error RC_ERR_WS_UNKNOWN_EVENT', async () => {
    const client = await RawPusherClient.connect(running.port);
    for (const event of ['pusher:whatever', 'pusher_internal:member_added', 'my-event']) {
      client.send({ event, channel: 'x', data: {} });
      const error = await client.nextEvent('pusher:error');
      assert.equal((error.data as { rc_code: string }).rc_code, 'RC_ERR_WS_UNKNOWN_EVENT');
      assert.ok((error.data as { message: string }).message.includes(event));
    }
    client.close();
  });

  test('a 1 MB frame closes only that connection (1009); others are unaffected', async () => {
    const bystander = await RawPusherClient.connect(running.port);
    await bystander.subscribe('bystanders');
    const abuser = await RawPusherClient.connect(running.port);
    const closed = running.app.core.counters.wsClosed;
    const before = { tooBig: closed.get(`${TEST_APP.id}\n1009`), cut: closed.get(`${TEST_APP.id}\n1006`) };
    abuser.send(JSON.stringify({ event: 'client-big', channel: 'private-x', data: 'x'.repeat(1024 * 1024) }));
    assert.equal((await abuser.closed).code, 1009);
    // Counted by the code the server closed with (it never reads the peer's close reply after such a frame).
    await waitUntil(() => closed.get(`${TEST_APP.id}\n1009`) === before.tooBig + 1, 5000, 'the close counted under 1009');
    assert.equal(closed.get(`${TEST_APP.id}\n1006`), before.cut, 'not counted as cut (1006)');
    const app = running.app.core.apps.findById(TEST_APP.id)!;
    await running.app.core.publish(app, [{ name: 'still-here', channels: ['bystanders'], data: 'ok', origin: 'rest' }]);
    const event = await bystander.nextEvent('still-here');
    assert.equal(event.data, 'ok');
    bystander.close();
    await assertAlive();
  });

  test('shutdown closes every socket with 4200 (reconnect now)', async () => {
    const other = await startApp(testConfig());
    const client = await RawPusherClient.connect(other.port);
    await other.close();
    const closed = await client.closed;
    assert.equal(closed.code, 4200);
  });
});

describe('ws door: slow consumers', () => {
  /** Small enough to reach quickly, large enough that a client that reads never gets near it (see flood). */
  const MAX_BUFFERED = 128 * 1024;
  const EVENTS_PER_TURN = 8;
  const CHUNK = 'y'.repeat(8 * 1024);
  let small: RunningApp;
  /** Server-side sockets of upgraded connections, in connection order. */
  const serverSockets: Duplex[] = [];

  before(async () => {
    small = await startApp(testConfig({ websocket: { maxBufferedBytes: MAX_BUFFERED } }));
    // A second 'upgrade' listener (after the door's) sees the same socket. Its unsent byte
    // count is the only sign, before the server cuts the connection, that the server gave
    // up on it: SocketWriter closes the connection on the write that takes it past the limit.
    small.app.http.server.on('upgrade', (_request: unknown, socket: Duplex) => serverSockets.push(socket));
  });
  after(() => small.close());

  /**
   * Subscribes a client that then stops reading, and a client that keeps reading, to
   * `channel`, and publishes until the server's buffer for the stalled one passes
   * MAX_BUFFERED. Each turn of the event loop publishes EVENTS_PER_TURN events (about
   * 64 KiB, flushed together at the end of the turn), so the reading client never has more
   * than half the limit queued: only the stalled one can be closed.
   */
  async function flood(channel: string): Promise<{ stalled: RawPusherClient; reader: RawPusherClient; published: number }> {
    const stalled = await RawPusherClient.connect(small.port);
    const stalledSocket = serverSockets.at(-1)!;
    const reader = await RawPusherClient.connect(small.port);
    await stalled.subscribe(channel);
    await reader.subscribe(channel);
    const core = small.app.core;
    assert.equal(core.hub.localCount(TEST_APP.id, channel), 2);
    stalled.ws.pause(); // stop reading: the kernel buffers fill, then the server's
    const app = core.apps.findById(TEST_APP.id)!;
    let published = 0;
    const deadline = Date.now() + 30_000;
    while (stalledSocket.writableLength <= MAX_BUFFERED) {
      assert.ok(Date.now() < deadline, `the server never held more than ${MAX_BUFFERED} bytes for the stalled client`);
      const events = Array.from({ length: EVENTS_PER_TURN }, () => ({ name: 'bulk', channels: [channel], data: CHUNK, origin: 'rest' as const }));
      await core.publish(app, events);
      published += EVENTS_PER_TURN;
      // Next event-loop turn: this turn's writes are flushed, and the reader reads them.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return { stalled, reader, published };
  }

  /** The reading client got every event, is still subscribed, and still answers. */
  async function assertReaderUnaffected(reader: RawPusherClient, channel: string, published: number): Promise<void> {
    const app = small.app.core.apps.findById(TEST_APP.id)!;
    await small.app.core.publish(app, [{ name: 'after', channels: [channel], data: 'still here', origin: 'rest' }]);
    assert.equal((await reader.nextEvent('after', channel)).data, 'still here');
    assert.equal(reader.frames.filter((frame) => frame.event === 'bulk').length, published);
    reader.send({ event: 'pusher:ping', data: {} });
    await reader.nextEvent('pusher:pong');
    reader.close();
  }

  test('a stalled client that reads again within the grace period gets its backlog, then close code 4200', async () => {
    const channel = 'firehose-resumed';
    const { stalled, reader, published } = await flood(channel);
    stalled.ws.resume();
    const closed = await stalled.closed;
    assert.equal(closed.code, 4200, `close ${closed.code} ${closed.reason}`);
    assert.match(closed.reason, /fell behind/);
    // What the server had accepted before giving up still arrived, in front of the close.
    const received = stalled.frames.filter((frame) => frame.event === 'bulk').length;
    assert.ok(received > 0 && received <= published, `${received} of ${published}`);
    assert.equal(stalled.frames.some((frame) => frame.event === 'pusher:error'), false, 'no error frame queued behind the backlog');
    await waitUntil(() => small.app.core.hub.localCount(TEST_APP.id, channel) === 1, 5000, 'the stalled client to leave the channel');
    await assertReaderUnaffected(reader, channel, published);
  });

  test('a client stalled past the grace period is cut: no close frame reaches it (1006 abnormal closure)', async () => {
    const channel = 'firehose-stuck';
    const { stalled, reader, published } = await flood(channel);
    // Still not reading: the server cuts the TCP connection after its close grace period
    // and only then releases the subscription.
    await waitUntil(() => small.app.core.hub.localCount(TEST_APP.id, channel) === 1, 10_000, 'the server to cut the stalled client');
    stalled.ws.resume();
    const closed = await stalled.closed;
    assert.equal(closed.code, 1006, `close ${closed.code} ${closed.reason}`);
    // The bytes still queued in the server process (the close frame among them) were dropped.
    const received = stalled.frames.filter((frame) => frame.event === 'bulk').length;
    assert.ok(received < published, `${received} of ${published}`);
    await assertReaderUnaffected(reader, channel, published);
  });
});

describe('ws door: activity timeout', () => {
  let running: RunningApp;
  before(async () => {
    running = await startApp(testConfig({ websocket: { activityTimeoutSec: 1, pongTimeoutSec: 1 } }));
  });
  after(() => running.close());

  test('an idle client is pinged, and closed with 4201 when it stays silent', async () => {
    const silent = await RawPusherClient.connect(running.port);
    const answering = await RawPusherClient.connect(running.port);
    answering.ws.on('message', (data) => {
      if (JSON.parse(data.toString()).event === 'pusher:ping') answering.send({ event: 'pusher:pong', data: {} });
    });
    await silent.nextEvent('pusher:ping', undefined, 5000);
    const closed = await silent.closed;
    assert.equal(closed.code, 4201);
    // The one that answers is still connected after the same time.
    await answering.nextEvent('pusher:ping', undefined, 5000);
    answering.send({ event: 'pusher:ping', data: {} });
    await answering.nextEvent('pusher:pong');
    assert.equal(answering.ws.readyState, answering.ws.OPEN);
    answering.close();
  });
});
