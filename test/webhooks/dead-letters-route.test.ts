/** The signed operator routes: webhook dead letters listed and replayed over REST, and the per-app stats route. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_APP, type RunningApp } from '../helpers/app.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';
import { startReceiver, type Receiver } from './receiver.ts';
import { startWebhookNode } from './helpers.ts';
import { DeadLetterBox } from '../../src/delivery/dead-letters.ts';
import type { WebhookDeadLetter } from '../../src/webhooks/dispatcher.ts';

let receiver: Receiver;
let node: RunningApp;

before(async () => {
  receiver = await startReceiver({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret });
  node = await startWebhookNode(receiver.url, ['channel_occupied'], { maxAttempts: 2 });
});
after(async () => {
  await node.close();
  await receiver.close();
});

test('a refused batch is listed over the signed route and replayed once', async () => {
  receiver.answer = 422;
  const client = await RawPusherClient.connect(node.port);
  await client.subscribe('dl-1');
  const path = `/apps/${TEST_APP.id}/webhooks/dead_letters`;
  let items: { id: string; attempts: number; reason: string; url: string; events: { name: string; channel: string; id: string }[] }[] = [];
  const deadline = Date.now() + 10_000;
  while (items.length === 0 && Date.now() < deadline) {
    const listed = await signedCall(node.url, 'GET', path);
    assert.equal(listed.status, 200, listed.text);
    items = (listed.json as unknown as { items: typeof items }).items;
    if (items.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(items.length, 1);
  assert.equal(items[0]!.url, receiver.url);
  assert.match(items[0]!.reason, /422/);
  assert.deepEqual(items[0]!.events.map((e) => [e.name, e.channel]), [['channel_occupied', 'dl-1']]);

  assert.equal((await fetch(`${node.url}${path}`)).status, 401, 'unsigned: refused');
  assert.equal((await signedCall(node.url, 'POST', `${path}/replay`, { body: { ids: 'x' } })).json.code, 'RC_ERR_WEBHOOKS_INVALID_REQUEST');

  receiver.answer = 200;
  const replay = await signedCall(node.url, 'POST', `${path}/replay`, { body: { ids: [items[0]!.id] } });
  assert.equal(replay.status, 200, replay.text);
  assert.deepEqual(replay.json.replayed, [items[0]!.id]);
  await receiver.waitFor(() => receiver.delivered().some((e) => e.channel === 'dl-1'), 'the replayed event');
  assert.equal(receiver.delivered().find((e) => e.channel === 'dl-1')!.id, items[0]!.events[0]!.id, 'same event id as first sent');
  const again = await signedCall(node.url, 'POST', `${path}/replay`, { body: { ids: [items[0]!.id] } });
  assert.equal(again.status, 404);
  assert.equal(again.json.code, 'RC_ERR_WEBHOOKS_DEAD_LETTER_NOT_FOUND');
  assert.deepEqual((await signedCall(node.url, 'GET', path)).json.items, []);
  client.close();
});

test('replaying every dead letter keeps a channel\'s order, whatever order the store lists the letters in', async () => {
  receiver.answer = 422;
  const path = `/apps/${TEST_APP.id}/webhooks/dead_letters`;
  type Listed = { id: string; events: { id: string; channel: string }[] };
  const listed = async (): Promise<Listed[]> =>
    ((await signedCall(node.url, 'GET', path)).json as unknown as { items: Listed[] }).items.filter((item) => item.events[0]?.channel === 'dl-order');
  // Three occupations of one channel, each dead-lettered before the next: three letters of one lane, in order.
  const inOrder: Listed[] = [];
  for (let round = 1; round <= 3; round++) {
    const client = await RawPusherClient.connect(node.port);
    await client.subscribe('dl-order');
    const deadline = Date.now() + 10_000;
    let letters = await listed();
    while (letters.length < round && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      letters = await listed();
    }
    inOrder.push(letters.find((letter) => !inOrder.some((known) => known.id === letter.id))!);
    client.close();
    await client.closed;
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
  // The store lists letters by id: put back under ids that list them newest first.
  const box = new DeadLetterBox<WebhookDeadLetter>(node.app.core.backend.hashes!, (appId) => `wh:dlq:${appId}`, 60_000);
  for (const [index, { id }] of inOrder.entries()) {
    const letter = (await box.take(TEST_APP.id, id))!;
    await box.put(TEST_APP.id, `${'zyx'[index]}-${id}`, { ...letter, id: `${'zyx'[index]}-${id}` });
  }
  receiver.answer = 200;
  const replay = await signedCall(node.url, 'POST', `${path}/replay`, { body: {} });
  assert.equal(replay.status, 200, replay.text);
  await receiver.waitFor(() => receiver.delivered().filter((e) => e.channel === 'dl-order').length === 3, 'the three replayed events');
  const recorded = inOrder.flatMap((letter) => letter.events.map((event) => event.id));
  assert.deepEqual(receiver.delivered().filter((e) => e.channel === 'dl-order').map((e) => e.id), recorded, 'in the order they were recorded');
});

test('GET /apps/{app_id}/stats is signed and reports the app alone', async () => {
  const client = await RawPusherClient.connect(node.port);
  await client.subscribe('stats-1');
  const reply = await signedCall(node.url, 'GET', `/apps/${TEST_APP.id}/stats`);
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.json.id, TEST_APP.id);
  assert.equal(reply.json.nodes, 1);
  assert.ok((reply.json.subscriptions as number) >= 1);
  assert.equal((await fetch(`${node.url}/apps/${TEST_APP.id}/stats`)).status, 401);
  client.close();
});
