import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoadShedder, retryAfterSec } from '../../../../src/doors/bayeux/load-shedding.ts';
import { LoopWatch } from '../../../../src/doors/loop-watch.ts';

const base = { sessionGraceMs: 10_000, connectTimeoutMs: 25_000, maxSessions: 0, maxEventLoopDelayMs: 0, chatEvents: [], rawDataChannels: [] };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
function block(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // block the event loop, as an overloaded process would
  }
}

test('live sessions past maxSessions shed new logins with a short Retry-After; expired ones stop counting', async () => {
  const shedder = new LoadShedder({ ...base, maxSessions: 2 });
  shedder.noteSession('a', 60_000);
  shedder.noteSession('b', 30);
  assert.throws(() => shedder.admit(), (error: { code: string; message: string; details: { retryAfterSec: number } }) => {
    assert.equal(error.code, 'RC_ERR_BOT_BUSY');
    assert.ok(error.details.retryAfterSec >= 5 && error.details.retryAfterSec < 60, String(error.details.retryAfterSec));
    assert.match(error.message, new RegExp(`try again in ${error.details.retryAfterSec} s`));
    return true;
  });
  await sleep(50);
  assert.doesNotThrow(() => shedder.admit());
  shedder.close();
});

test('Retry-After grows with how far past the limit the node is, from 5 s to at most 120 s', () => {
  assert.equal(retryAfterSec(1), 5);
  assert.ok(retryAfterSec(2) > retryAfterSec(1.2));
  assert.equal(retryAfterSec(4), 120);
  assert.equal(retryAfterSec(40), 120);
});

/** Waits (bounded) for the watch's first calm window; a loaded machine may take a few. */
async function warmUp(watch: LoopWatch): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!watch.warm && Date.now() < deadline) await sleep(50);
  assert.equal(watch.warm, true);
}

test('one event-loop stall (a start-up burst, a GC pause) sheds nobody', async () => {
  const watch = new LoopWatch(100, 5);
  // A limit far above what a loaded test machine's scheduling adds, far below the stall.
  const shedder = new LoadShedder({ ...base, maxEventLoopDelayMs: 1000 }, watch);
  await warmUp(watch);
  block(2500);
  await sleep(120);
  assert.ok(Math.max(...watch.recentP99Ms()) > 1000, `the stall was seen: ${watch.recentP99Ms().join(', ')}`);
  assert.doesNotThrow(() => shedder.admit());
  watch.close();
});

test('a sustained event-loop delay above maxEventLoopDelayMs sheds new logins, proportionally', async () => {
  const watch = new LoopWatch(100, 5);
  const shedder = new LoadShedder({ ...base, maxEventLoopDelayMs: 50 }, watch);
  await warmUp(watch);
  // Most of the last five windows stalled for 150 ms (3× the limit).
  const deadline = Date.now() + 10_000;
  while (watch.sustainedDelayMs() <= 50 && Date.now() < deadline) {
    block(150);
    await sleep(5);
  }
  assert.throws(() => shedder.admit(), (error: { code: string; message: string; details: { retryAfterSec: number } }) => {
    assert.equal(error.code, 'RC_ERR_BOT_BUSY');
    assert.match(error.message, /event-loop delay \d+ ms sustained/);
    assert.ok(error.details.retryAfterSec > 5 && error.details.retryAfterSec <= 120, String(error.details.retryAfterSec));
    return true;
  });
  watch.close();
});

test('a node that never had a calm window is not warm, and does not shed for delay until it is', async () => {
  const watch = new LoopWatch(100, 5);
  const shedder = new LoadShedder({ ...base, maxEventLoopDelayMs: 50 }, watch);
  for (let i = 0; i < 6; i++) {
    block(150);
    await sleep(1);
  }
  assert.equal(watch.warm, false);
  assert.ok(watch.sustainedDelayMs() > 50);
  assert.doesNotThrow(() => shedder.admit());
  watch.close();
});
