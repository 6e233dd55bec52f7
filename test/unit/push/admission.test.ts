/**
 * Admission after a backend failure: a publish whose body or queue job cannot be stored
 * after its status was claimed releases the claim, so the same id (a channel event's
 * `extras.push` id is fixed) can be admitted again, and an event's push is still sent
 * once when the store fails once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryHashes } from '../../../src/backends/memory/hashes.ts';
import { MemoryJobQueue } from '../../../src/backends/memory/queue.ts';
import type { HashStore, JobHandler, JobQueue, JobSpec } from '../../../src/backends/ports.ts';
import { isRoomcastError } from '../../../src/errors.ts';
import { jobIds, pushKeys } from '../../../src/push/keys.ts';
import { admitPlan, channelPushId, type AdmissionDeps, type PublishPlan } from '../../../src/push/publish.ts';
import { StatusStore } from '../../../src/push/status.ts';
import { TemplateStore } from '../../../src/push/templates.ts';
import { waitFor } from '../../push/fake-providers.ts';
import { testConfig } from '../../helpers/app.ts';
import { startHarness, type Harness } from './harness.ts';

/** Hashes that throw on the next call(s) of one method for keys with a given prefix. */
class FlakyHashes implements HashStore {
  private readonly faults: { method: string; prefix: string }[] = [];
  readonly injected: string[] = [];

  constructor(private readonly inner: HashStore) {}

  /** The next `method` call on a key starting with `prefix` fails (once per call of this). */
  failOnce(method: keyof HashStore, prefix: string): void {
    this.faults.push({ method, prefix });
  }

  private check(method: string, key: string): void {
    const index = this.faults.findIndex((fault) => fault.method === method && key.startsWith(fault.prefix));
    if (index < 0) return;
    this.faults.splice(index, 1);
    this.injected.push(`${method} ${key}`);
    throw new Error(`injected ${method} failure on ${key}`);
  }

  async get(key: string, field: string) { this.check('get', key); return this.inner.get(key, field); }
  async set(key: string, field: string, value: string) { this.check('set', key); return this.inner.set(key, field, value); }
  async setMany(key: string, fields: ReadonlyMap<string, string>) { this.check('setMany', key); return this.inner.setMany(key, fields); }
  async setIfAbsent(key: string, field: string, value: string) { this.check('setIfAbsent', key); return this.inner.setIfAbsent(key, field, value); }
  async remove(key: string, field: string) { this.check('remove', key); return this.inner.remove(key, field); }
  async getAll(key: string) { this.check('getAll', key); return this.inner.getAll(key); }
  async scan(key: string, cursor: string, count: number) { this.check('scan', key); return this.inner.scan(key, cursor, count); }
  async increment(key: string, field: string, by: number) { this.check('increment', key); return this.inner.increment(key, field, by); }
  async expire(key: string, ttlMs: number) { this.check('expire', key); return this.inner.expire(key, ttlMs); }
  async drop(key: string) { this.check('drop', key); return this.inner.drop(key); }
}

/** A queue that records what it holds and can fail the next enqueue. */
class RecordingQueue implements JobQueue {
  readonly held = new Map<string, JobSpec>();
  failNextEnqueue = false;
  private readonly inner = new MemoryJobQueue();

