/**
 * Issue 18 acceptance: a node that falls behind because of its fan-out is seen, and
 * publishers are pushed back. Two node processes on one redis-server; node B has many
 * WebSocket subscribers of one channel (raw sockets that read and discard, so this
 * process stays cheap, and one parsing probe), a publisher floods node A. Node B writes
 * every message to every subscriber, so it falls behind A's accept rate: its turns grow
 * long (a run of bus messages, each written to every socket, then the flush). A must
 * refuse with 503 RC_ERR_PUBLISH_BACKPRESSURE and Retry-After within the flood, and
 * what the probe receives must stay within a bound of the publish (the lag bound, the
 * sustain time, the publish requests' own queue at A and the drain of what was accepted).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, writeConfigFile, type ConfigFile, type ServerProcess } from '../helpers/server-process.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

const repo = process.env.QUOTA_TEST_REPO ?? new URL('../../', import.meta.url).pathname;
const APP = { id: 'app-1', key: 'app-key', secret: 'app-secret', limits: { restRequestsPerWindow: 0 } };
const MAX_LAG_MS = 1000;
const SUBSCRIBERS = Number(process.env.FANOUT_SUBSCRIBERS ?? 2000);
const CHANNEL = 'flood';
/** The flood lasts at most this long, in milliseconds. */
const FLOOD_MS = 12_000;
const IN_FLIGHT = 16;
const BATCH = 10;
/**
 * Largest publish → probe delay allowed: the bound, the sustain time, A's queue, and the
 * drain of what A accepted before the first refusal at node B's delivery rate. That rate
 * falls with the machine's load (2–4 s here alone, 11.8 s beside two other test files), so
 * the limit is loose; what fails without backpressure is the refusal, not this.
 */
const LAG_LIMIT_MS = 20_000;

let redis: TestRedis;
let file: ConfigFile | undefined;
const nodes: ServerProcess[] = [];
const quiet: Socket[] = [];

before(async () => {
  redis = await startRedis();
  const config = {
    server: { host: '127.0.0.1', port: 0, maxConnectionsPerAddress: 0 },
    log: { level: 'info' },
    // The quiet subscribers never answer a read probe: they must not be cut for it.
    websocket: { stallTimeoutMs: 0 },
    backpressure: { maxLagMs: MAX_LAG_MS, reportIntervalMs: 100 },
    apps: [APP],
  };
  file = writeConfigFile(config, 'rc-backpressure-fanout-');
  const { configPath } = file;
  nodes.push(...(await Promise.all([0, 1].map(() => startNodeProcess(configPath, { cwd: repo, env: { REDIS_URL: redis.url }, logLimit: 200 })))));
});

after(async () => {
  for (const socket of quiet) socket.destroy();
  await Promise.all(nodes.map((node) => node.stop()));
  await redis?.stop();
  file?.remove();
});

/** One masked client text frame (RFC 6455 §5.3: a client masks every frame). */
function maskedText(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const header = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([header, mask, masked]);
}

/** A subscriber of `CHANNEL` on a raw socket: subscribes, then reads and discards everything. */
function quietSubscriber(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let seen = '';
    let subscribed = false;
    socket.setTimeout(30_000, () => socket.destroy(new Error('quiet subscriber timed out')));
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.write(
        `GET /app/${APP.key}?protocol=7&client=test&version=1.0 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString('latin1');
      if (!subscribed && seen.includes('pusher:connection_established')) {
        subscribed = true;
        socket.write(maskedText(JSON.stringify({ event: 'pusher:subscribe', data: { channel: CHANNEL } })));
      }
      if (seen.includes('pusher_internal:subscription_succeeded')) {
        socket.off('data', onData);
        socket.setTimeout(0);
        socket.resume(); // read and discard from here on
        resolve(socket);
      }
    };
    socket.on('data', onData);
  });
}

test('node B falling behind its fan-out pushes publishers on A back with 503 and Retry-After; delivery stays bounded', async () => {
  const [a, b] = nodes as [ServerProcess, ServerProcess];
  for (let i = 0; i < SUBSCRIBERS; i += 100) {
    quiet.push(...(await Promise.all(Array.from({ length: Math.min(100, SUBSCRIBERS - i) }, () => quietSubscriber(b.port)))));
  }
  const probe = new RawPusherClient(new WebSocket(`ws://127.0.0.1:${b.port}/app/${APP.key}?protocol=7&client=test&version=1.0`));
  await probe.next((frame) => frame.event === 'pusher:connection_established', 20_000);
  probe.send({ event: 'pusher:subscribe', data: { channel: CHANNEL } });
  await probe.next((frame) => frame.event === 'pusher_internal:subscription_succeeded', 20_000);
  // Publish → probe delay of every message, from the send time stamped in its data.
  const delays: number[] = [];
  probe.ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as { event: string; data?: string };
    if (frame.event === 'tick') delays.push(Date.now() - Number(String(frame.data).split(':')[0]));
  });
  // Ten events per request (`/batch_events`): node A accepts far more than B can fan out.
  const batch = () => Array.from({ length: BATCH }, () => ({ name: 'tick', channel: CHANNEL, data: `${Date.now()}:${'x'.repeat(100)}` }));
  const publish = () => signedCall(a.url, 'POST', `/apps/${APP.id}/batch_events`, { key: APP.key, secret: APP.secret, body: { batch: batch() } });
  // Start-up on a loaded machine may itself lag the nodes: wait until a publish is accepted and arrives.
  await waitUntil(async () => (await publish()).status === 200, 30_000, 'a first accepted publish');
  await waitUntil(() => delays.length > 0, 20_000, 'the first message at the probe');

  const started = Date.now();
  let accepted = BATCH;
  let refusal: Awaited<ReturnType<typeof publish>> | null = null;
  let refusedAfterMs = 0;
  const worker = async (): Promise<void> => {
    while (refusal === null && Date.now() - started < FLOOD_MS) {
      const reply = await publish();
      if (reply.status === 200) accepted += BATCH;
      else if (refusal === null) {
        refusal = reply;
        refusedAfterMs = Date.now() - started;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  assert.ok(refusal !== null, `no publish was pushed back in ${FLOOD_MS} ms (${accepted} accepted; probe's largest delay ${Math.max(...delays)} ms)`);
  const pushedBack = refusal as Awaited<ReturnType<typeof publish>>;
  assert.equal(pushedBack.status, 503);
  assert.equal(pushedBack.json.code, 'RC_ERR_PUBLISH_BACKPRESSURE');
  const retryAfter = Number(pushedBack.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 30, `Retry-After ${retryAfter}`);

  // Every accepted message reaches the probe, none later than the limit.
  await waitUntil(() => delays.length >= accepted, 30_000, `${accepted} messages at the probe (got ${delays.length})`);
  const largest = Math.max(...delays);
  console.log(`pushed back after ${refusedAfterMs} ms, ${accepted} accepted, probe's largest delay ${largest} ms`);
  assert.ok(largest <= LAG_LIMIT_MS, `probe's largest delay ${largest} ms`);
  probe.ws.terminate();
});
