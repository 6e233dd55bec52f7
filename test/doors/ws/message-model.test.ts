/**
 * The message model on the WebSocket gateway (issue 4): protocol 2 connections get
 * creates with serials, every change as its own event, summaries, raw annotations on
 * request, and recovery by last serial; protocol 7 connections (and pusher-js) see
 * nothing new.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AppConfig } from '../../../src/config/schema.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../../helpers/app.ts';
import { RawPusherClient, type PusherFrame } from '../../helpers/ws-client.ts';

let node: RunningApp;
let app: AppConfig;

before(async () => {
  node = await startApp(testConfig({ apps: [{ ...TEST_APP, history: { maxCount: 50, maxAgeSec: 0 } }] }));
  app = node.app.core.apps.requireEnabled(TEST_APP.id);
});
after(async () => {
  await node?.close();
});

const v2 = (extra = '') => RawPusherClient.connect(node.port, TEST_APP.key, `protocol=2&client=test&version=1.0${extra}`);
const v7 = () => RawPusherClient.connect(node.port);
const dataOf = (frame: PusherFrame) => JSON.parse(frame.data as string) as Record<string, unknown>;

async function publish(channel: string, data: string): Promise<string> {
  const groups = await node.app.core.publish(app, [{ name: 'chat', channels: [channel], data, origin: 'rest' }]);
  return groups[0]![0]!.serial;
}

describe('message model on the WebSocket gateway', () => {
  test('protocol 2 gets serials and each change; protocol 7 only the plain event', async () => {
    const modern = await v2();
    const classic = await v7();
    await modern.subscribe('live');
    await classic.subscribe('live');
    const serial = await publish('live', 'Hello');
    const created = await modern.nextEvent('chat', 'live');
    assert.equal(created.data, 'Hello');
    assert.equal((created as unknown as { serial: string }).serial, serial);
    await node.app.core.messages.mutate(app, 'live', serial, 'append', { data: ' world' });
    await node.app.core.messages.mutate(app, 'live', serial, 'update', { data: 'Hi', description: 'shorter' });
    await node.app.core.annotations.create(app, 'live', serial, { type: 'r:total.v1' });
    await node.app.core.messages.mutate(app, 'live', serial, 'delete', {});
    const append = dataOf(await modern.nextEvent('message.append', 'live'));
    assert.equal(append.message_serial, serial);
    assert.equal(append.fragment, ' world');
    assert.equal(append.data, undefined, 'fragment only unless append=full');
    const update = dataOf(await modern.nextEvent('message.update', 'live'));
    assert.equal(update.data, 'Hi');
    assert.equal((update.version as { description: string }).description, 'shorter');
    const summary = dataOf(await modern.nextEvent('message.summary', 'live'));
    assert.deepEqual(summary.summary, { 'r:total.v1': { total: 1 } });
    const deleted = dataOf(await modern.nextEvent('message.delete', 'live'));
    assert.equal(deleted.message_serial, serial);
    assert.ok(!modern.frames.some((f) => f.event === 'annotation.create'), 'no raw annotations unless asked');
    // The classic client got exactly the create, and a later plain event proves nothing else is queued.
    await classic.nextEvent('chat', 'live');
    await publish('live', 'after');
    const next = await classic.next((f) => f.channel === 'live');
    assert.equal(next.data, 'after');
    assert.ok(!classic.frames.some((f) => f.event.startsWith('message.') || f.event.startsWith('annotation.')));
    modern.close();
    classic.close();
  });

  test('several protocol 2 subscribers all get the same change (one shared frame)', async () => {
    const clients = await Promise.all([v2(), v2(), v2()]);
    for (const client of clients) await client.subscribe('shared');
    const serial = await publish('shared', 'a');
    await node.app.core.messages.mutate(app, 'shared', serial, 'update', { data: 'b' });
    for (const client of clients) {
      const update = dataOf(await client.nextEvent('message.update', 'shared'));
      assert.equal(update.data, 'b');
      assert.equal(update.message_serial, serial);
      client.close();
    }
  });

  test('append=full sends the full text; annotations: true sends raw annotation events', async () => {
    const client = await v2('&append=full');
    client.send({ event: 'pusher:subscribe', data: { channel: 'reactions', annotations: true } });
    await client.nextEvent('pusher_internal:subscription_succeeded', 'reactions');
    const serial = await publish('reactions', 'a');
    await node.app.core.messages.mutate(app, 'reactions', serial, 'append', { data: 'b' });
    const append = dataOf(await client.nextEvent('message.append', 'reactions'));
    assert.equal(append.data, 'ab');
    assert.equal(append.fragment, 'b');
    await node.app.core.annotations.create(app, 'reactions', serial, { type: 'r:flag.v1', client_id: 'u1' });
    const raw = dataOf(await client.nextEvent('annotation.create', 'reactions'));
    assert.equal((raw.annotation as { client_id: string }).client_id, 'u1');
    client.close();
  });

  test('a resubscribe with last_serial gets what it missed, in order, once; then live messages', async () => {
    const serials: string[] = [];
    for (let i = 0; i < 5; i++) serials.push(await publish('recover', `r${i}`));
    const changed = await node.app.core.messages.mutate(app, 'recover', serials[2]!, 'update', { data: 'r2!' });
    const client = await v2();
    client.send({ event: 'pusher:subscribe', data: { channel: 'recover', last_serial: serials[1] } });
    await client.nextEvent('pusher_internal:subscription_succeeded', 'recover');
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      const frame = await client.next((f) => f.channel === 'recover');
      got.push(frame.event === 'chat' ? String(frame.data) : `${frame.event}:${String(dataOf(frame).serial)}`);
    }
    assert.deepEqual(got, ['r2', 'r3', 'r4', `message.update:${changed.version_serial}`]);
    await publish('recover', 'live');
    assert.equal((await client.next((f) => f.channel === 'recover')).data, 'live');
    client.close();
  });

  test('a gap too old to recover is signalled', async () => {
    const first = await publish('gap', 'old');
    for (let i = 0; i < 60; i++) await publish('gap', `n${i}`);
    const client = await v7();
    client.send({ event: 'pusher:subscribe', data: { channel: 'gap', last_serial: first } });
    await client.nextEvent('pusher_internal:subscription_succeeded', 'gap');
    const failed = dataOf(await client.nextEvent('roomcast:recovery_failed', 'gap'));
    assert.equal(failed.last_serial, first);
    assert.match(String(failed.reason), /no longer retained|more than/);
    client.close();
  });

  test('malformed subscribe options are a clear pusher:error, not a crash', async () => {
    const client = await v2();
    client.send({ event: 'pusher:subscribe', data: { channel: 'x', annotations: 'yes' } });
    const error = await client.nextEvent('pusher:error');
    assert.match(JSON.stringify(error.data), /annotations/);
    client.send({ event: 'pusher:subscribe', data: { channel: 'x', last_serial: 'z'.repeat(100) } });
    await client.nextEvent('pusher:error');
    assert.equal((await client.subscribe('x')).event, 'pusher_internal:subscription_succeeded');
    client.close();
  });
});
