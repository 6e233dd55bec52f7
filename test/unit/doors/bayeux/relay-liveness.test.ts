/** relay-liveness.ts: a home's `alive` beacon, and the relaying node's watch of its homes (mocked clock). */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { AliveBeacon, HomeWatch } from '../../../../src/doors/bayeux/relay-liveness.ts';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 }));
afterEach(() => mock.timers.reset());

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

test('a home heard from within the TTL is kept; one silent for the TTL is gone, once', () => {
  const watch = new HomeWatch(2000);
  let gone = 0;
  const stop = watch.watch('c', () => gone++);
  for (let i = 0; i < 10; i++) {
    mock.timers.tick(500);
    watch.heard('c');
  }
  assert.equal(gone, 0, 'beats every 500 ms keep it');
  mock.timers.tick(1999);
  assert.equal(gone, 0);
  mock.timers.tick(1);
  assert.equal(gone, 1, 'gone exactly one TTL after its last word');
  mock.timers.tick(10_000);
  assert.equal(gone, 1);
  stop();
});

test('a stopped watch never fires, and a home nothing waits on is forgotten', () => {
  const watch = new HomeWatch(2000);
  let gone = 0;
  const stopFirst = watch.watch('c', () => gone++);
  const stopSecond = watch.watch('c', () => gone++);
  stopFirst();
  mock.timers.tick(1500);
  stopSecond();
  watch.heard('c'); // nothing waits on it: ignored
  mock.timers.tick(10_000);
  assert.equal(gone, 0);
  // A new watch starts from now, not from an old word.
  watch.watch('c', () => gone++);
  mock.timers.tick(1999);
  assert.equal(gone, 0);
  mock.timers.tick(1);
  assert.equal(gone, 1);
});
