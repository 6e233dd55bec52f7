import assert from 'node:assert/strict';
import { test } from 'node:test';
import { streamKey } from '../../../src/core/channels.ts';
import { LocalHub } from '../../../src/core/hub.ts';
import { ChannelMessage, type MessageEncoder, type Subscriber } from '../../../src/core/types.ts';

function recorder(connectionId: string): Subscriber & { got: string[] } {
  const got: string[] = [];
  return { connectionId, got, deliver: (message) => got.push(message.record.data) };
}

const message = (data: string, socketId?: string) =>
  new ChannelMessage('app', 'news', 'k3x9q0ab', 1, Date.now(), { action: 'message.create', name: 'e', data, origin: 'rest', ...(socketId ? { socketId } : {}) });

test('dispatch reaches every local subscriber of the channel except the sender', () => {
  const hub = new LocalHub();
  const a = recorder('1.1');
  const b = recorder('1.2');
  const other = recorder('1.3');
  hub.add('app', 'news', a);
  hub.add('app', 'news', b);
  hub.add('app', 'sports', other);
  hub.dispatch(streamKey('app', 'news'), message('hello', '1.1'));
  assert.deepEqual(a.got, []);
  assert.deepEqual(b.got, ['hello']);
  assert.deepEqual(other.got, []);
});

test('a throwing subscriber does not stop the fan-out', () => {
  const hub = new LocalHub();
  const bad: Subscriber = { connectionId: 'x', deliver: () => { throw new Error('boom'); } };
  const good = recorder('y');
  hub.add('app', 'news', bad);
  hub.add('app', 'news', good);
  hub.dispatch(streamKey('app', 'news'), message('still'));
  assert.deepEqual(good.got, ['still']);
});

test('add/remove are idempotent and counted', () => {
  const hub = new LocalHub();
  const a = recorder('a');
  assert.equal(hub.add('app', 'c', a), true);
  assert.equal(hub.add('app', 'c', a), false);
  assert.equal(hub.localCount('app', 'c'), 1);
  assert.equal(hub.remove('app', 'c', a), true);
  assert.equal(hub.remove('app', 'c', a), false);
  assert.equal(hub.localCount('app', 'c'), 0);
});

test('a message is encoded once per encoder however many subscribers read it', () => {
  let calls = 0;
  const encoder: MessageEncoder = (m) => {
    calls++;
    return JSON.stringify({ event: m.record.name, data: m.record.data });
  };
  const hub = new LocalHub();
  const frames: string[] = [];
  for (let i = 0; i < 100; i++) hub.add('app', 'news', { connectionId: `c${i}`, deliver: (m) => frames.push(m.encode(encoder)) });
  hub.dispatch(streamKey('app', 'news'), message('once'));
  assert.equal(frames.length, 100);
  assert.equal(calls, 1);
  assert.ok(frames.every((frame) => frame === frames[0]));
});