  async enqueue(jobs: readonly JobSpec[]): Promise<void> {
    if (this.failNextEnqueue) {
      this.failNextEnqueue = false;
      throw new Error('injected enqueue failure');
    }
    for (const job of jobs) this.held.set(job.id, job);
    await this.inner.enqueue(jobs);
  }
  async remove(id: string): Promise<boolean> {
    this.held.delete(id);
    return this.inner.remove(id);
  }
  process(handler: JobHandler, concurrency: number): void {
    this.inner.process(handler, concurrency);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('admitPlan after a failure past the claim', () => {
  const appId = 'app-1';
  const plan: PublishPlan = { recipients: [{ type: 'channel', channel: 'news' }], notifications: { '': { title: 'Breaking' } }, notBefore: 0, expiresAt: 0, sync: false };
  let memory: MemoryHashes;
  let hashes: FlakyHashes;
  let queue: RecordingQueue;
  let deps: AdmissionDeps;

  before(() => {
    memory = new MemoryHashes();
    hashes = new FlakyHashes(memory);
    queue = new RecordingQueue();
    const config = testConfig().push;
    deps = { config, hashes, queue, statuses: new StatusStore(hashes, config.statusTtlSec * 1000), templates: new TemplateStore(hashes), maxChannelNameLength: 200, now: Date.now };
  });
  after(async () => {
    await queue.close();
    memory.close();
  });

  /** Asserts nothing of the publish is left: no status, no body, no job. */
  async function assertReleased(publishId: string): Promise<void> {
    await assert.rejects(deps.statuses.read(appId, publishId), (error: unknown) => isRoomcastError(error) && error.code === 'RC_ERR_PUSH_PUBLISH_NOT_FOUND');
    assert.equal(await memory.get(pushKeys.publish(appId, publishId), 'body'), null);
    assert.equal(queue.held.has(jobIds.expand(appId, publishId)), false);
  }

  /** Asserts the publish is admitted: queued status, stored body, one expand job. */
  async function assertAdmitted(publishId: string): Promise<void> {
    assert.equal((await deps.statuses.read(appId, publishId)).state, 'queued');
    assert.equal(JSON.parse((await memory.get(pushKeys.publish(appId, publishId), 'body'))!).publishId, publishId);
    assert.deepEqual(JSON.parse(queue.held.get(jobIds.expand(appId, publishId))!.data), { kind: 'expand', appId, publishId });
  }

  test('storing the body fails once: the claim is released and the same id is admitted on the next try', async () => {
    const id = 'ch_body_fails_once';
    hashes.failOnce('set', pushKeys.publish(appId, ''));
    await assert.rejects(admitPlan(deps, appId, plan, id), /injected set failure/);
    await assertReleased(id);
    assert.equal(await admitPlan(deps, appId, plan, id), id);
    await assertAdmitted(id);
    assert.equal(await admitPlan(deps, appId, plan, id), null, 'admitted once: the claim holds again');
  });

  test('enqueueing fails once: the claim is released and the same id is admitted on the next try', async () => {
    const id = 'ch_enqueue_fails_once';
    queue.failNextEnqueue = true;
    await assert.rejects(admitPlan(deps, appId, plan, id), /injected enqueue failure/);
    await assertReleased(id);
    assert.equal(await admitPlan(deps, appId, plan, id), id);
    await assertAdmitted(id);
  });

  test('writing the status fails right after the claim: released too', async () => {
    const id = 'ch_status_fails_once';
    hashes.failOnce('setMany', pushKeys.status(appId, ''));
    await assert.rejects(admitPlan(deps, appId, plan, id), /injected setMany failure/);
    await assertReleased(id);
    assert.equal(await admitPlan(deps, appId, plan, id), id);
    await assertAdmitted(id);
  });

  test('when releasing fails as well, the admission error is the one reported, and the claim is still held', async () => {
    const id = 'ch_release_fails';
    hashes.failOnce('set', pushKeys.publish(appId, ''));
    hashes.failOnce('drop', pushKeys.status(appId, ''));
    await assert.rejects(admitPlan(deps, appId, plan, id), /injected set failure/);
    assert.deepEqual(hashes.injected.slice(-2), [`set ${pushKeys.publish(appId, id)}`, `drop ${pushKeys.status(appId, id)}`]);
    // The claim stays (it expires by itself after CLAIM_TTL_MS); the extras.push retry loop,
    // which knows its own try failed, frees it at once (next describe block).
    assert.equal(await admitPlan(deps, appId, plan, id), null);
  });

  test('a failed step of the release does not stop the others: the status is released, the id admitted again', async () => {
    const id = 'ch_body_drop_fails';
    hashes.failOnce('set', pushKeys.publish(appId, ''));
    hashes.failOnce('drop', pushKeys.publish(appId, ''));
    await assert.rejects(admitPlan(deps, appId, plan, id), /injected set failure/);
    assert.deepEqual(hashes.injected.slice(-2), [`set ${pushKeys.publish(appId, id)}`, `drop ${pushKeys.publish(appId, id)}`]);
    assert.equal(await admitPlan(deps, appId, plan, id), id, 'the status was released although the body drop failed');
    await assertAdmitted(id);
  });
});

describe('extras.push when the store fails once', () => {
  let h: Harness;
  let flaky: FlakyHashes;

  before(async () => {
    h = await startHarness({}, (memory) => {
      flaky = new FlakyHashes(memory.hashes!);
      return { ...memory, hashes: flaky };
    });
    h.push.start();
  });
  after(() => h.close());

  test("the event's push is admitted again and sent once", async () => {
    await h.device('news-reader');
    await h.push.subscriptions.subscribe(h.app.id, { device_id: 'news-reader', channel: 'news' });
    flaky.failOnce('set', pushKeys.publish(h.app.id, ''));
    const sent = h.provider.nextCall();
    const [[published]] = await h.core.publish(h.app, [
      { name: 'breaking', channels: ['news'], data: { id: 1 }, origin: 'rest', extras: { push: { title: 'Breaking', body: 'news' } } },
    ]);
    const request = await sent;
    assert.equal(request.device.deviceId, 'news-reader');
    assert.equal(request.notification.title, 'Breaking');
    const publishId = channelPushId(h.app.id, 'news', published!.serial);
    assert.deepEqual(flaky.injected, [`set ${pushKeys.publish(h.app.id, publishId)}`], 'the first admission did fail');
    let status = await h.push.status(h.app.id, publishId);
    await waitFor(async () => (status = await h.push.status(h.app.id, publishId)).state === 'succeeded', 5000, 'the push to succeed');
    assert.deepEqual(status.counters, { planned: 1, sent: 1, succeeded: 1, failed: 0, retrying: 0, expired: 0, cancelled: 0 });
    assert.equal(h.provider.calls.filter((call) => call.device.deviceId === 'news-reader').length, 1);
  });

  test("when the release fails too, the claim left behind is freed and the push is still sent once", async () => {
    await h.device('late-reader');
    await h.push.subscriptions.subscribe(h.app.id, { device_id: 'late-reader', channel: 'late' });
    flaky.failOnce('set', pushKeys.publish(h.app.id, ''));
    flaky.failOnce('drop', pushKeys.status(h.app.id, ''));
    const sent = h.provider.nextCall();
    const [[published]] = await h.core.publish(h.app, [
      { name: 'late', channels: ['late'], data: { id: 2 }, origin: 'rest', extras: { push: { title: 'Late', body: 'news' } } },
    ]);
    const request = await sent;
    assert.equal(request.device.deviceId, 'late-reader');
    const publishId = channelPushId(h.app.id, 'late', published!.serial);
    assert.deepEqual(flaky.injected.slice(-2), [`set ${pushKeys.publish(h.app.id, publishId)}`, `drop ${pushKeys.status(h.app.id, publishId)}`]);
    let status = await h.push.status(h.app.id, publishId);
    await waitFor(async () => (status = await h.push.status(h.app.id, publishId)).state === 'succeeded', 5000, 'the push to succeed');
    assert.equal(status.counters.sent, 1);
    assert.equal(h.provider.calls.filter((call) => call.device.deviceId === 'late-reader').length, 1);
  });
});
