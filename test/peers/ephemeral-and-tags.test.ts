/**
 * `extras.ephemeral` and `tags` on publish, on two nodes sharing one Redis, with the
 * official `pusher` SDK publishing on node A:
 * - an ephemeral event reaches pusher-js on node B and a Faye bot on node B (every node,
 *   every door), is not stored (no history, no serial in the reply, no cache replay);
 * - a subscriber that sent Sockudo's `tags_filter` gets only the events whose tags match;
 *   others get everything; bad tags or filters are refused, never ignored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import faye from 'faye';
import type Pusher from 'pusher';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { login, until } from '../helpers/bots.ts';
import { nextEvent, pusherJsClient, serverSdk, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';

const ROOM = 'presence-room-acme-lobby';

describe('ephemeral events and tags across two nodes', () => {
  let redis: TestRedis;
  let nodeA: RunningApp;
  let nodeB: RunningApp;
  let sdk: Pusher;
  const peers: PusherJs[] = [];
  const raws: RawPusherClient[] = [];

  before(async () => {
    redis = await startRedis();
    const config = testConfig({ bots: { cookieSecret: 'a-shared-cookie-secret-for-tests', maxEventLoopDelayMs: 0 } }, redis.url);
    nodeA = await startApp(config, 'eph-a');
    nodeB = await startApp(config, 'eph-b');
    sdk = serverSdk(nodeA.port);
  });
  after(async () => {
    for (const peer of peers) peer.disconnect();
    for (const raw of raws) raw.close();
    await nodeA?.close();
    await nodeB?.close();
    await redis?.stop();
  });

  /** The SDK's generic POST (it JSON-encodes `body` itself; its typings say string). */
  const trigger = async (body: Record<string, unknown>) => {
    const response = await sdk.post({ path: '/events', body: body as unknown as string });
    return (await response.json()) as { message_serials: Record<string, string> };
  };
  const history = async (channel: string) => {
    const reply = await signedCall(nodeA.url, 'GET', `/apps/${TEST_APP.id}/channels/${channel}/history`);
    return (reply.json.items as { data: string }[]).map((item) => item.data);
  };

  test('an ephemeral event reaches pusher-js and a bot on the other node, and is not stored', async () => {
    const pusher = await pusherJsClient(nodeB.port);
    peers.push(pusher);
    const channel = await subscribed(pusher, 'cache-typing');
    const typing = nextEvent<{ who: string }>(channel, 'typing');

    const { cookie } = await login(nodeA.url);
    const bot = new faye.Client(`${nodeB.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
    bot.setHeader('Cookie', cookie);
    const botSaw: { contentData?: string }[] = [];
    await bot.subscribe('/service/stream', (message) => botSaw.push(message as { contentData?: string }));

    const reply = await trigger({ name: 'typing', channel: 'cache-typing', data: JSON.stringify({ who: 'ann' }), extras: { ephemeral: true } });
    assert.deepEqual(reply.message_serials, {}, 'an ephemeral event has no serial');
    assert.deepEqual((await typing).data, { who: 'ann' });
    await trigger({ name: 'chat', channels: [ROOM], data: 'just now', extras: { ephemeral: true } });
    assert.equal((await until(() => botSaw[0])).contentData, 'just now');
    bot.disconnect();

    assert.deepEqual(await history('cache-typing'), [], 'not in history');
    // Not the cache either: a new subscriber to the cache channel gets a miss.
    const later = await RawPusherClient.connect(nodeB.port);
    raws.push(later);
    await later.subscribe('cache-typing');
    await later.nextEvent('pusher:cache_miss', 'cache-typing');

    const stored = await trigger({ name: 'typing', channel: 'cache-typing', data: 'kept' });
    assert.ok((stored.message_serials['cache-typing'] ?? '').length > 0, 'a stored event has a serial');
    assert.deepEqual(await history('cache-typing'), ['kept']);
  });

  test('protocol 2 marks an ephemeral event instead of giving it a serial', async () => {
    const raw = await RawPusherClient.connect(nodeB.port, TEST_APP.key, 'protocol=2&client=test&version=1.0');
    raws.push(raw);
    await raw.subscribe('v2-room');
    await trigger({ name: 'blink', channel: 'v2-room', data: 'x', extras: { ephemeral: true } });
    const frame = (await raw.nextEvent('blink', 'v2-room')) as unknown as Record<string, unknown>;
    assert.equal(frame.ephemeral, true);
    assert.equal(frame.serial, undefined);
  });

  test("tags_filter: a subscriber gets only the events whose tags match (Sockudo's filter nodes)", async () => {
    const filtered = await RawPusherClient.connect(nodeB.port);
    const everything = await RawPusherClient.connect(nodeB.port);
    raws.push(filtered, everything);
    filtered.send({
      event: 'pusher:subscribe',
      data: {
        channel: 'match-feed',
        tags_filter: { op: 'or', nodes: [{ key: 'type', cmp: 'eq', val: 'goal' }, { op: 'and', nodes: [{ key: 'type', cmp: 'eq', val: 'shot' }, { key: 'xg', cmp: 'gte', val: 0.8 }] }] },
      },
    });
    await filtered.nextEvent('pusher_internal:subscription_succeeded', 'match-feed');
    await everything.subscribe('match-feed');
    const events: [string, Record<string, string> | undefined][] = [
      ['goal', { type: 'goal' }],
      ['weak shot', { type: 'shot', xg: '0.2' }],
      ['strong shot', { type: 'shot', xg: '0.9' }],
      ['untagged', undefined],
      ['card', { type: 'card' }],
    ];
    for (const [data, tags] of events) await trigger({ name: 'play', channel: 'match-feed', data, ...(tags === undefined ? {} : { tags }) });
    for (const [data] of events) assert.equal((await everything.nextEvent('play', 'match-feed')).data, data);
    assert.deepEqual(
      filtered.frames.filter((frame) => frame.event === 'play').map((frame) => frame.data),
      ['goal', 'strong shot'],
    );
    // Tags are stored with the event.
    const reply = await signedCall(nodeA.url, 'GET', `/apps/${TEST_APP.id}/channels/match-feed/history`, { params: { limit: '1' } });
    assert.equal((reply.json.items as { data: string }[])[0]!.data, 'card');
  });

  test('bad tags, bad filters and ephemeral with push are refused, never ignored', async () => {
    const refused = async (body: Record<string, unknown>) => {
      const reply = await signedCall(nodeA.url, 'POST', `/apps/${TEST_APP.id}/events`, { body: { name: 'e', channel: 'c', data: '1', ...body } });
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.equal(reply.json.code, 'RC_ERR_EVENT_INVALID_FIELD', JSON.stringify(body));
    };
    await refused({ tags: ['a'] });
    await refused({ tags: { n: 5 } });
    await refused({ extras: { ephemeral: 'yes' } });
    await refused({ extras: { ephemeral: true, push: { title: 't', body: 'b' } } });

    const raw = await RawPusherClient.connect(nodeB.port);
    raws.push(raw);
    const bad = [
      { tags_filter: { key: 'type', cmp: 'equals', val: 'x' } },
      { tags_filter: { op: 'not', nodes: [] } },
      { tags_filter: { key: 'type', cmp: 'in', vals: [] } },
      { filter: { events: ['goal'] } },
    ];
    for (const [index, options] of bad.entries()) {
      const channel = `bad-filter-${index}`;
      raw.send({ event: 'pusher:subscribe', data: { channel, ...options } });
      const error = await raw.nextEvent('pusher:subscription_error', channel);
      assert.equal((error.data as { rc_code: string }).rc_code, 'RC_ERR_WS_BAD_TAGS_FILTER', JSON.stringify(options));
    }
  });
});
