/**
 * Push benchmark: accepted publishes/s (admission only) and device deliveries/s to a
 * local HTTP/2 APNs endpoint for 10,000 devices on one channel.
 *
 *   npx tsx bench/push.ts                       memory backend
 *   REDIS_URL=redis://127.0.0.1:6390 npx tsx bench/push.ts   Redis (BullMQ)
 *   DEVICES=10000 PUBLISHES=2000 CONCURRENCY=64 npx tsx bench/push.ts
 *
 * The endpoint answers 200 at once without verifying the JWT, so the numbers measure
 * roomcast (admission, expansion, queue, HTTP/2 client), not the fake provider.
 */
import { generateKeyPairSync } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { startApp, testConfig } from '../test/helpers/app.ts';

const DEVICES = Number(process.env.DEVICES ?? 10_000);
const PUBLISHES = Number(process.env.PUBLISHES ?? 2000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64);
const redisUrl = process.env.REDIS_URL;

async function main(): Promise<void> {
  let delivered = 0;
  const provider = http2.createServer();
  provider.on('stream', (stream) => {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      delivered++;
      stream.respond({ ':status': 200 });
      stream.end();
    });
  });
  await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
  const apnsBaseUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

  const config = testConfig({ push: { apnsBaseUrl, concurrency: CONCURRENCY, workers: true } }, redisUrl);
  const running = await startApp(config, 'bench');
  const push = running.app.push!;
  const app = running.app.core.apps.requireEnabled('app-1');
  await push.credentials.add(app.id, { platform: 'apns', key_id: 'KEY1234567', team_id: 'TEAM123456', topic: 'com.example.bench', private_key: key });

  let started = Date.now();
  for (let i = 0; i < DEVICES; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, DEVICES - i) }, async (_, j) => {
        const n = i + j;
        await push.devices.register(app.id, { device_id: `bench-${n}`, platform: 'apns', provider_token: n.toString(16).padStart(64, '0') });
        await push.subscriptions.subscribe(app.id, { device_id: `bench-${n}`, channel: 'bench' });
      }),
    );
  }
  const setupMs = Date.now() - started;

  // 1. Deliveries: one publish to the channel, timed until every device is done.
  started = Date.now();
  const { body } = await push.publish(app, { recipients: [{ channel: 'bench' }], payload: { title: 'bench', body: 'fan-out' } });
  const acceptedMs = Date.now() - started;
  let status = await push.status(app.id, body.publish_id);
  while (status.state === 'queued' || status.state === 'delivering' || status.state === 'scheduled') {
    await new Promise((resolve) => setTimeout(resolve, 20));
    status = await push.status(app.id, body.publish_id);
  }
  const deliverMs = Date.now() - started;

  // 2. Admission: publishes scheduled an hour ahead, so only admission is measured.
  const notBefore = Date.now() + 3_600_000;
  started = Date.now();
  for (let i = 0; i < PUBLISHES; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, PUBLISHES - i) }, () => push.publish(app, { recipients: [{ channel: 'bench' }], payload: { title: 'later' }, not_before: notBefore })),
    );
  }
  const admitMs = Date.now() - started;

  const result = {
    backend: redisUrl === undefined ? 'memory' : 'redis',
    devices: DEVICES,
    concurrency: CONCURRENCY,
    setup_ms: setupMs,
    channel_publish_accepted_ms: acceptedMs,
    delivery_ms: deliverMs,
    deliveries_per_sec: Math.round((status.counters.succeeded / deliverMs) * 1000),
    final_state: status.state,
    counters: status.counters,
    provider_requests: delivered,
    accepted_publishes: PUBLISHES,
    accepted_publishes_per_sec: Math.round((PUBLISHES / admitMs) * 1000),
  };
  console.log(JSON.stringify(result, null, 2));
  await running.close();
  await new Promise<void>((resolve) => provider.close(() => resolve()));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
