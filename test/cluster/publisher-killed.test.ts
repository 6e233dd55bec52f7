/**
 * A publish the node acknowledged keeps its side effects when that node dies right after
 * the append: a real node process on a real redis-server publishes an event carrying
 * `extras.push` to an app with a `message_created` webhook, and is frozen the moment its
 * append reached Redis (a proxy stops forwarding anything it sends after that command,
 * replies still flow back, so the REST call is answered), then SIGKILLed. The surviving
 * node reaps it within a heartbeat TTL and admits the push and records the webhook, each
 * exactly once.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { buildConfig } from '../../src/config/load.ts';
import { channelPushId } from '../../src/push/publish.ts';
import { startApp, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { freezingProxy, type FreezingProxy } from '../helpers/freezing-proxy.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { startFakeApns, waitFor, type FakeApns } from '../push/fake-providers.ts';
import { apnsToken, pushAppOf } from '../push/setup.ts';
import { startReceiver, type Receiver } from '../webhooks/receiver.ts';

const MARKER = `doomed-${Math.random().toString(36).slice(2, 10)}`;
let redis: TestRedis;
let proxy: FreezingProxy;
let receiver: Receiver;
let apns: FakeApns;
let child: ChildProcess | null = null;
let survivor: RunningApp | null = null;
const keyPrefix = `pk${Math.random().toString(36).slice(2, 8)}:`;

function rawConfig(redisUrl: string, workers: boolean): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port: 0 },
    log: { level: process.env.TEST_LOG_LEVEL ?? 'silent' },
    apps: [{ ...TEST_APP, webhooks: [{ url: `${receiver.url}/killed`, event_types: ['message_created'] }] }],
    backpressure: { maxLagMs: 0 },
    backend: { driver: 'redis', redis: { url: redisUrl, keyPrefix } },
    node: { heartbeatIntervalMs: 200, heartbeatTtlMs: 1500 },
    push: { apnsBaseUrl: apns.url, retryBaseMs: 50, workers },
    webhookDelivery: { workers, retryBaseMs: 50, retryMaxMs: 500 },
  };
}

before(async () => {
  redis = await startRedis();
  proxy = await freezingProxy(redis.port, MARKER);
  receiver = await startReceiver({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret });
  apns = await startFakeApns();
});
after(async () => {
  if (child !== null && child.exitCode === null) child.kill('SIGKILL');
  await survivor?.close();
  await proxy.close();
  await receiver.close();
  await apns.close();
  await redis.stop();
});

async function startChild(): Promise<number> {
  child = spawn(process.execPath, ['--import', 'tsx', new URL('../webhooks/node-process.ts', import.meta.url).pathname], {
    env: { ...process.env, RC_NODE_CONFIG: JSON.stringify(rawConfig(proxy.url, false)), RC_NODE_ID: 'publisher' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  for await (const chunk of child.stdout!) {
    output += String(chunk);
    const ready = /ready (\d+)/.exec(output);
    if (ready !== null) return Number(ready[1]);
  }
  throw new Error(`the publishing node did not start: ${output}`);
}

test('a node SIGKILLed right after its append: a survivor admits the push and records the webhook, once each', async (t) => {
  survivor = await startApp(buildConfig(rawConfig(redis.url, true)), 'survivor');
  const push = pushAppOf(survivor);
  await push.push.credentials.add(push.app.id, { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, private_key: apns.p8 });
  const token = apnsToken(9001);
  await push.push.devices.register(push.app.id, { device_id: 'k-1', platform: 'apns', provider_token: token });
  await push.push.subscriptions.subscribe(push.app.id, { device_id: 'k-1', channel: 'doomed' });

  const port = await startChild();
  const reply = await signedCall(`http://127.0.0.1:${port}`, 'POST', `/apps/${TEST_APP.id}/events`, {
    body: { name: 'last-words', channel: 'doomed', data: MARKER, extras: { push: { title: 'Last', body: 'words' } } },
  });
  assert.equal(reply.status, 200, reply.text);
  assert.ok(proxy.frozen, 'the append went through the proxy, and nothing after it');
  child!.kill('SIGKILL');
  await once(child!, 'exit');
  const killedAt = Date.now();

  // The serial the child answered names the push; the survivor admits and delivers it.
  const serial = (reply.json.message_serials as Record<string, string>).doomed!;
  const delivered = (): number => receiver.delivered().filter((e) => e.name === 'message_created' && e.channel === 'doomed').length;
  await receiver.waitFor(() => delivered() >= 1, 'the message_created webhook, recorded by the survivor', 8000);
  await waitFor(() => apns.received.some((r) => r.token === token), 8000, 'the push, admitted by the survivor');
  t.diagnostic(`kill → webhook and push delivered in ${Date.now() - killedAt} ms`);
  const status = await push.statusWhen(channelPushId(TEST_APP.id, 'doomed', serial), (s) => s.state === 'succeeded', 5000);
  assert.equal(status.counters.planned, 1);
  // A second admission or recording would show within a few heartbeats.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(delivered(), 1, 'the webhook, exactly once');
  assert.equal(apns.received.filter((r) => r.token === token).length, 1, 'the push, exactly once');
});
