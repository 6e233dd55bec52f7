/** relay-liveness.ts: a home's `alive` beacon, and the relaying node's watch of its homes (mocked clock). */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { afterListening, AliveBeacon, HomeWatch } from '../../../../src/doors/bayeux/relay-liveness.ts';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 }));
afterEach(() => mock.timers.reset());

/** Advances the mocked clock, then lets the verdicts it scheduled (real setImmediate) run. */
async function tick(ms: number): Promise<void> {
  mock.timers.tick(ms);
  await new Promise((resolve) => setImmediate(resolve));
}

test('a home beats once per interval to each node it holds requests for, and stops when none is held', () => {
  const sent: string[] = [];
  const beacon = new AliveBeacon(500, (to) => sent.push(to));
  const releaseA1 = beacon.hold('a');
  const releaseA2 = beacon.hold('a');
  const releaseB = beacon.hold('b');
  mock.timers.tick(500);
  assert.deepEqual(sent.splice(0), ['a', 'b']);
  releaseB();
  releaseB(); // once only: 'a' still has two
  releaseA1();
  mock.timers.tick(500);
  assert.deepEqual(sent.splice(0), ['a']);
  releaseA2();
  mock.timers.tick(5000);
  assert.deepEqual(sent, []);
});

test('a home heard from within the TTL is kept; one silent for the TTL is gone, once', async () => {
  const watch = new HomeWatch(2000, () => Date.now());
  let gone = 0;
  const stop = watch.watch('c', () => gone++);
  for (let i = 0; i < 10; i++) {
    await tick(500);
    watch.heard('c');
  }
  assert.equal(gone, 0, 'beats every 500 ms keep it');
  await tick(1999);
  assert.equal(gone, 0);
  await tick(1);
  assert.equal(gone, 1, 'gone exactly one TTL after its last word');
  await tick(10_000);
  assert.equal(gone, 1);
  stop();
});

test('a stopped watch never fires, and a home nothing waits on is forgotten', async () => {
  const watch = new HomeWatch(2000, () => Date.now());
  let gone = 0;
  const stopFirst = watch.watch('c', () => gone++);
  const stopSecond = watch.watch('c', () => gone++);
  stopFirst();
  await tick(1500);
  stopSecond();
  watch.heard('c'); // nothing waits on it: ignored
  await tick(10_000);
  assert.equal(gone, 0);
  // A new watch starts from now, not from an old word.
  watch.watch('c', () => gone++);
  await tick(1999);
  assert.equal(gone, 0);
  await tick(1);
  assert.equal(gone, 1);
});

test('a word that arrived during a stall of this node counts: the verdict waits for the input already received', async () => {
  const watch = new HomeWatch(2000, () => Date.now());
  let gone = 0;
  watch.watch('c', () => gone++);
  // The timer is due; the home's word is read in the same turn, before the verdict.
  mock.timers.tick(2000);
  watch.heard('c');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(gone, 0);
  await tick(2000);
  assert.equal(gone, 1);
});

test('a wall-clock step (NTP) does not make a home look silent: the watch runs on a monotonic clock', async () => {
  const watch = new HomeWatch(2000);
  let gone = 0;
  const stop = watch.watch('c', () => gone++);
  mock.timers.setTime(Date.now() + 3_600_000);
  await tick(1000);
  watch.heard('c');
  await tick(1000);
  assert.equal(gone, 0);
  stop();
});

test('a stall of this node past the TTL is not the home\'s silence: the watch waits one TTL from when this node runs again', async () => {
  let stalledMs = 0;
  const watch = new HomeWatch(2000, () => Date.now() + stalledMs);
  let gone = 0;
  watch.watch('c', () => gone++);
  await tick(1000);
  // This node stands still for 5 s (SIGSTOP): its timer runs late, with nothing read yet.
  stalledMs = 5000;
  await tick(1000);
  assert.equal(gone, 0, 'judged by its own stall');
  await tick(1999);
  assert.equal(gone, 0);
  await tick(1);
  assert.equal(gone, 1, 'silent for one TTL of this node running: gone');
});

test('listening deadline: runs after the time, unless this node stood still meanwhile: then it waits the time again', async () => {
  let stalledMs = 0;
  const now = (): number => Date.now() + stalledMs;
  let expired = 0;
  afterListening(2000, () => expired++, now);
  await tick(2000);
  assert.equal(expired, 1);
  const cancel = afterListening(2000, () => expired++, now);
  await tick(1000);
  stalledMs = 3000;
  await tick(1000);
  assert.equal(expired, 1, 'due during a stall: waits again');
  await tick(1999);
  assert.equal(expired, 1);
  cancel();
  await tick(10_000);
  assert.equal(expired, 1, 'cancelled');
  afterListening(2000, () => expired++, now);
  await tick(2000);
  assert.equal(expired, 2);
});
