/**
 * Issue 13, item 3: a WebSocket reader that stops reading is cut within the stall timeout,
 * whatever the kernel buffered, and healthy readers beside it get every event.
 *
 * Before: only Node's own queue was bounded (`websocket.maxBufferedBytes`); the kernel took
 * megabytes per stalled socket first, so a stalled reader on a moderately busy channel was
 * never cut while its buffers pinned memory (500 of them throttled every socket).
 * Also: sockets are destroyed a few per event-loop turn (`reapSoon`), never all at once.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { reapBacklog, reapSoon } from '../../src/doors/ws/socket-writer.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

let running: RunningApp;

before(async () => {
  running = await startApp(testConfig({ websocket: { stallTimeoutMs: 1000 }, apps: [{ ...TEST_APP, limits: { restRequestsPerWindow: 0, maxEventDataBytes: 10_240 } }] }));
});
after(async () => running?.close());

test('a reader that stops reading is cut with 4200 within the stall timeout; a healthy reader misses nothing', async () => {
  const channel = 'busy-channel';
  const stalled = await RawPusherClient.connect(running.port);
  const healthy = await RawPusherClient.connect(running.port);
  for (const client of [stalled, healthy]) {
    client.send({ event: 'pusher:subscribe', data: { channel } });
    await client.next((frame) => frame.event === 'pusher_internal:subscription_succeeded');
  }
  // The stalled reader stops reading its socket (a frozen tab, a stuck process).
  const raw = (stalled.ws as unknown as { _socket: Socket })._socket;
  raw.pause();
  const app = running.app.core.apps.requireEnabled(TEST_APP.id);
  const data = 'x'.repeat(4000);
  const started = Date.now();
  let published = 0;
  // ~1.6 MB in all: far less than the kernel buffers a loopback socket takes, so only the
  // read probe can tell this reader apart from a healthy one.
  while (published < 400 && running.app.core.hub.localCount(TEST_APP.id, channel) === 2) {
    await running.app.core.publish(app, [{ name: 'tick', channels: [channel], data: `${published}:${data}`, origin: 'internal' }]);
    published++;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await waitUntil(() => running.app.core.hub.localCount(TEST_APP.id, channel) === 1, 10_000, 'the stalled reader to be cut');
  const cutAfter = Date.now() - started;
  assert.ok(cutAfter < 8000, `cut after ${cutAfter} ms`);
  // The healthy reader got every event, in order.
  await waitUntil(() => healthy.frames.filter((frame) => frame.event === 'tick').length === published, 10_000, 'the healthy reader to get every event');
  const ticks = healthy.frames.filter((frame) => frame.event === 'tick').map((frame) => Number(String(frame.data).split(':')[0]));
  assert.deepEqual(ticks, Array.from({ length: published }, (_, i) => i));
  // Once it reads again it sees the close code 4200 (or 1006 if the cut came first).
  raw.resume();
  const { code } = await stalled.closed;
  assert.ok(code === 4200 || code === 1006, `close code ${code}`);
  healthy.close();
});

test('sockets to destroy are destroyed a few per event-loop turn, never all in one', async () => {
  let destroyed = 0;
  const turns: number[] = [];
  const fakes = Array.from({ length: 200 }, () => ({
    terminate(): void {
      const until = performance.now() + 0.5;
      while (performance.now() < until) {
        // each destroy costs half a millisecond, like failing a long write queue
      }
      destroyed++;
    },
  }));
  for (const fake of fakes) reapSoon(fake as never);
  assert.equal(reapBacklog(), 200);
  while (destroyed < 200) {
    const before = destroyed;
    await new Promise((resolve) => setImmediate(resolve));
    turns.push(destroyed - before);
  }
  assert.ok(turns.length >= 10, `destroyed in ${turns.length} turns: ${turns.join(',')}`);
  assert.ok(Math.max(...turns) <= 40, `at most ${Math.max(...turns)} per turn`);
});
