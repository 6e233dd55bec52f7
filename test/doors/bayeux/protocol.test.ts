/**
 * Bayeux 1.0 behaviour of /api/v1/bayeux over real HTTP: encodings, id/ext, advice,
 * long-poll holding, timeout 0, batching, superseded connects, subscriptions with
 * wildcards and the channel mapping confined to the room, Join/Exit, error strings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ChannelMessage, Subscriber } from '../../../src/core/types.ts';
import { startApp, testConfig, type RunningApp } from '../../helpers/app.ts';
import { bayeux, bayeuxPost, handshake, login, until, type BayeuxReply } from '../../helpers/bots.ts';

const ROOM = 'presence-room-acme-lobby';
const HOLD_MS = 1500;
let server: RunningApp;
let cookie: string;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: HOLD_MS } }));
  ({ cookie } = await login(server.url));
});
after(() => server.close());

const app = () => server.app.core.apps.findById('app-1')!;
const connect = (clientId: string, extra: Record<string, unknown> = {}) => ({ channel: '/meta/connect', clientId, connectionType: 'long-polling', ...extra });
const subscribe = (clientId: string, subscription: unknown) => ({ channel: '/meta/subscribe', clientId, subscription });
/** Connects held on this node now. */
const heldPolls = (): number => [...server.app.core.counters.gauge('bayeuxHeldPolls').values()].reduce((sum, count) => sum + count, 0);
/** Waits until the server holds one more connect than `before` (a request sent is not yet a request received). */
const untilHeld = (before: number): Promise<true> => until(() => (heldPolls() > before ? true : undefined));

describe('transport', () => {
  test('JSON with a charset, form-encoded message=, and CometD-style /handshake paths are accepted', async () => {
    const handshakeMessage = { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] };
    const variants: [string, string, string][] = [
      ['/api/v1/bayeux', 'application/json;charset=UTF-8', JSON.stringify([handshakeMessage])],
      ['/api/v1/bayeux/handshake', 'application/json', JSON.stringify(handshakeMessage)],
      ['/api/v1/bayeux', 'application/x-www-form-urlencoded', `message=${encodeURIComponent(JSON.stringify([handshakeMessage]))}`],
    ];
    for (const [path, contentType, body] of variants) {
      const response = await bayeuxPost(server.url, cookie, body, { path, contentType, raw: true });
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get('set-cookie'), null, '/bayeux never sets cookies');
      const [reply] = (await response.json()) as BayeuxReply[];
      assert.equal(reply!.successful, true);
      assert.equal(reply!.version, '1.0');
      assert.deepEqual(reply!.supportedConnectionTypes, ['long-polling']);
      assert.deepEqual(reply!.advice, { reconnect: 'retry', interval: 0, timeout: HOLD_MS });
      assert.match(String(reply!.clientId), /^[0-9a-f]{32}$/);
    }
  });

  test('id is echoed and ext is not; several messages per request are answered in order', async () => {
    const clientId = await handshake(server.url, cookie);
    const replies = await bayeux(server.url, cookie, [
      { ...subscribe(clientId, '/service/stream'), id: 'a1', ext: { trace: 7 } },
      { channel: '/service/stream', clientId, data: 'hi', id: 42 },
      connect(clientId, { id: 'c1' }),
    ]);
    assert.deepEqual(replies.map((r) => [r.channel, r.id, r.successful]), [
      ['/meta/subscribe', 'a1', true],
      ['/service/stream', 42, true],
      ['/meta/connect', 'c1', true],
    ]);
    assert.equal(replies[0]!.ext, undefined, 'a request\'s ext is never echoed');
    assert.deepEqual(replies[2]!.advice, { reconnect: 'retry', interval: 0, timeout: HOLD_MS });
  });

  test('a connect is held until a message arrives, then answered with it', async () => {
    const clientId = await handshake(server.url, cookie);
    await bayeux(server.url, cookie, [subscribe(clientId, '/service/stream')]);
    let answered = false;
    const before = heldPolls();
    const pending = bayeux(server.url, cookie, [connect(clientId)]).then((replies) => {
      answered = true;
      return replies;
    });
    await untilHeld(before);
    assert.equal(answered, false, 'the connect is held');
    await server.app.core.publish(app(), [{ name: 'chat', channels: [ROOM], data: 'later', origin: 'rest' }]);
    const replies = await pending;
    assert.equal(replies[0]!.channel, '/meta/connect');
    assert.equal(replies[1]!.channel, '/service/stream');
    assert.equal((replies[1]!.data as { contentData: string }).contentData, 'later');
  });

  test('timeout 0 and a batched connect are answered at once', async () => {
    const clientId = await handshake(server.url, cookie);
    const started = Date.now();
    const [alone] = await bayeux(server.url, cookie, [connect(clientId, { advice: { timeout: 0 } })]);
    assert.equal(alone!.successful, true);
    const batched = await bayeux(server.url, cookie, [subscribe(clientId, '/service/stream'), connect(clientId)]);
    assert.equal(batched[1]!.successful, true);
    assert.ok(Date.now() - started < HOLD_MS, 'neither connect was held');
  });

  test('a connect superseded by a newer one is answered with a Bayeux error, not HTTP 408', async () => {
    const clientId = await handshake(server.url, cookie);
    const before = heldPolls();
    const first = bayeuxPost(server.url, cookie, [connect(clientId)]);
    // The second must reach the server after the first, or it is the one superseded.
    await untilHeld(before);
    const second = bayeux(server.url, cookie, [connect(clientId, { advice: { timeout: 0 } })]);
    const response = await first;
    assert.equal(response.status, 200);
    const [reply] = (await response.json()) as BayeuxReply[];
    assert.equal(reply!.successful, false);
    assert.equal(reply!.error, '409::connect_superseded');
    assert.equal((await second)[0]!.successful, true);
  });

  test('an unknown or missing clientId gets 402::session_unknown with advice to handshake', async () => {
    // Names of Object.prototype members too: clients are looked up in a Map, never in a plain object.
    for (const clientId of ['nope', undefined, '__proto__', 'constructor', 'hasOwnProperty', 'toString']) {
      const [reply] = await bayeux(server.url, cookie, [connect(clientId as string)]);
      assert.equal(reply!.successful, false, String(clientId));
      assert.equal(reply!.error, '402::session_unknown', String(clientId));
      assert.equal((reply!.advice as { reconnect: string }).reconnect, 'handshake');
    }
    // The same for subscribe, publish and disconnect, which look the client up the same way.
    const replies = await bayeux(server.url, cookie, [
      { channel: '/meta/subscribe', clientId: '__proto__', subscription: '/service/stream' },
      { channel: '/service/stream', clientId: '__proto__', data: 'x' },
      { channel: '/meta/disconnect', clientId: '__proto__' },
    ]);
    assert.deepEqual(replies.map((r) => r.error), ['402::session_unknown', '402::session_unknown', '402::session_unknown']);
  });

  test('a clientId is only valid with the login that created it', async () => {
    const clientId = await handshake(server.url, cookie);
    const other = await login(server.url);
    const [reply] = await bayeux(server.url, other.cookie, [connect(clientId, { advice: { timeout: 0 } })]);
    assert.equal(reply!.error, '402::session_unknown');
  });
});

