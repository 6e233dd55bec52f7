/**
 * The WebSocket door at the connection level, with raw `ws` clients: handshake, refusals
 * with Pusher close codes, ping/pong, idle closing, bad input (malformed, binary and
 * oversized frames, unknown events), slow consumers and shutdown. After every abuse the
 * process must still serve other clients.
 */
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
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

  test('past limits.maxConnections a new connection is closed with 4100 (reconnect later)', async () => {
    const first = await RawPusherClient.connect(running.port, SMALL_APP.key);
    assert.match(first.socketId, /^\d+\.\d+$/);
    const second = await RawPusherClient.connect(running.port, SMALL_APP.key);
    const error = await second.nextEvent('pusher:error');
    assert.equal((error.data as { code: number }).code, 4100);
    assert.equal((await second.closed).code, 4100);
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
    abuser.send(JSON.stringify({ event: 'client-big', channel: 'private-x', data: 'x'.repeat(1024 * 1024) }));
    assert.equal((await abuser.closed).code, 1009);
    const app = running.app.core.apps.findById(TEST_APP.id)!;
    await running.app.core.publish(app, [{ name: 'still-here', channels: ['bystanders'], data: 'ok', origin: 'rest' }]);
    const event = await bystander.nextEvent('still-here');
    assert.equal(event.data, 'ok');
    bystander.close();
    await assertAlive();
  });

  test('a slow consumer is closed with a 4200-range code instead of buffering without bound', async () => {
    const small = await startApp(testConfig({ websocket: { maxBufferedBytes: 1024 } }));
    try {
      const channel = 'firehose';
      const { socket, established } = await rawUpgrade(small.port);
      assert.match(established, /connection_established/);
      socket.write(maskedTextFrame(JSON.stringify({ event: 'pusher:subscribe', data: { channel } })));
      const core = small.app.core;
      await waitUntil(() => core.hub.localCount(TEST_APP.id, channel) === 1, 3000, 'the subscription');
      socket.pause(); // stop reading: the kernel buffers fill, then the server's
      const app = core.apps.findById(TEST_APP.id)!;
      const chunk = 'y'.repeat(10_000);
      await waitUntil(async () => {
        await core.publish(app, Array.from({ length: 10 }, () => ({ name: 'bulk', channels: [channel], data: chunk, origin: 'rest' as const })));
        return core.hub.localCount(TEST_APP.id, channel) === 0;
      }, 20_000, 'the slow consumer to be dropped');
      socket.destroy();
      const healthy = await RawPusherClient.connect(small.port);
      healthy.send({ event: 'pusher:ping', data: {} });
      await healthy.nextEvent('pusher:pong');
      healthy.close();
    } finally {
      await small.close();
    }
  });

  test('shutdown closes every socket with 4200 (reconnect now)', async () => {
    const other = await startApp(testConfig());
    const client = await RawPusherClient.connect(other.port);
    await other.close();
    const closed = await client.closed;
    assert.equal(closed.code, 4200);
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

/** A WebSocket handshake over a plain TCP socket, so the test controls reading. */
async function rawUpgrade(port: number): Promise<{ socket: Socket; established: string }> {
  const socket = netConnect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    `GET /app/${TEST_APP.key}?protocol=7 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  let received = '';
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer): void => {
      received += chunk.toString('latin1');
      if (received.includes('connection_established')) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
  });
  socket.on('error', () => {});
  return { socket, established: received };
}

/** A client → server text frame (clients must mask; a zero mask keeps it simple). */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  assert.ok(payload.length < 126);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}
