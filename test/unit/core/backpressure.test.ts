/**
 * Time off the bus is not delivery lag. A node whose bus subscription is lost refuses its
 * own publishes with RC_ERR_BACKEND_BUS_DOWN (the publish path's check), so backpressure
 * gives way to that code on it, and its time off the bus pushes no publisher back on any
 * node: a Redis outage is answered with the backend's code for its whole length, not
 * with RC_ERR_PUBLISH_BACKPRESSURE ("add nodes or CPU"). Real lag still pushes back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { MemoryQuotas } from '../../../src/backends/memory/quotas.ts';
import { Backpressure } from '../../../src/core/backpressure.ts';

const INTERVAL_MS = 20;
const BOUND_MS = 100;

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS / 2));
  }
}

function make(store: MemoryQuotas, holder: string, offBus: () => boolean, oldestWaiting: () => number = () => Infinity): Backpressure {
  return new Backpressure({
    store,
    holder,
    maxLagMs: () => BOUND_MS,
    intervalMs: INTERVAL_MS,
    countSilentNodes: false,
    ttlMs: 5000,
    delivery: { onTurnEnd: () => () => undefined, oldestWaitingAppend: oldestWaiting, newestWaitingAppend: () => Infinity, waiting: 0, handled: 0 },
    offBus,
    logger: pino({ level: 'silent' }),
  });
}

test('a node off its bus well past the bound pushes no publisher back, on itself or on another node', async () => {
  const store = new MemoryQuotas();
  let off = false;
  const cutOff = make(store, 'b#1', () => off);
  const publisherSide = make(store, 'a#1', () => false);
  cutOff.start();
  publisherSide.start();
  try {
    off = true;
    // Ten bounds off the bus (the sustained-lag window is 1.5 s: longer than that too).
    await new Promise((resolve) => setTimeout(resolve, Math.max(BOUND_MS * 10, 2000)));
    assert.equal(cutOff.lagMs, 0, 'time off the bus is no lag');
    assert.equal(publisherSide.lagMs, 0);
    assert.equal(publisherSide.refusal(), null, 'the other node accepts');
    assert.equal(cutOff.refusal(), null, 'the node off the bus leaves the refusal to the bus code');
    off = false;
    assert.equal(cutOff.refusal(), null, 'back on the bus: accepted at once, no catch-up penalty');
  } finally {
    cutOff.stop();
    publisherSide.stop();
  }
});

test('real lag on one node pushes publishers back; a node off its bus still answers with the bus code, not backpressure', async () => {
  const store = new MemoryQuotas();
  let off = false;
  // Node b's bus queue holds a message appended long ago: real delivery lag. Its clock
  // offset is learnt from the first turn's transit (0 here).
  let oldest = Infinity;
  const lagging = make(store, 'b#1', () => false, () => oldest);
  const publisherSide = make(store, 'a#1', () => off);
  lagging.start();
  publisherSide.start();
  try {
    (lagging as unknown as { noteTransit(now: number, transit: number): void }).noteTransit(Date.now(), 0);
    oldest = Date.now() - BOUND_MS * 20;
    await until(() => publisherSide.refusal() !== null, 5000, 'the publisher side to push back');
    assert.equal(publisherSide.refusal()!.code, 'RC_ERR_PUBLISH_BACKPRESSURE');
    off = true;
    assert.equal(publisherSide.refusal(), null, 'off the bus: the publish path refuses with RC_ERR_BACKEND_BUS_DOWN instead');
    off = false;
    oldest = Infinity;
    await until(() => publisherSide.refusal() === null, 5000, 'publishers accepted again');
  } finally {
    lagging.stop();
    publisherSide.stop();
  }
});
