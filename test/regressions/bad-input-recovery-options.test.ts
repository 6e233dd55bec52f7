/**
 * Hostile values in the recovery and self-publish options, case by case (the fuzzer in
 * bad-input-fuzz.test.ts reaches them only at random). Each is answered with a clear error
 * or ignored as documented — never a 5xx, a crash or a dropped connection:
 * - WebSocket `pusher:subscribe` `data.last_serial`, protocol 7 and 2: not a string (object,
 *   array, number, boolean) or longer than 40 characters → `pusher:error` 4300
 *   RC_ERR_WS_BAD_FRAME naming the field, nothing subscribed, the connection goes on; a short
 *   string that is not a serial → subscribed, then `roomcast:recovery_failed` `gap_too_old`.
 * - Bayeux `/meta/subscribe` `ext.last_serial`: anything but a string or an object of
 *   strings, a serial over 100 characters, more than 100 channels → the subscribe succeeds
 *   and its `ext.recovery` says `recovered: false` with the reason per entry; JSON nested
 *   past 64 levels → 400 RC_ERR_JSON_TOO_DEEP for the whole request.
 * - Bayeux `/meta/handshake` `ext.broadcastToPublisher`: only JSON `false` opts out; any
 *   other value is ignored (the client's own publishes on a mapped channel come back).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { bayeux, bayeuxPost, handshake, login, type BayeuxReply } from '../helpers/bots.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';

const ROOM = 'presence-room-acme-lobby';
const CHAT = `/${ROOM}/chat`;
let server: RunningApp;
let cookie: string;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 1000 } }));
  cookie = (await login(server.url)).cookie;
});
after(() => server?.close());

/** An object nested `depth` levels, `false` at the bottom. */
function nested(depth: number): unknown {
  let value: unknown = false;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

/** The server still serves: `/up` answers 200. */
async function assertAlive(): Promise<void> {
  assert.equal((await fetch(`${server.url}/up`)).status, 200);
}

describe('WebSocket pusher:subscribe data.last_serial', () => {
  const refused: [string, unknown, RegExp][] = [
    ['an object', { epoch: 'x', seq: 1 }, /"data\.last_serial\\?" must be a string/],
    ['an array', ['k3x9q0ab-00000000004'], /"data\.last_serial\\?" must be a string/],
    ['a number', 4, /"data\.last_serial\\?" must be a string/],
    ['a huge number', 1e308, /"data\.last_serial\\?" must be a string/],
    ['a boolean', true, /"data\.last_serial\\?" must be a string/],
    ['a 41-character string', 'k'.repeat(41), /"data\.last_serial\\?" is not a serial/],
    ['a 200 KB string', 'k'.repeat(200_000), /"data\.last_serial\\?" is not a serial/],
  ];
  for (const protocol of [7, 2]) {
    test(`protocol ${protocol}: a last_serial that is not a string or is too long is a pusher:error 4300; the connection goes on`, async () => {
      const client = await RawPusherClient.connect(server.port, TEST_APP.key, `protocol=${protocol}&client=test&version=1.0`);
      try {
        for (const [what, value, message] of refused) {
          const channel = `bad-serial-${protocol}`;
          client.send({ event: 'pusher:subscribe', data: { channel, last_serial: value } });
          const error = await client.next((frame) => frame.event === 'pusher:error');
          const data = error.data as { code: number; message: string; rc_code: string };
          assert.equal(data.code, 4300, what);
          assert.equal(data.rc_code, 'RC_ERR_WS_BAD_FRAME', what);
          assert.match(data.message, message, what);
          assert.ok(data.message.length < 200, `${what}: the error does not echo the value`);
          // Nothing was subscribed: a plain subscribe of the same channel now succeeds.
          assert.equal((await client.subscribe(channel)).event, 'pusher_internal:subscription_succeeded', what);
          client.send({ event: 'pusher:unsubscribe', data: { channel } });
        }
        assert.ok(!client.frames.some((frame) => frame.event === 'pusher:error'), JSON.stringify(client.frames));
        assert.equal(client.ws.readyState, client.ws.OPEN);
      } finally {
        client.close();
      }
      await assertAlive();
    });

    test(`protocol ${protocol}: a short last_serial that is not a serial subscribes, then recovery_failed gap_too_old`, async () => {
      const client = await RawPusherClient.connect(server.port, TEST_APP.key, `protocol=${protocol}&client=test&version=1.0`);
      try {
        for (const [index, value] of ['not-a-serial', '', '\uD800', '__proto__', '-1', 'k3x9q0ab-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz'].entries()) {
          const channel = `odd-serial-${protocol}-${index}`;
          client.send({ event: 'pusher:subscribe', data: { channel, last_serial: value } });
          const succeeded = await client.next((frame) => frame.channel === channel && frame.event !== 'roomcast:recovery_failed');
          assert.equal(succeeded.event, 'pusher_internal:subscription_succeeded', `${JSON.stringify(value)}: ${JSON.stringify(succeeded)}`);
          const failed = await client.next((frame) => frame.channel === channel && frame.event === 'roomcast:recovery_failed');
          const data = JSON.parse(failed.data as string) as { channel: string; last_serial: string; code: string; reason: string };
          assert.equal(data.channel, channel);
          assert.equal(data.code, 'gap_too_old', JSON.stringify(value));
          assert.equal(data.last_serial, value);
          assert.match(data.reason, /not a serial/);
        }
      } finally {
        client.close();
      }
      await assertAlive();
    });
  }
});

describe('Bayeux /meta/subscribe ext.last_serial', () => {
  /** Subscribes `subscription` with `ext.last_serial: value` on a fresh client; returns the reply. */
  async function subscribeWith(subscription: string, value: unknown): Promise<BayeuxReply> {
    const clientId = await handshake(server.url, cookie);
    const [reply] = await bayeux(server.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription, ext: { last_serial: value } }]);
    assert.ok(reply !== undefined);
    return reply;
  }

  const recoveryOf = (reply: BayeuxReply) => (reply.ext as { recovery: { channel: string; recovered: boolean; replayed: number; reason: string; code?: string }[] }).recovery;

  test('neither a string nor an object (number, boolean, array): the subscribe succeeds, its recovery says why not', async () => {
    for (const value of [5, -1, 1e308, true, false, [], ['k3x9q0ab-00000000004'], [[[]]]]) {
      const reply = await subscribeWith('/service/stream', value);
      assert.equal(reply.successful, true, JSON.stringify(value));
      assert.deepEqual(recoveryOf(reply), [{ channel: '', recovered: false, replayed: 0, reason: 'last_serial must be a string or an object of serials by channel' }], JSON.stringify(value));
    }
    await assertAlive();
  });

  test('an object whose serials are not strings of 1–100 characters, nested objects included', async () => {
    const value = { '/service/stream': { epoch: 'x', seq: 4 }, [CHAT]: 5, [`/${ROOM}/other`]: nested(20), [`/${ROOM}/empty`]: '', [`/${ROOM}/long`]: 's'.repeat(101) };
    const reply = await subscribeWith(`/${ROOM}/**`, value);
    assert.equal(reply.successful, true);
    const recovery = recoveryOf(reply);
    assert.equal(recovery.length, 5);
    for (const entry of recovery) {
      assert.equal(entry.recovered, false, JSON.stringify(entry));
      assert.equal(entry.reason, 'the serial must be a string of 1–100 characters', JSON.stringify(entry));
    }
    await assertAlive();
  });

  test('a huge string, a huge channel name, a thousand channels: refused per entry, bounded in the reply', async () => {
    const huge = await subscribeWith('/service/stream', 's'.repeat(200_000));
    assert.equal(huge.successful, true);
    assert.deepEqual(recoveryOf(huge), [{ channel: '/service/stream', recovered: false, replayed: 0, reason: 'the serial must be a string of 1–100 characters' }]);

    const longName = await subscribeWith(`/${ROOM}/**`, { [`/${ROOM}/${'c'.repeat(100_000)}`]: 'k3x9q0ab-00000000004' });
    assert.equal(longName.successful, true);
    const [entry] = recoveryOf(longName);
    assert.equal(entry?.recovered, false);
    assert.ok(entry!.channel.length <= 256, `channel echoed at ${entry!.channel.length} characters`);

    const many = await subscribeWith(`/${ROOM}/**`, Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`/${ROOM}/c${i}`, 'k3x9q0ab-00000000004'])));
    assert.equal(many.successful, true);
    assert.equal(recoveryOf(many).length, 100, 'at most 100 channels are looked at');
    await assertAlive();
  });

  test('a string that is not a serial: recovery_failed gap_too_old, and the client goes on', async () => {
    const clientId = await handshake(server.url, cookie);
    const [reply] = await bayeux(server.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream', ext: { last_serial: '__proto__' } }]);
    assert.equal(reply?.successful, true);
    assert.deepEqual(recoveryOf(reply!), [{ channel: '/service/stream', recovered: false, replayed: 0, code: 'gap_too_old', reason: 'the last serial is not a serial' }]);
    const [connect] = await bayeux(server.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
    assert.equal(connect?.successful, true);
  });

  test('ext.last_serial nested past 64 levels: the request is a 400 RC_ERR_JSON_TOO_DEEP', async () => {
    const clientId = await handshake(server.url, cookie);
    const response = await bayeuxPost(server.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream', ext: { last_serial: nested(200) } }]);
    assert.equal(response.status, 400);
    assert.match(await response.text(), /RC_ERR_JSON_TOO_DEEP/);
    await assertAlive();
  });
});

describe('Bayeux /meta/handshake ext.broadcastToPublisher', () => {
  let marker = 0;

  /**
   * Handshakes with `ext`, subscribes the mapped chat channel, publishes on it, then a
   * person publishes a sentinel there; true when the client's own publish came back before
   * the sentinel (one channel's events arrive in order).
   */
  async function ownPublishComesBack(ext: unknown): Promise<boolean> {
    const [shake] = await bayeux(server.url, cookie, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], ext }]);
    assert.equal(shake?.successful, true, `handshake with ext ${JSON.stringify(ext)}: ${JSON.stringify(shake)}`);
    const clientId = shake!.clientId!;
    const [subscribed] = await bayeux(server.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: CHAT }]);
    assert.equal(subscribed?.successful, true);
    const own = `own-${++marker}`;
    const sentinel = `sentinel-${marker}`;
    const [published] = await bayeux(server.url, cookie, [{ channel: CHAT, clientId, data: own }]);
    assert.equal(published?.successful, true);
    const app = server.app.core.apps.requireEnabled(TEST_APP.id);
    await server.app.core.publish(app, [{ name: 'chat', channels: [`${ROOM}.chat`], data: sentinel, origin: 'rest', sender: { type: 'Human', id: 'alice' } }]);
    const seen: string[] = [];
    for (let round = 0; round < 20 && !seen.includes(sentinel); round++) {
      const replies = await bayeux(server.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
      for (const reply of replies) if (reply.channel === CHAT) seen.push(String((reply.data as { contentData?: unknown }).contentData));
    }
    assert.ok(seen.includes(sentinel), `the sentinel never arrived: ${JSON.stringify(seen)}`);
    await bayeux(server.url, cookie, [{ channel: '/meta/disconnect', clientId }]);
    return seen.includes(own);
  }

  test('JSON false opts out (the control case)', async () => {
    assert.equal(await ownPublishComesBack({ broadcastToPublisher: false }), false);
  });

  test('any other value is ignored: the handshake succeeds and own publishes come back', async () => {
    for (const value of ['false', 0, '', null, true, {}, { value: false }, [false], nested(30)]) {
      assert.equal(await ownPublishComesBack({ broadcastToPublisher: value }), true, `broadcastToPublisher ${JSON.stringify(value)}`);
    }
    // An ext that is not an object at all.
    for (const ext of ['broadcastToPublisher', 5, [{ broadcastToPublisher: false }], null]) {
      assert.equal(await ownPublishComesBack(ext), true, `ext ${JSON.stringify(ext)}`);
    }
    await assertAlive();
  });

  test('broadcastToPublisher nested past 64 levels: the handshake request is a 400 RC_ERR_JSON_TOO_DEEP', async () => {
    const response = await bayeuxPost(server.url, cookie, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], ext: { broadcastToPublisher: nested(200) } }]);
    assert.equal(response.status, 400);
    assert.match(await response.text(), /RC_ERR_JSON_TOO_DEEP/);
    await assertAlive();
  });
});
