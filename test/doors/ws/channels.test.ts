/**
 * The WebSocket door's channels with raw `ws` clients: auth, presence membership per
 * user, cache channels, client events (permissions, no echo, rate limit, user_id),
 * duplicate and unknown (un)subscriptions, sign-in, server-to-user events and
 * terminate.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AppConfig } from '../../../src/config/schema.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../../helpers/app.ts';
import { channelAuth, RawPusherClient, waitUntil, type PusherFrame } from '../../helpers/ws-client.ts';
import { createHmac } from 'node:crypto';

describe('ws door: channels', () => {
  let running: RunningApp;
  let app: AppConfig;
  const clients: RawPusherClient[] = [];
  async function connect(): Promise<RawPusherClient> {
    const client = await RawPusherClient.connect(running.port);
    clients.push(client);
    return client;
  }
  before(async () => {
    running = await startApp(testConfig({ apps: [{ ...TEST_APP, limits: { clientEventsPerSecond: 3, maxPresenceMembers: 3 } }] }));
    app = running.app.core.apps.findById(TEST_APP.id)!;
  });
  after(async () => {
    for (const client of clients) client.close();
    await running.close();
  });
  const publish = (channel: string, name: string, data: unknown): Promise<unknown> =>
    running.app.core.publish(app, [{ name, channels: [channel], data, origin: 'rest' }]);

  test('a public channel receives published events with the data as a string', async () => {
    const client = await connect();
    const ok = await client.subscribe('news');
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    await publish('news', 'headline', { title: 'hello' });
    const event = await client.nextEvent('headline', 'news');
    assert.equal(event.data, '{"title":"hello"}');
  });

  test('a burst published in one tick arrives complete and in order (corked writes, all frame sizes)', async () => {
    const client = await connect();
    await client.subscribe('burst');
    // Payload lengths around the 7-bit/16-bit header boundaries (data ≤ the 10 KiB event limit).
    const sizes = [0, 1, 100, 116, 117, 118, 1000, 9000];
    const inputs = Array.from({ length: 200 }, (_, i) => ({ name: 'n', channels: ['burst'], data: `${i}:${'z'.repeat(sizes[i % sizes.length]!)}`, origin: 'rest' as const }));
    await running.app.core.publish(app, inputs);
    for (let i = 0; i < inputs.length; i++) {
      const event = await client.nextEvent('n', 'burst');
      assert.equal(event.data, inputs[i]!.data);
    }
  });

  test('a private channel needs a valid signature: 4009 otherwise', async () => {
    const client = await connect();
    client.send({ event: 'pusher:subscribe', data: { channel: 'private-a', auth: channelAuth(client.socketId, 'private-a', undefined, 'wrong') } });
    const refused = await client.nextEvent('pusher:subscription_error', 'private-a');
    const data = refused.data as { type: string; status: number; code: number; error: string };
    assert.deepEqual([data.type, data.status, data.code], ['AuthError', 401, 4009]);
    assert.match(data.error, new RegExp(`HMAC-SHA256 of "${client.socketId.replace('.', '\\.')}:private-a"`));
    const error = await client.nextEvent('pusher:error', 'private-a');
    assert.equal((error.data as { code: number }).code, 4009);
    // A signature for another socket id is refused too (no replay across connections).
    const other = await connect();
    client.send({ event: 'pusher:subscribe', data: { channel: 'private-a', auth: channelAuth(other.socketId, 'private-a') } });
    await client.nextEvent('pusher:subscription_error', 'private-a');
    // Missing auth.
    client.send({ event: 'pusher:subscribe', data: { channel: 'private-a' } });
    await client.nextEvent('pusher:subscription_error', 'private-a');
    assert.equal((await client.subscribe('private-a')).event, 'pusher_internal:subscription_succeeded');
  });

  test('an invalid channel name is a subscription error', async () => {
    const client = await connect();
    client.send({ event: 'pusher:subscribe', data: { channel: 'bad channel!' } });
    const refused = await client.nextEvent('pusher:subscription_error');
    assert.equal((refused.data as { rc_code: string }).rc_code, 'RC_ERR_CHANNEL_INVALID_NAME');
  });

  test('subscribing twice and unsubscribing an unknown channel are clear errors', async () => {
    const client = await connect();
    await client.subscribe('twice');
    client.send({ event: 'pusher:subscribe', data: { channel: 'twice' } });
    const twice = await client.nextEvent('pusher:error', 'twice');
    assert.equal((twice.data as { rc_code: string }).rc_code, 'RC_ERR_WS_ALREADY_SUBSCRIBED');
    client.send({ event: 'pusher:unsubscribe', data: { channel: 'never' } });
    const never = await client.nextEvent('pusher:error', 'never');
    assert.equal((never.data as { rc_code: string }).rc_code, 'RC_ERR_WS_NOT_SUBSCRIBED');
    client.send({ event: 'pusher:unsubscribe', data: { channel: 'twice' } });
    await waitUntil(() => running.app.core.hub.localCount(TEST_APP.id, 'twice') === 0, 10_000, 'unsubscribe');
    await publish('twice', 'after-unsubscribe', 'x');
    await publish('news', 'marker', 'x');
    client.send({ event: 'pusher:ping', data: {} });
    await client.nextEvent('pusher:pong');
    assert.equal(client.frames.some((frame) => frame.event === 'after-unsubscribe'), false);
  });

  test('subscribe, unsubscribe, subscribe in one burst leaves exactly one live subscription', async () => {
    const client = await connect();
    const channel = 'presence-flip';
    const channelData = JSON.stringify({ user_id: 'flip' });
    const subscribe = { event: 'pusher:subscribe', data: { channel, auth: channelAuth(client.socketId, channel, channelData), channel_data: channelData } };
    client.send(subscribe);
    client.send({ event: 'pusher:unsubscribe', data: { channel } });
    client.send(subscribe);
    await client.nextEvent('pusher_internal:subscription_succeeded', channel);
    await publish(channel, 'after-flip', 'once');
    assert.equal((await client.nextEvent('after-flip', channel)).data, 'once');
    assert.equal(running.app.core.hub.localCount(TEST_APP.id, channel), 1);
    assert.deepEqual((await running.app.core.presenceMembers(TEST_APP.id, channel)).map((m) => m.userId), ['flip']);
    client.send({ event: 'pusher:ping', data: {} });
    await client.nextEvent('pusher:pong');
    assert.equal(client.frames.filter((frame) => frame.event === 'after-flip').length, 0);
  });

  test('presence: a user_info past maxPresenceMemberBytes (2 KiB) is refused, one within it joins', async () => {
    const client = await connect();
    const big = await client.subscribe('presence-sized', { user_id: 'big', user_info: { bio: 'x'.repeat(2100) } });
    assert.equal(big.event, 'pusher:subscription_error');
    assert.match(JSON.stringify(big.data), /RC_ERR_WS_BAD_CHANNEL_DATA/);
    assert.match(JSON.stringify(big.data), /maxPresenceMemberBytes/);
    assert.deepEqual(await running.app.core.presenceMembers(TEST_APP.id, 'presence-sized'), [], 'nobody joined');
    const fits = await client.subscribe('presence-sized', { user_id: 'fits', user_info: { bio: 'x'.repeat(1900) } });
    assert.equal(fits.event, 'pusher_internal:subscription_succeeded');
    client.close();
  });

  test('presence: members per user, member_added/removed once per user, not per connection', async () => {
    const channel = 'presence-room';
    /** Every member_added/removed a client gets on the channel, as `added:<user>` (kept even after next() consumed it). */
    function memberLog(client: RawPusherClient): string[] {
      const log: string[] = [];
      client.ws.on('message', (raw, isBinary) => {
        if (isBinary) return;
        const frame = JSON.parse(raw.toString()) as PusherFrame;
        const kind = /^pusher_internal:member_(added|removed)$/.exec(frame.event)?.[1];
        if (kind !== undefined && frame.channel === channel) log.push(`${kind}:${(JSON.parse(frame.data as string) as { user_id: string }).user_id}`);
      });
      return log;
    }
    const memberEvent = (kind: 'added' | 'removed', userId: string) => (frame: PusherFrame): boolean =>
      frame.channel === channel && frame.event === `pusher_internal:member_${kind}` && (JSON.parse(frame.data as string) as { user_id: string }).user_id === userId;
    const alice = { user_id: 'alice', user_info: { name: 'Alice' } };

    const alice1 = await connect();
    const alice1Log = memberLog(alice1);
    const joined = await alice1.subscribe(channel, alice);
    assert.deepEqual(JSON.parse(joined.data as string), { presence: { ids: ['alice'], hash: { alice: { name: 'Alice' } }, count: 1 } });
    const alice2 = await connect();
    const alice2Log = memberLog(alice2);
    const secondJoined = await alice2.subscribe(channel, alice);
    assert.deepEqual(JSON.parse(secondJoined.data as string), { presence: { ids: ['alice'], hash: { alice: { name: 'Alice' } }, count: 1 } });
    const bob = await connect();
    const bobLog = memberLog(bob);
    const bobJoined = JSON.parse((await bob.subscribe(channel, { user_id: 'bob' })).data as string) as { presence: { count: number; ids: string[] } };
    assert.equal(bobJoined.presence.count, 2);
    assert.deepEqual([...bobJoined.presence.ids].sort(), ['alice', 'bob']);

    // A channel's presence changes reach a connection in the order they happened, so a
    // member_added for alice's second connection would have come before bob's.
    const added = await alice1.next(memberEvent('added', 'bob'));
    assert.deepEqual(JSON.parse(added.data as string), { user_id: 'bob', user_info: null });
    assert.deepEqual(alice1Log, ['added:bob'], "alice's first connection got no member_added for her second one");
    await alice2.next(memberEvent('added', 'bob'));
    assert.deepEqual(alice2Log, ['added:bob']);

    // alice1 leaves, then joins again on the same connection as carol. Requests for one
    // channel run in order on a connection, so carol's join starts after alice1's leave
    // (and any member_removed it announced) is done: carol's member_added is the barrier.
    alice1.send({ event: 'pusher:unsubscribe', data: { channel } });
    await alice1.subscribe(channel, { user_id: 'carol' });
    await bob.next(memberEvent('added', 'carol'));
    assert.deepEqual(bobLog, ['added:carol'], 'no member_removed while alice is still connected once');

    // Alice's last connection goes away (a disconnect, the other way to leave): one member_removed.
    alice2.close();
    const removed = await bob.next(memberEvent('removed', 'alice'));
    assert.deepEqual(JSON.parse(removed.data as string), { user_id: 'alice' });
    assert.deepEqual(bobLog, ['added:carol', 'removed:alice']);
    assert.deepEqual((await running.app.core.presenceMembers(TEST_APP.id, channel)).map((m) => m.userId).sort(), ['bob', 'carol']);
  });

  test('presence: bad channel_data and a full channel are refused', async () => {
    const client = await connect();
    client.send({ event: 'pusher:subscribe', data: { channel: 'presence-x', auth: channelAuth(client.socketId, 'presence-x', '{"user_id":""}'), channel_data: '{"user_id":""}' } });
    const bad = await client.nextEvent('pusher:subscription_error', 'presence-x');
    assert.equal((bad.data as { rc_code: string }).rc_code, 'RC_ERR_WS_BAD_CHANNEL_DATA');
    for (const user of ['u1', 'u2', 'u3']) await (await connect()).subscribe('presence-full', { user_id: user });
    const fourth = await connect();
    const full = await fourth.subscribe('presence-full', { user_id: 'u4' });
    assert.equal(full.event, 'pusher:subscription_error');
    assert.equal((full.data as { code: number }).code, 4304);
    // An existing user may still open another connection.
    assert.equal((await (await connect()).subscribe('presence-full', { user_id: 'u1' })).event, 'pusher_internal:subscription_succeeded');
  });

  test('cache channels: cache_miss when empty, else the last event on subscribe', async () => {
    const first = await connect();
    await first.subscribe('cache-prices');
    await first.nextEvent('pusher:cache_miss', 'cache-prices');
    await publish('cache-prices', 'price', '1');
    await publish('cache-prices', 'price', '2');
    const second = await connect();
    await second.subscribe('cache-prices');
    const cached = await second.nextEvent('price', 'cache-prices');
    assert.equal(cached.data, '2');
    assert.equal(second.frames.some((frame) => frame.event === 'pusher:cache_miss'), false);
  });

  test('client events: delivered to others on private channels, never echoed, never on public/encrypted', async () => {
    const sender = await connect();
    const receiver = await connect();
    for (const client of [sender, receiver]) {
      await client.subscribe('private-chat');
      await client.subscribe('public-chat');
      await client.subscribe('private-encrypted-chat');
    }
    sender.send({ event: 'client-typing', channel: 'private-chat', data: { who: 'me' } });
    const got = await receiver.nextEvent('client-typing', 'private-chat');
    assert.deepEqual(JSON.parse(got.data as string), { who: 'me' });
    for (const channel of ['public-chat', 'private-encrypted-chat', 'private-not-subscribed']) {
      sender.send({ event: 'client-typing', channel, data: {} });
      const refused = await sender.nextEvent('pusher:error', channel);
      assert.equal((refused.data as { code: number }).code, 4302, channel);
    }
    sender.send({ event: 'pusher:ping', data: {} });
    await sender.nextEvent('pusher:pong');
    assert.equal(sender.frames.some((frame) => frame.event === 'client-typing'), false, 'echoed to the sender');
  });

  test('client events on presence channels carry user_id', async () => {
    const a = await connect();
    const b = await connect();
    await a.subscribe('presence-chat', { user_id: 'ann' });
    await b.subscribe('presence-chat', { user_id: 'ben' });
    a.send({ event: 'client-hi', channel: 'presence-chat', data: 'yo' });
    const got = await b.nextEvent('client-hi', 'presence-chat');
    assert.equal(got.user_id, 'ann');
    assert.equal(got.data, 'yo');
  });

  test('client events past the per-connection rate limit get 4301 and are dropped', async () => {
    const sender = await connect();
    const receiver = await connect();
    await sender.subscribe('private-flood');
    await receiver.subscribe('private-flood');
    for (let i = 0; i < 6; i++) sender.send({ event: 'client-n', channel: 'private-flood', data: String(i) });
    const limited = await sender.nextEvent('pusher:error', 'private-flood');
    assert.equal((limited.data as { code: number }).code, 4301);
    for (let i = 0; i < 3; i++) await receiver.nextEvent('client-n', 'private-flood');
    assert.equal(sender.ws.readyState, sender.ws.OPEN);
  });

  test('sign-in, server-to-user events and terminate (4009)', async () => {
    const client = await connect();
    const userData = JSON.stringify({ id: 'carol', user_info: { name: 'Carol' } });
    client.send({ event: 'pusher:signin', data: { user_data: userData, auth: `${TEST_APP.key}:${createHmac('sha256', 'nope').update('x').digest('hex')}` } });
    const refused = await client.nextEvent('pusher:error');
    assert.equal((refused.data as { code: number }).code, 4009);
    const signature = createHmac('sha256', TEST_APP.secret).update(`${client.socketId}::user::${userData}`).digest('hex');
    client.send({ event: 'pusher:signin', data: { user_data: userData, auth: `${TEST_APP.key}:${signature}` } });
    const success = await client.nextEvent('pusher:signin_success');
    assert.equal(JSON.parse(success.data as string).user_data, userData);
    assert.equal((await client.subscribe('#server-to-user-carol')).event, 'pusher_internal:subscription_succeeded');
    assert.equal((await client.subscribe('#server-to-user-dave')).event, 'pusher:subscription_error');
    // Presence without channel_data joins as the signed-in user.
    const joined = await client.subscribe('presence-signed');
    assert.deepEqual(JSON.parse(joined.data as string).presence.ids, ['carol']);
    await running.app.core.sendToUser(TEST_APP.id, 'carol', 'notice', '{"n":1}');
    const notice = await client.nextEvent('notice', '#server-to-user-carol');
    assert.equal(notice.data, '{"n":1}');
    await running.app.core.terminateUser(TEST_APP.id, 'carol');
    const error = await client.next((frame) => frame.event === 'pusher:error' && (frame.data as { rc_code: string }).rc_code === 'RC_ERR_WS_USER_TERMINATED');
    assert.match((error.data as { message: string }).message, /carol/);
    assert.equal((await client.closed).code, 4009);
    await waitUntil(async () => (await running.app.core.presenceMembers(TEST_APP.id, 'presence-signed')).length === 0, 10_000, 'carol to leave');
  });
});

describe('ws door: subscription limit per connection', () => {
  let running: RunningApp;
  before(async () => {
    running = await startApp(testConfig({ websocket: { maxSubscriptionsPerConnection: 2 } }));
  });
  after(() => running.close());

  test('past websocket.maxSubscriptionsPerConnection a subscribe is refused; unsubscribing frees a slot', async () => {
    const client = await RawPusherClient.connect(running.port);
    await client.subscribe('one');
    await client.subscribe('two');
    const refused = await client.subscribe('three');
    assert.equal(refused.event, 'pusher:subscription_error');
    assert.equal((refused.data as { rc_code: string }).rc_code, 'RC_ERR_WS_TOO_MANY_SUBSCRIPTIONS');
    client.send({ event: 'pusher:unsubscribe', data: { channel: 'one' } });
    assert.equal((await client.subscribe('three')).event, 'pusher_internal:subscription_succeeded');
    client.close();
  });
});
