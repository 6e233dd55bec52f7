/**
 * A publish the node acknowledged keeps its side effects when that node dies after the
 * append: a real node process on a real redis-server publishes (signed REST) an event
 * carrying `extras.push` to an app with a `message_created` webhook, and is frozen at an
 * exact step by a proxy that stops forwarding anything it sends from that command on
 * (replies still flow back, so the REST call is answered), then SIGKILLed. The surviving
 * node reaps it within a heartbeat TTL and the push is delivered and the webhook event
 * recorded, each exactly once. The steps:
 * - right after the append (nothing of either side effect reached Redis);
 * - right after the push's claim (`HSETNX` of its status: a claim never initialised);
 * - with the push admitted but its owed marker not settled (its `HDEL` held back): the
 *   take-over must find it admitted and admit nothing more;
 * - right after a message update's commit (a message-store commit, not a publish): its
 *   `message_updated` event is recorded once by the survivor.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { after, before, test } from 'node:test';
import { buildConfig } from '../../src/config/load.ts';
import { channelPushId } from '../../src/push/publish.ts';
import { startApp, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { freezingProxy, type FreezingOptions, type FreezingProxy } from '../helpers/freezing-proxy.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { startFakeApns, waitFor, type FakeApns } from '../push/fake-providers.ts';
import { apnsToken, pushAppOf, type PushApp } from '../push/setup.ts';
import { startReceiver, type Receiver } from '../webhooks/receiver.ts';
import { tsNodeArgs } from '../helpers/ts-node-args.ts';

let redis: TestRedis;
let receiver: Receiver;
let apns: FakeApns;
let survivor: RunningApp;
let store: Redis;
let push: PushApp;
const children = new Set<ChildProcess>();
const proxies = new Set<FreezingProxy>();
const keyPrefix = `pk${Math.random().toString(36).slice(2, 8)}:`;

function rawConfig(redisUrl: string, workers: boolean): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port: 0 },
    log: { level: process.env.TEST_LOG_LEVEL ?? 'silent' },
    apps: [{ ...TEST_APP, webhooks: [{ url: `${receiver.url}/killed`, event_types: ['message_created', 'message_updated'] }] }],
    backpressure: { maxLagMs: 0 },
    backend: { driver: 'redis', redis: { url: redisUrl, keyPrefix } },
    node: { heartbeatIntervalMs: 200, heartbeatTtlMs: 1500 },
    push: { apnsBaseUrl: apns.url, retryBaseMs: 50, workers },
    webhookDelivery: { workers, retryBaseMs: 50, retryMaxMs: 500 },
  };
}

before(async () => {
  redis = await startRedis();
  store = new Redis(redis.url);
  receiver = await startReceiver({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret });
  apns = await startFakeApns();
  survivor = await startApp(buildConfig(rawConfig(redis.url, true)), 'survivor');
  push = pushAppOf(survivor);
  await push.push.credentials.add(push.app.id, { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, private_key: apns.p8 });
});
after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await survivor.close();
  store.disconnect();
  for (const proxy of proxies) await proxy.close();
  await receiver.close();
  await apns.close();
  await redis.stop();
});

/** A publishing node behind its own freezing proxy; resolves with its HTTP port once it listens. */
async function startPublisher(proxy: FreezingProxy): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [...tsNodeArgs(), new URL('../webhooks/node-process.ts', import.meta.url).pathname], {
    env: { ...process.env, RC_NODE_CONFIG: JSON.stringify(rawConfig(proxy.url, false)), RC_NODE_ID: 'publisher' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  let output = '';
  for await (const chunk of child.stdout!) {
    output += String(chunk);
    const ready = /ready (\d+)/.exec(output);
    if (ready !== null) return { child, port: Number(ready[1]) };
  }
  throw new Error(`the publishing node did not start: ${output}`);
}

let devices = 0;

/** Publishes through a node frozen at `freeze`, SIGKILLs it, and checks the survivor delivers the push and the webhook once each. */
async function killedAt(label: string, freeze: FreezingOptions, t: { diagnostic(message: string): void }): Promise<void> {
  const channel = `doomed-${label}`;
  const token = apnsToken(9001 + devices);
  await push.push.devices.register(push.app.id, { device_id: `k-${++devices}`, platform: 'apns', provider_token: token });
  await push.push.subscriptions.subscribe(push.app.id, { device_id: `k-${devices}`, channel });
  const proxy = await freezingProxy(redis.port, freeze);
  proxies.add(proxy);
  const { child, port } = await startPublisher(proxy);
  proxy.arm();
  const reply = await signedCall(`http://127.0.0.1:${port}`, 'POST', `/apps/${TEST_APP.id}/events`, {
    body: { name: 'last-words', channel, data: `${channel}-data`, extras: { push: { title: 'Last', body: 'words' } } },
  });
  assert.equal(reply.status, 200, reply.text);
  await waitFor(() => proxy.frozen, 5000, `the publisher frozen (${label})`);
  child.kill('SIGKILL');
  await once(child, 'exit');
  const killedAt = Date.now();

  const serial = (reply.json.message_serials as Record<string, string>)[channel]!;
  const delivered = (): number => receiver.delivered().filter((e) => e.name === 'message_created' && e.channel === channel).length;
  await receiver.waitFor(() => delivered() >= 1, `the message_created webhook of ${channel}`, 8000);
  await waitFor(() => apns.received.some((r) => r.token === token), 8000, `the push of ${channel}`);
  t.diagnostic(`${label}: kill → webhook and push delivered in ${Date.now() - killedAt} ms`);
  const status = await push.statusWhen(channelPushId(TEST_APP.id, channel, serial), (s) => s.state === 'succeeded', 5000);
  assert.equal(status.counters.planned, 1);
  // A second admission or recording would show within a few heartbeats.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(delivered(), 1, 'the webhook, exactly once');
  assert.equal(apns.received.filter((r) => r.token === token).length, 1, 'the push, exactly once');
  // The dead node's markers were settled by whoever did the work: none is left behind.
  const owedKeys = (): Promise<string[]> => store.keys(`${keyPrefix}*:owed:*`);
  await waitFor(async () => (await owedKeys()).length === 0, 5000, 'every owed marker settled');
}

test('a node SIGKILLed right after its append: a survivor admits the push and records the webhook, once each', async (t) => {
  await killedAt('append', { match: 'doomed-append-data' }, t);
});

test('a node SIGKILLed right after claiming the push id: the survivor releases the claim and admits it, once', async (t) => {
  await killedAt('claim', { match: (chunk) => chunk.includes('hsetnx') && chunk.includes('push:st:') }, t);
});

test('a node SIGKILLed with the push admitted but its marker not settled: the survivor admits nothing more', async (t) => {
  await killedAt('settle', { match: (chunk) => chunk.includes('hdel') && chunk.includes(':owed:'), hold: true }, t);
});

test('a node SIGKILLed right after committing a message update: the survivor records message_updated once', async (t) => {
  const channel = 'doomed-update';
  const [[original]] = await survivor.app.core.publish(push.app, [{ name: 'draft', channels: [channel], data: 'first', origin: 'rest' }]);
  const proxy = await freezingProxy(redis.port, { match: 'doomed-update-v2' });
  proxies.add(proxy);
  const { child, port } = await startPublisher(proxy);
  proxy.arm();
  const reply = await signedCall(`http://127.0.0.1:${port}`, 'POST', `/apps/${TEST_APP.id}/channels/${channel}/messages/${original!.serial}/update`, {
    body: { data: 'doomed-update-v2' },
  });
  assert.equal(reply.status, 200, reply.text);
  assert.ok(proxy.frozen, 'the commit went through the proxy, and nothing after it');
  child.kill('SIGKILL');
  await once(child, 'exit');
  const killedAt = Date.now();
  const updated = (): number => receiver.delivered().filter((e) => e.name === 'message_updated' && e.channel === channel).length;
  await receiver.waitFor(() => updated() >= 1, 'the message_updated webhook, recorded by the survivor', 8000);
  t.diagnostic(`update: kill → webhook delivered in ${Date.now() - killedAt} ms`);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(updated(), 1, 'the webhook, exactly once');
  await waitFor(async () => (await store.keys(`${keyPrefix}*:owed:*`)).length === 0, 5000, 'every owed marker settled');
});
