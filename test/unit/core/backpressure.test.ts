/**
 * Backpressure counts a node that lost its bus subscription as behind by the time it has
 * been off the bus: it receives nothing meanwhile (so no message shows a delay), yet
 * every message published meanwhile reaches its subscribers only when it catches up
 * from the log. Publishers on every node are pushed back once that lasts past the bound,
 * and accepted again at the first report after the bus is back.
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

test('a node off its bus past the bound pushes publishers back on every node, until the bus is back', async () => {
  const store = new MemoryQuotas();
  let lostAt = 0;
  const make = (holder: string, busLostSince: () => number) =>
    new Backpressure({
      store,
      holder,
      maxLagMs: () => BOUND_MS,
      intervalMs: INTERVAL_MS,
      countSilentNodes: false,
      ttlMs: 5000,
      delivery: { onTurnEnd: () => () => undefined, oldestWaitingAppend: () => Infinity, newestWaitingAppend: () => Infinity, waiting: 0, handled: 0 },
      busLostSince,
      logger: pino({ level: 'silent' }),
    });
  const cutOff = make('b#1', () => lostAt);
  const publisherSide = make('a#1', () => 0);
  cutOff.start();
  publisherSide.start();
  try {
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 4));
    assert.equal(publisherSide.refusal(), null, 'nothing lost yet: accepted');
    lostAt = Date.now();
    await until(() => publisherSide.refusal() !== null, 5000, 'the publisher side to push back');
    assert.equal(publisherSide.refusal()!.code, 'RC_ERR_PUBLISH_BACKPRESSURE');
    assert.ok(publisherSide.lagMs > BOUND_MS);
    lostAt = 0;
    await until(() => publisherSide.refusal() === null, 5000, 'publishers accepted again');
  } finally {
    cutOff.stop();
    publisherSide.stop();
  }
});
