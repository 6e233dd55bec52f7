/**
 * Live delivery of the message model through the core: plain subscribers (Pusher
 * protocol 7) never see mutation/annotation/summary records, opted-in subscribers
 * do, in serial order; plain taps see creates only; presence joins and leaves land
 * in presence history.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pino from 'pino';
import { createMemoryBackend } from '../../../src/backends/memory/index.ts';
import { buildConfig } from '../../../src/config/load.ts';
import { Core } from '../../../src/core/core.ts';
import { parseHistoryQuery } from '../../../src/core/history.ts';
import type { ChannelMessage, Subscriber } from '../../../src/core/types.ts';

const config = buildConfig({ apps: [{ id: 'app-1', key: 'k', secret: 's' }] });
const app = config.apps[0]!;
const core = new Core({ config, backend: createMemoryBackend(), logger: pino({ level: 'silent' }), nodeId: 'n1' });
after(() => core.backend.close());

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('protocol 7 subscribers get creates only; opted-in subscribers also get every change in order', async () => {
  const plain: string[] = [];
  const v2: string[] = [];
  const tapped: string[] = [];
  const mutationTapped: string[] = [];
  const p7: Subscriber = { connectionId: 'p7', deliver: (m) => plain.push(m.record.action) };
  const p2: Subscriber = {
    connectionId: 'p2',
    deliver: (m) => v2.push(m.record.action),
    deliverMutation: (m: ChannelMessage) => v2.push(`${m.record.action}@${m.record.messageSerial}`),
  };
  await core.subscribe('app-1', 'chat', p7);
  await core.subscribe('app-1', 'chat', p2);
  const untap = core.tapMessages((m) => m.channel === 'chat' && tapped.push(m.record.action));
  const untapMutations = core.tapMutations((m) => m.channel === 'chat' && mutationTapped.push(m.record.action));
  const published = await core.publish(app, [{ name: 'e', channels: ['chat'], data: 'hi', origin: 'rest' }]);
  const serial = published[0]![0]!.serial;
  await core.messages.mutate(app, 'chat', serial, 'append', { data: '!' });
  await core.annotations.create(app, 'chat', serial, { type: 'r:total.v1' });
  await until(() => v2.length === 4, 'four deliveries to the protocol 2 subscriber');
  assert.deepEqual(v2, ['message.create', `message.append@${serial}`, `annotation.create@${serial}`, `message.summary@${serial}`]);
  assert.deepEqual(plain, ['message.create']);
  assert.deepEqual(tapped, ['message.create']);
  assert.deepEqual(mutationTapped, ['message.append', 'annotation.create', 'message.summary']);
  untap();
  untapMutations();
  await core.unsubscribe('app-1', 'chat', p7);
  await core.unsubscribe('app-1', 'chat', p2);
});

test('presence joins and leaves are recorded once per user and never delivered to subscribers', async () => {
  const got: string[] = [];
  const watcher: Subscriber = { connectionId: 'w', deliver: (m) => got.push(m.channel), deliverMutation: (m) => got.push(m.channel) };
  await core.subscribe('app-1', 'presence-room', watcher);
  const a1: Subscriber = { connectionId: 'a1', deliver: () => undefined };
  const a2: Subscriber = { connectionId: 'a2', deliver: () => undefined };
  await core.joinPresence('app-1', 'presence-room', a1, { userId: 'ann', userInfo: { name: 'Ann' } });
  await core.joinPresence('app-1', 'presence-room', a2, { userId: 'ann', userInfo: { name: 'Ann' } });
  await core.unsubscribe('app-1', 'presence-room', a1);
  await core.unsubscribe('app-1', 'presence-room', a2);
  const query = parseHistoryQuery({ direction: 'oldest_first' });
  // Recording is fire-and-forget (it never delays a join), so poll until it landed.
  let items: { action: string; data: string }[] = [];
  const deadline = Date.now() + 5000;
  while (items.length < 2 && Date.now() < deadline) {
    items = (await core.history.presencePage(app, 'presence-room', query)).items;
    if (items.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.deepEqual(items.map((i) => i.action), ['presence.enter', 'presence.leave']);
  assert.deepEqual(JSON.parse(items[0]!.data), { user_id: 'ann', user_info: { name: 'Ann' } });
  assert.deepEqual(got, [], 'companion entries reach no subscriber');
  await core.unsubscribe('app-1', 'presence-room', watcher);
});
