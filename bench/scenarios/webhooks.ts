/**
 * Webhooks: what delivering them costs publishing, and how fast they go out, in one run.
 *
 * The same roomcast (one node; memory backend, or Redis with --backend redis) is measured
 * twice under the REST publish load of rest-publish.ts (autocannon, pre-signed requests):
 * - "webhooks off": no endpoint;
 * - "webhooks on": one endpoint wanting `message_created`, a local receiver worker that
 *   answers 200 at once. Every publish becomes one webhook event.
 * Reported: publish req/s both ways and their ratio (the cost), webhook events delivered
 * per second while publishing, how long the backlog took to drain after the load stopped,
 * and that every event arrived (distinct ids = publishes).
 */
import type { Options } from '../lib/options.ts';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import { startWorker, type Proc } from '../lib/proc.ts';
import { startCpuWindow } from '../lib/cpu.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { startRedis } from '../servers/redis.ts';
import { startRoomcast, type RunningServer } from '../servers/roomcast.ts';
import { metric, ratio } from './compare.ts';
import { perServerCpuSecond } from './fanout-runner.ts';

interface CannonResult {
  requestsPerSec: number;
  total: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  latencyP50: number;
  latencyP99: number;
}

interface ReceiverSnapshot {
  requests: number;
  events: number;
  distinct: number;
  firstAt: number;
  lastAt: number;
  invalid: number;
}

const CHANNEL = 'bench-hooks';

async function measure(target: 'webhooks off' | 'webhooks on', options: Options, redisUrl: string | undefined): Promise<Row> {
  const workers: Proc[] = [];
  let server: RunningServer | null = null;
  try {
    const receiver = await startWorker('webhook-receiver', 'bench/load/webhook-receiver.ts');
    workers.push(receiver);
    const { port } = await receiver.call<{ port: number }>('listen', { appId: BENCH_APP.id, key: BENCH_APP.key, secret: BENCH_APP.secret });
    const webhooks = target === 'webhooks on' ? [{ url: `http://127.0.0.1:${port}/hooks`, event_types: ['message_created'] }] : [];
    server = await startRoomcast(target, {
      ...(redisUrl === undefined ? {} : { redisUrl }),
      overrides: {
        apps: [{ ...BENCH_APP, limits: { restRequestsPerWindow: 0 }, webhooks }],
        webhookDelivery: { batchSize: options.number('batch', 50), lanesPerEndpoint: options.number('lanes', 4), concurrency: 16 },
      },
    });
    const cannon = await startWorker('autocannon', 'bench/load/rest-cannon.ts');
    workers.push(cannon);
    const args = { baseUrl: server.origin, channel: CHANNEL, connections: options.number('connections', 16), poolSize: 1000, payloadBytes: options.number('payload-bytes', 100) };
    const warmUp = await cannon.call<CannonResult>('run', { ...args, durationSec: 1 });
    // The warm-up's webhooks must be in (and the stragglers of requests autocannon did not count) before counting starts.
    if (target === 'webhooks on') await waitForDrain(receiver, warmUp.ok2xx, 60_000);
    await waitForQuiet(receiver, 500);
    await receiver.call('reset');
    const cpu = startCpuWindow({ server: [server.proc.pid], autocannon: [cannon.pid], receiver: [receiver.pid] });
    const started = performance.timeOrigin + performance.now();
    const result = await cannon.call<CannonResult>('run', { ...args, durationSec: options.number('duration-sec', 8) });
    const stopped = performance.timeOrigin + performance.now();
    const report = cpu.stop();
    const atStop = await receiver.call<ReceiverSnapshot>('snapshot');
    const drainedAll = target === 'webhooks on' ? await waitForDrain(receiver, result.ok2xx, options.number('drain-timeout-sec', 120) * 1000) : atStop;
    const drained = performance.timeOrigin + performance.now();
    // Requests in flight when autocannon stopped are served but not counted by it: their events come too.
    const final = target === 'webhooks on' ? await waitForQuiet(receiver, 500) : drainedAll;
    const publishSec = (stopped - started) / 1000;
    return {
      target,
      phase: `c${args.connections}`,
      metrics: {
        'publish req/s': result.requestsPerSec,
        'publish req/server-CPU-s': perServerCpuSecond(result.requestsPerSec, report.groups, ['server']),
        'publish p99 ms': result.latencyP99,
        publishes: result.ok2xx,
        'events delivered': final.distinct,
        'events/s while publishing': target === 'webhooks on' ? Math.round(atStop.events / publishSec) : null,
        'events/s overall': target === 'webhooks on' && final.lastAt > started ? Math.round(final.distinct / ((final.lastAt - started) / 1000)) : null,
        'drain after load ms': target === 'webhooks on' ? Math.round(drained - stopped) : null,
        'events per request': final.requests > 0 ? Math.round((final.events / final.requests) * 10) / 10 : null,
        redeliveries: final.events - final.distinct,
        'bad signatures (sampled)': final.invalid,
        non2xx: result.non2xx,
      },
      cpu: report,
      ...(target === 'webhooks on' && final.distinct < result.ok2xx ? { error: `${result.ok2xx} publishes but only ${final.distinct} events arrived` } : {}),
    };
  } catch (error) {
    return { target, phase: '-', metrics: {}, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await Promise.all(workers.map((proc) => proc.stop(2_000)));
    await server?.proc.stop();
  }
}

/** Polls the receiver until nothing new arrived for `quietMs`. */
async function waitForQuiet(receiver: Proc, quietMs: number): Promise<ReceiverSnapshot> {
  let last = await receiver.call<ReceiverSnapshot>('snapshot');
  let since = Date.now();
  for (let i = 0; i < 1000; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const next = await receiver.call<ReceiverSnapshot>('snapshot');
    if (next.events !== last.events) since = Date.now();
    else if (Date.now() - since >= quietMs) return next;
    last = next;
  }
  return last;
}

/** Polls the receiver until `expected` distinct events arrived, or the timeout. */
async function waitForDrain(receiver: Proc, expected: number, timeoutMs: number): Promise<ReceiverSnapshot> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const snapshot = await receiver.call<ReceiverSnapshot>('snapshot');
    if (snapshot.distinct >= expected || Date.now() > deadline) return snapshot;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function webhooks(options: Options): Promise<ScenarioResult> {
  const backend = options.string('backend', 'memory');
  const result: ScenarioResult = {
    scenario: 'webhooks',
    startedAt: new Date().toISOString(),
    options: {
      backend,
      connections: options.number('connections', 16),
      durationSec: options.number('duration-sec', 8),
      batch: options.number('batch', 50),
      lanes: options.number('lanes', 4),
      event: 'message_created, one per publish, one endpoint, receiver answers 200 at once',
    },
    rows: [],
    comparisons: {},
    notes: [],
  };
  const redis = backend === 'redis' ? await startRedis() : null;
  try {
    for (const target of ['webhooks off', 'webhooks on'] as const) result.rows.push(await measure(target, options, redis?.url));
  } finally {
    await redis?.proc.stop();
  }
  const phase = `c${options.number('connections', 16)}`;
  result.comparisons['publish req/s: webhooks on ÷ off'] = ratio(metric(result, 'webhooks on', phase, 'publish req/s'), metric(result, 'webhooks off', phase, 'publish req/s'));
  result.comparisons['publish req per server CPU-second: webhooks on ÷ off (contention-robust)'] = ratio(
    metric(result, 'webhooks on', phase, 'publish req/server-CPU-s'),
    metric(result, 'webhooks off', phase, 'publish req/server-CPU-s'),
  );
  return result;
}
