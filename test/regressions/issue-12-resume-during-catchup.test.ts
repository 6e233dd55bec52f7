/**
 * Issue 12, one duplicate delivery after a fault: a protocol 2 client that resubscribes
 * with `last_serial` while its node is still catching the channel up from the log (the
 * bus was lost and is back, the log read is slow) gets the missed entries from its own
 * recovery, and must not get them a second time when the node's catch-up fans them out.
 * Each entry once, in order, on the resubscribed client and on the one that stayed.
 *
 * Memory backend, in process: the bus's `lost`/`resumed` are emitted by hand, and the
 * catch-up's first log read waits on a gate the test opens.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { MemoryBus } from '../../src/backends/memory/bus.ts';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { RawPusherClient, waitUntil, type PusherFrame } from '../helpers/ws-client.ts';

let node: RunningApp;
const clients: RawPusherClient[] = [];

before(async () => {
  node = await startApp(testConfig());
});
after(async () => {
  for (const client of clients) client.close();
  await node?.close();
});

const V2 = 'protocol=2&client=test&version=1.0';

function ticks(client: RawPusherClient): { n: string; serial: string }[] {
  return client.frames.filter((frame: PusherFrame & { serial?: string }) => frame.event === 'tick').map((frame: PusherFrame & { serial?: string }) => ({ n: frame.data as string, serial: frame.serial ?? '' }));
}

test('a client resuming by last_serial during the node catch-up gets each missed entry once', async () => {
  const core = node.app.core;
  const app = core.apps.requireEnabled('app-1');
  const channel = 'resume-during-catchup';
  const publish = async (n: number): Promise<void> => {
    await core.publish(app, [{ name: 'tick', channels: [channel], data: String(n), origin: 'rest' }]);
  };

  const stayed = await RawPusherClient.connect(node.port, undefined, V2);
  clients.push(stayed);
  assert.equal((await stayed.subscribe(channel)).event, 'pusher_internal:subscription_succeeded');
  await publish(1);
  await publish(2);
  await waitUntil(() => ticks(stayed).length === 2, 5000, 'the first two ticks');
  const lastSerial = ticks(stayed)[1]!.serial;
  assert.notEqual(lastSerial, '');

  // The catch-up's first log read waits for the gate.
  const log = core.backend.log as unknown as { state: (stream: string) => Promise<unknown> };
  const state = log.state.bind(log);
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  let gated = 0;
  log.state = async (stream) => {
    if (gated++ === 0) await gate;
    return state(stream);
  };
  const bus = core.backend.bus as MemoryBus;
  bus.emit({ kind: 'lost' });
  bus.emit({ kind: 'resumed' });
  await waitUntil(() => gated > 0, 5000, 'the catch-up to start reading');

  // Published while the channel is caught up: held by the node until the read is done.
  await publish(3);
  await publish(4);

  // A client that had seen up to 2 comes back and recovers 3 and 4 from history itself.
  const resumed = await RawPusherClient.connect(node.port, undefined, V2);
  clients.push(resumed);
  resumed.send({ event: 'pusher:subscribe', data: { channel, last_serial: lastSerial } });
  await resumed.next((frame) => frame.channel === channel && frame.event === 'pusher_internal:subscription_succeeded');
  await waitUntil(() => ticks(resumed).length >= 2, 5000, 'the recovered ticks');

  openGate();
  log.state = state;
  await publish(5);
  await waitUntil(() => ticks(stayed).length >= 5 && ticks(resumed).some((tick) => tick.n === '5'), 5000, 'tick 5 everywhere');
  // Anything late would arrive now.
  await new Promise((resolve) => setTimeout(resolve, 200));

  assert.deepEqual(ticks(resumed).map((tick) => tick.n), ['3', '4', '5'], 'the resumed client: the missed entries and the next one, each once');
  assert.deepEqual(ticks(stayed).map((tick) => tick.n), ['1', '2', '3', '4', '5'], 'the client that stayed: every entry once, in order');
});
