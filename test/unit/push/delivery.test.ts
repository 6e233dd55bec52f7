/**
 * Device-job decisions, driven job by job: a provider's Retry-After is honoured (beyond
 * `retryMaxMs`, up to `retryAfterMaxMs`), never shortened; longer ones and retries that
 * would land after `expires_at` end the delivery at once; `retrying` counts each
 * scheduled retry once even when a retry run stalls and runs again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DeliveryResult } from '../../../src/push/providers/types.ts';
import { startHarness, type Harness } from './harness.ts';

const MINUTE = 60_000;

describe('push delivery decisions', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness({ retryBaseMs: 1000, retryMaxMs: 5 * MINUTE, retryAfterMaxMs: 60 * MINUTE, maxAttempts: 5 });
  });
  after(() => h.close());

  /** Admits a publish to one fresh device and expands it; returns the publish id. */
  async function publishTo(deviceId: string, extra: Record<string, unknown> = {}): Promise<string> {
    await h.device(deviceId);
    const reply = await h.push.publish(h.app, { recipients: [{ device_id: deviceId }], payload: { title: 'hello' }, ...extra });
    await h.expand(reply.body.publish_id);
    return reply.body.publish_id;
  }
  const throttled = (retryAfterMs: number): DeliveryResult => ({ kind: 'retry', reason: 'apns: TooManyRequests', retryAfterMs });

  test('a Retry-After longer than retryMaxMs is honoured as given, not cut short', async () => {
    const id = await publishTo('ra-30min');
    h.provider.script(throttled(30 * MINUTE));
    const outcome = await h.deliver(id, 'ra-30min', 1);
    assert.ok(outcome !== undefined, 'the delivery is retried');
    assert.ok(outcome.retryInMs >= 30 * MINUTE && outcome.retryInMs <= 30 * MINUTE + 100, `retried in ${outcome.retryInMs} ms`);
    const status = await h.push.status(h.app.id, id);
    assert.equal(status.state, 'delivering');
    assert.equal(status.counters.retrying, 1);
  });

  test('a Retry-After past retryAfterMaxMs is dead-lettered instead of sent early', async () => {
    const id = await publishTo('ra-2h');
    h.provider.script(throttled(120 * MINUTE));
    const calls = h.provider.calls.length;
    assert.equal(await h.deliver(id, 'ra-2h', 1), undefined, 'no retry is scheduled');
    assert.equal(h.provider.calls.length, calls + 1, 'one request, no early resend');
    assert.equal(h.outcomes.at(-1), 'dead_lettered');
    const status = await h.push.status(h.app.id, id);
    assert.equal(status.state, 'failed');
    assert.deepEqual(status.counters, { planned: 1, sent: 1, succeeded: 0, failed: 1, retrying: 0, expired: 0, cancelled: 0 });
    const reason = 'apns: TooManyRequests (dead-lettered: Retry-After 7200 s is longer than push.retryAfterMaxMs)';
    assert.deepEqual(status.failure_reasons, { [reason]: 1 });
    const letters = (await h.push.deadLetters(h.app.id)) as { publish_id: string; device_id: string; reason: string; attempts: number }[];
    const letter = letters.find((l) => l.publish_id === id);
    assert.deepEqual(letter && { device_id: letter.device_id, reason: letter.reason, attempts: letter.attempts }, { device_id: 'ra-2h', reason, attempts: 1 });
  });

  test('a retry that could only run after expires_at is counted expired at once', async () => {
    const id = await publishTo('ra-expiring', { expires_at: Date.now() + 10 * MINUTE });
    h.provider.script(throttled(30 * MINUTE));
    assert.equal(await h.deliver(id, 'ra-expiring', 1), undefined, 'no retry is scheduled');
    const status = await h.push.status(h.app.id, id);
    assert.equal(status.state, 'expired');
    assert.deepEqual(status.counters, { planned: 1, sent: 1, succeeded: 0, failed: 0, retrying: 0, expired: 1, cancelled: 0 });
  });

  test('a retry that lands before expires_at is scheduled', async () => {
    const id = await publishTo('ra-fits', { expires_at: Date.now() + 10 * MINUTE });
    h.provider.script(throttled(MINUTE));
    const outcome = await h.deliver(id, 'ra-fits', 1);
    assert.ok(outcome !== undefined && outcome.retryInMs >= MINUTE);
    assert.equal((await h.push.status(h.app.id, id)).counters.retrying, 1);
  });

  test('retrying is un-counted once when a retry run stalls and the queue runs it again', async () => {
    const id = await publishTo('stall');
    h.provider.script({ kind: 'retry', reason: 'apns: ServiceUnavailable' });
    assert.ok((await h.deliver(id, 'stall', 1)) !== undefined);
    assert.equal((await h.push.status(h.app.id, id)).counters.retrying, 1);

    // Attempt 2 hangs at the provider (its node froze, its lock expired)…
    let release!: (result: DeliveryResult) => void;
    h.provider.script(() => new Promise<DeliveryResult>((resolve) => (release = resolve)));
    const sent = h.provider.nextCall();
    const stalled = h.deliver(id, 'stall', 2);
    await sent;
    assert.equal((await h.push.status(h.app.id, id)).counters.retrying, 0, 'the retry is running, not waiting');
    // …so the queue runs attempt 2 again elsewhere (BullMQ keeps the attempt number of a stalled job).
    assert.equal(await h.deliver(id, 'stall', 2), undefined);
    const status = await h.push.status(h.app.id, id);
    assert.equal(status.state, 'succeeded');
    assert.equal(status.counters.retrying, 0, 'not -1: the second run found the retry already un-counted');
    assert.equal(status.counters.succeeded, 1);

    // The frozen run wakes up with a provider error. The device was delivered meanwhile, so it
    // schedules no retry (the queue would refuse it: its lock is gone, and nothing would
    // ever un-count it) and `retrying` stays 0.
    release({ kind: 'retry', reason: 'apns: ServiceUnavailable' });
    assert.equal(await stalled, undefined);
    assert.equal((await h.push.status(h.app.id, id)).counters.retrying, 0);
    assert.equal(await h.deliver(id, 'stall', 3), undefined, 'already delivered: skipped');
    assert.equal((await h.push.status(h.app.id, id)).counters.retrying, 0);
  });
});
