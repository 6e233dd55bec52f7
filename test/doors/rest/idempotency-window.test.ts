/**
 * Issue 3: "a replay inside the window returns the first reply and publishes nothing;
 * the window is configurable". With a 1 s window, replays inside it publish nothing,
 * and the same key after it publishes again (once).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../../helpers/app.ts';
import { signedCall } from '../../helpers/signed-request.ts';
import { RecordingSubscriber } from '../../helpers/subscriber.ts';
import { eventsOf, until } from '../../helpers/rest-observers.ts';

let running: RunningApp;
const watcher = new RecordingSubscriber('9.9');

before(async () => {
  running = await startApp(testConfig({ apps: [{ ...TEST_APP, idempotencyWindowSec: 1 }] }));
  await running.app.core.subscribe(TEST_APP.id, 'windowed', watcher);
});

after(() => running.close());

test('idempotencyWindowSec bounds the replay window: replays inside publish nothing, the key is reusable after', async () => {
  const body = { name: 'w', channel: 'windowed', data: 'once per window', idempotency_key: 'window-key' };
  const path = `/apps/${TEST_APP.id}/events`;
  const first = await signedCall(running.url, 'POST', path, { body });
  assert.equal(first.status, 200, first.text);
  let replays = 0;
  let fresh: Awaited<ReturnType<typeof signedCall>> | undefined;
  await until(async () => {
    const reply = await signedCall(running.url, 'POST', path, { body });
    assert.equal(reply.status, 200, reply.text);
    if (reply.headers.get('idempotent-replayed') === 'true') {
      replays++;
      assert.deepEqual(reply.json, first.json);
      return false;
    }
    fresh = reply;
    return true;
  }, 5000, 'the idempotency window to end');
  assert.ok(replays >= 1, 'no replay happened inside the window');
  assert.notDeepEqual(fresh!.json, first.json, 'a publish after the window gets a new serial');
  await until(() => eventsOf(watcher).length >= 2, 10_000, 'two events');
  assert.deepEqual(eventsOf(watcher).map((event) => event.data), ['once per window', 'once per window']);
});