describe('channels', () => {
  test('subscriptions: errors 403 / 404 / 405 in the reply, arrays all or nothing', async () => {
    const clientId = await handshake(server.url, cookie);
    const before = server.app.core.hub.localCount('app-1', ROOM);
    const cases: [unknown, string][] = [
      ['/**', '403:/**:channel_forbidden'],
      ['/meta/*', '403:/meta/*:channel_forbidden'],
      ['/presence-room-acme-other', '403:/presence-room-acme-other:channel_forbidden'],
      ['/service/elsewhere', '404:/service/elsewhere:channel_unknown'],
      ['/a b', '405:/a b:channel_invalid'],
      ['/a/**/b', '405:/a/**/b:channel_invalid'],
      [['/service/stream', '/elsewhere'], '403:/elsewhere:channel_forbidden'],
      [42, '400:subscription:field_missing'],
      // Bayeux grammar allows `!` and `~`; no app channel has them, so nothing could ever arrive there.
      [`/${ROOM}/a!b`, `405:/${ROOM}/a!b:channel_invalid`],
      [`/${ROOM}/a~b/*`, `405:/${ROOM}/a~b/*:channel_invalid`],
      [`/${ROOM}/${'x'.repeat(200)}`, `405:/${ROOM}/${'x'.repeat(100 - ROOM.length - 2)}:channel_invalid`],
      [Array.from({ length: 101 }, (_, i) => `/${ROOM}/c${i}`), '400:100:too_many_subscriptions'],
    ];
    for (const [subscription, error] of cases) {
      const [reply] = await bayeux(server.url, cookie, [subscribe(clientId, subscription)]);
      assert.equal(reply!.successful, false, String(subscription));
      assert.equal(reply!.error, error);
      assert.deepEqual(reply!.subscription, subscription);
    }
    assert.equal(server.app.core.hub.localCount('app-1', ROOM), before, 'the failed array subscribed nothing');
    const [ok] = await bayeux(server.url, cookie, [subscribe(clientId, ['/service/stream', `/${ROOM}/chat`, `/${ROOM}/**`])]);
    assert.equal(ok!.successful, true);
    const [gone] = await bayeux(server.url, cookie, [{ channel: '/meta/unsubscribe', clientId, subscription: ['/service/stream', `/${ROOM}/chat`, `/${ROOM}/**`] }]);
    assert.equal(gone!.successful, true);
    assert.equal(server.app.core.hub.localCount('app-1', ROOM), before);
  });

  test('mapped channels: /room/a/b ⇄ room.a.b, wildcards * and **, delivered once each', async () => {
    const clientId = await handshake(server.url, cookie);
    const [reply] = await bayeux(server.url, cookie, [subscribe(clientId, [`/${ROOM}/*`, `/${ROOM}/chat`, `/${ROOM}/deep/**`])]);
    assert.equal(reply!.successful, true);
    const publish = (channel: string, data: string) => server.app.core.publish(app(), [{ name: 'note', channels: [channel], data, origin: 'rest' }]);
    await publish(`${ROOM}.chat`, 'one');
    await publish(`${ROOM}.deep.er.still`, 'two');
    await publish(`${ROOM}.not.matched`, 'three');
    await publish('presence-room-acme-other.chat', 'four');
    const events = await until(async () => {
      const replies = await bayeux(server.url, cookie, [connect(clientId, { advice: { timeout: 0 } })]);
      return replies.length >= 3 ? replies.slice(1) : undefined;
    });
    assert.deepEqual(events.map((e) => [e.channel, (e.data as { contentData: string; event: string }).contentData]), [
      [`/${ROOM}/chat`, 'one'],
      [`/${ROOM}/deep/er/still`, 'two'],
    ]);
    assert.equal((events[0]!.data as { event: string }).event, 'note');
  });

  test('publishing: /service/stream and mapped channels reach the room, outside is 403', async () => {
    const clientId = await handshake(server.url, cookie);
    const heard: ChannelMessage[] = [];
    const listener: Subscriber = { connectionId: 'listener', deliver: (m) => heard.push(m) };
    await server.app.core.subscribe('app-1', `${ROOM}.chat`, listener);
    try {
      const replies = await bayeux(server.url, cookie, [
        { channel: `/${ROOM}/chat`, clientId, data: { text: 'structured' } },
        { channel: '/elsewhere', clientId, data: 'x' },
        { channel: '/service/stream', clientId, data: { nothing: true } },
        { channel: '/service/stream', clientId },
        { channel: `/${ROOM}/*`, clientId, data: 'x' },
        { channel: `/${ROOM}/a!b`, clientId, data: 'x' },
        { channel: `/${ROOM}/chat`, clientId, data: 'x'.repeat(10_241) },
        { channel: '/service/stream', clientId, data: 'x'.repeat(10_241) },
      ]);
      assert.deepEqual(replies.map((r) => r.error ?? 'ok'), [
        'ok',
        '403:/elsewhere:channel_forbidden',
        '400:data (a string or {"contentData"_ "…"}):field_missing',
        '400:data:field_missing',
        `405:/${ROOM}/*:channel_invalid`,
        `405:/${ROOM}/a!b:channel_invalid`,
        '413:10240:data_too_large',
        '413:10240:data_too_large',
      ]);
      const message = await until(() => heard[0]);
      assert.equal(message.record.data, '{"text":"structured"}');
      assert.equal(message.record.name, 'message');
    } finally {
      await server.app.core.unsubscribe('app-1', `${ROOM}.chat`, listener);
    }
  });

  test('people joining and leaving the room channel arrive as Join / Exit', async () => {
    const clientId = await handshake(server.url, cookie);
    await bayeux(server.url, cookie, [subscribe(clientId, '/service/stream')]);
    const human: Subscriber = { connectionId: 'human-1', deliver: () => {} };
    await server.app.core.joinPresence('app-1', ROOM, human, { userId: 'alice', userInfo: { name: 'Alice' } });
    await server.app.core.unsubscribe('app-1', ROOM, human);
    const events = await until(async () => {
      const replies = await bayeux(server.url, cookie, [connect(clientId, { advice: { timeout: 0 } })]);
      return replies.length >= 3 ? replies.slice(1) : undefined;
    });
    assert.deepEqual(events.map((e) => { const d = e.data as Record<string, unknown>; return [d.messageType, d.senderType, d.senderID]; }), [
      ['Join', 'Human', 'alice'],
      ['Exit', 'Human', 'alice'],
    ]);
    assert.equal((events[0]!.data as { senderDisplayName: string }).senderDisplayName, 'Alice');
  });

  test('disconnect ends the client; a held connect is released', async () => {
    const clientId = await handshake(server.url, cookie);
    const before = heldPolls();
    const held = bayeux(server.url, cookie, [connect(clientId)]);
    // The disconnect must find the connect held, or the connect comes after it and finds no session.
    await untilHeld(before);
    const [reply] = await bayeux(server.url, cookie, [{ channel: '/meta/disconnect', clientId }]);
    assert.equal(reply!.successful, true);
    const [released] = await held;
    assert.equal((released!.advice as { reconnect: string }).reconnect, 'none');
    const [after] = await bayeux(server.url, cookie, [connect(clientId, { advice: { timeout: 0 } })]);
    assert.equal(after!.error, '402::session_unknown');
  });
});
