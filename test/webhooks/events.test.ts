/**
 * Every webhook event end to end, through real clients (WebSocket, the pusher SDK, the
 * bot API), checked field by field against Pusher's documentation (and docs/webhooks.md
 * for roomcast's own); every request is accepted by the pusher SDK's verifier.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WEBHOOK_EVENT_TYPES } from '../../src/config/schema.ts';
import { TEST_APP, type RunningApp } from '../helpers/app.ts';
import { handshake, login } from '../helpers/bots.ts';
import { serverSdk } from '../helpers/pusher-peers.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';
import { startReceiver, type ReceivedEvent, type Receiver } from './receiver.ts';
import { signIn, startWebhookNode, withoutId } from './helpers.ts';

let receiver: Receiver;
let node: RunningApp;

before(async () => {
  receiver = await startReceiver({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret });
  node = await startWebhookNode(`${receiver.url}/hooks`, WEBHOOK_EVENT_TYPES, { leaveDelayMs: 100 });
});
after(async () => {
  await node.close();
  await receiver.close();
});

async function eventOf(match: (event: ReceivedEvent) => boolean, what: string): Promise<ReceivedEvent> {
  await receiver.waitFor(() => receiver.delivered().some(match), what, 30_000);
  return receiver.delivered().find(match)!;
}

test('channel_occupied, subscription_count, channel_vacated from a WebSocket subscriber', async () => {
  const client = await RawPusherClient.connect(node.port);
  await client.subscribe('ch-a');
  assert.deepEqual(withoutId(await eventOf((e) => e.name === 'channel_occupied' && e.channel === 'ch-a', 'occupied')), { name: 'channel_occupied', channel: 'ch-a' });
  assert.deepEqual(withoutId(await eventOf((e) => e.name === 'subscription_count' && e.channel === 'ch-a', 'count')), {
    name: 'subscription_count',
    channel: 'ch-a',
    subscription_count: 1,
  });
  client.send({ event: 'pusher:unsubscribe', data: { channel: 'ch-a' } });
  assert.deepEqual(withoutId(await eventOf((e) => e.name === 'channel_vacated' && e.channel === 'ch-a', 'vacated')), { name: 'channel_vacated', channel: 'ch-a' });
  client.close();
});

test('member_added / member_removed, and client_event with user_id on presence channels only', async () => {
  const ann = await RawPusherClient.connect(node.port);
  const bob = await RawPusherClient.connect(node.port);
  await ann.subscribe('presence-room', { user_id: 'ann', user_info: { name: 'Ann' } });
  await bob.subscribe('presence-room', { user_id: 'bob' });
  assert.deepEqual(withoutId(await eventOf((e) => e.name === 'member_added' && e.user_id === 'ann', 'ann added')), { name: 'member_added', channel: 'presence-room', user_id: 'ann' });
  await eventOf((e) => e.name === 'member_added' && e.user_id === 'bob', 'bob added');
  ann.send({ event: 'client-typing', channel: 'presence-room', data: { on: true } });
  const presenceEvent = await eventOf((e) => e.name === 'client_event' && e.channel === 'presence-room', 'client_event');
  assert.deepEqual(withoutId(presenceEvent), { name: 'client_event', channel: 'presence-room', event: 'client-typing', data: '{"on":true}', socket_id: ann.socketId, user_id: 'ann' });

  await ann.subscribe('private-notes');
  await bob.subscribe('private-notes');
  bob.send({ event: 'client-note', channel: 'private-notes', data: 'hello' });
  const privateEvent = await eventOf((e) => e.name === 'client_event' && e.channel === 'private-notes', 'private client_event');
  assert.deepEqual(withoutId(privateEvent), { name: 'client_event', channel: 'private-notes', event: 'client-note', data: 'hello', socket_id: bob.socketId });

  bob.close();
  assert.deepEqual(withoutId(await eventOf((e) => e.name === 'member_removed' && e.user_id === 'bob', 'bob removed')), { name: 'member_removed', channel: 'presence-room', user_id: 'bob' });
  ann.close();
});

test('cache_miss when a cache channel has nothing cached', async () => {
  const client = await RawPusherClient.connect(node.port);
  await client.subscribe('cache-prices');
  await client.nextEvent('pusher:cache_miss', 'cache-prices');
  assert.deepEqual(withoutId(await eventOf((e) => e.name === 'cache_miss', 'cache_miss')), { name: 'cache_miss', channel: 'cache-prices' });
  client.close();
});

test('message_created, _updated, _appended, _deleted and annotation_created / _deleted from the REST API', async () => {
  const sdk = serverSdk(node.port);
  const triggered = await sdk.trigger('news', 'headline', { title: 'hi' });
  assert.equal(triggered.status, 200);
  const created = await eventOf((e) => e.name === 'message_created' && e.channel === 'news', 'message_created');
  assert.deepEqual(withoutId({ ...created, serial: '' }), { name: 'message_created', channel: 'news', event: 'headline', data: '{"title":"hi"}', serial: '', sender: { type: 'Server', id: TEST_APP.id } });
  const serial = created.serial as string;
  const base = `/apps/${TEST_APP.id}/channels/news/messages/${serial}`;
  assert.equal((await signedCall(node.url, 'POST', `${base}/update`, { body: { data: 'v2', description: 'fix' } })).status, 200);
  const updated = await eventOf((e) => e.name === 'message_updated', 'message_updated');
  assert.equal(updated.serial, serial);
  assert.equal(updated.data, 'v2');
  assert.equal(updated.event, 'headline');
  assert.equal((updated.version as { description: string }).description, 'fix');
  assert.equal((updated.version as { serial: string }).serial, updated.version_serial);
  assert.equal((await signedCall(node.url, 'POST', `${base}/append`, { body: { data: '+' } })).status, 200);
  const appended = await eventOf((e) => e.name === 'message_appended', 'message_appended');
  assert.equal(appended.fragment, '+');
  assert.equal(appended.data, 'v2+');
  const annotation = await signedCall(node.url, 'POST', `${base}/annotations`, { body: { type: 'reactions:distinct.v1', name: '👍', client_id: 'c1' } });
  assert.equal(annotation.status, 200, annotation.text);
  const annotated = await eventOf((e) => e.name === 'annotation_created', 'annotation_created');
  assert.equal(annotated.serial, serial);
  const view = annotated.annotation as { serial: string; type: string; name: string; client_id: string };
  assert.deepEqual([view.type, view.name, view.client_id], ['reactions:distinct.v1', '👍', 'c1']);
  assert.equal((await signedCall(node.url, 'DELETE', `${base}/annotations/${view.serial}`)).status, 200);
  const removed = await eventOf((e) => e.name === 'annotation_deleted', 'annotation_deleted');
  assert.equal((removed.annotation as { serial: string }).serial, view.serial);
  assert.equal((await signedCall(node.url, 'POST', `${base}/delete`, { body: {} })).status, 200);
  const deleted = await eventOf((e) => e.name === 'message_deleted', 'message_deleted');
  assert.equal(deleted.serial, serial);
  assert.equal(deleted.data, '');
});

test('bot_joined when a bot logs in (room, bot, session)', async () => {
  const bot = await login(node.url);
  assert.equal(bot.status, 200);
  await handshake(node.url, bot.cookie);
  const joined = await eventOf((e) => e.name === 'bot_joined', 'bot_joined');
  assert.deepEqual({ ...withoutId(joined), session: typeof joined.session }, {
    name: 'bot_joined',
    channel: 'presence-room-acme-lobby',
    space: 'acme',
    room: 'lobby',
    bot: 'helper-bot',
    session: 'string',
  });
});

test('user_online / user_offline for a signed-in user', async () => {
  const client = await RawPusherClient.connect(node.port);
  await signIn(client, 'carol');
  assert.deepEqual(withoutId(await eventOf((e) => e.name === 'user_online' && e.user_id === 'carol', 'online')), { name: 'user_online', user_id: 'carol' });
  client.close();
  assert.deepEqual(withoutId(await eventOf((e) => e.name === 'user_offline' && e.user_id === 'carol', 'offline')), { name: 'user_offline', user_id: 'carol' });
});

test('every request was signed so that pusher.webhook(...).isValid() accepts it, and ids are unique', () => {
  assert.ok(receiver.requests.length > 10);
  assert.deepEqual(receiver.requests.filter((r) => !r.valid).map((r) => r.rawBody), []);
  const ids = receiver.delivered().map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length);
});
