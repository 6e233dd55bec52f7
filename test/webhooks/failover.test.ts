/**
 * A node killed mid-run (SIGKILL, three nodes on one Redis) loses no webhook event:
 * - the delivery it was making when it died is taken over by another node once its queue
 *   lock expires (`webhookDelivery.failoverMs`), and arrives;
 * - its subscriptions and presence members, which it never got to remove, are reaped by
 *   a surviving node and announced (`channel_vacated`, `member_removed`) exactly once;
 * - cycles running on the other nodes meanwhile still give one event per transition.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { buildConfig } from '../../src/config/load.ts';
import type { Subscriber } from '../../src/core/types.ts';
import { startApp, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';
import { startReceiver, type Receiver } from './receiver.ts';
import { tsNodeArgs } from '../helpers/ts-node-args.ts';

let redis: TestRedis;
let receiver: Receiver;
let child: ChildProcess | null = null;
const nodes: RunningApp[] = [];
const clients: RawPusherClient[] = [];

function rawConfig(workers: boolean): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port: 0 },
    log: { level: process.env.TEST_LOG_LEVEL ?? 'silent' },
    apps: [{ ...TEST_APP, webhooks: [{ url: `${receiver.url}/failover`, event_types: ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed'] }] }],
    backend: { driver: 'redis', redis: { url: redis.url, keyPrefix } },
    node: { heartbeatIntervalMs: 200, heartbeatTtlMs: 1500 },
    webhookDelivery: { workers, leaveDelayMs: 100, failoverMs: 1000, retryBaseMs: 50, retryMaxMs: 500, maxAttempts: 100, timeoutMs: 60_000 },
  };
}

let keyPrefix = '';

before(async () => {
  redis = await startRedis();
  receiver = await startReceiver({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret });
  keyPrefix = `fo${Math.random().toString(36).slice(2, 8)}:`;
});
after(async () => {
  child?.kill('SIGKILL');
  for (const client of clients) client.close();
  for (const node of nodes) await node.close();
  await receiver.close();
  await redis.stop();
});

async function startChild(): Promise<number> {
  child = spawn(process.execPath, [...tsNodeArgs(), new URL('./node-process.ts', import.meta.url).pathname], {
    env: { ...process.env, RC_NODE_CONFIG: JSON.stringify(rawConfig(true)), RC_NODE_ID: 'node-c' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  for await (const chunk of child.stdout!) {
    output += String(chunk);
    const ready = /ready (\d+)/.exec(output);
    if (ready !== null) return Number(ready[1]);
  }
  throw new Error(`the child node did not start: ${output}`);
}

const subscriber = (id: string): Subscriber => ({ connectionId: id, deliver: () => undefined });

test('a node killed mid-run loses no event: its delivery is taken over, its subscribers and members are reaped and announced once', async (t) => {
  // Two nodes without workers (they record, never deliver) and the child, the only worker.
  nodes.push(await startApp(buildConfig(rawConfig(false)), 'node-a'), await startApp(buildConfig(rawConfig(false)), 'node-b'));
  const childPort = await startChild();

  // The child serves subscribers and presence members, announced while it lives.
  for (let i = 0; i < 6; i++) {
    const client = await RawPusherClient.connect(childPort);
    clients.push(client);
    await client.subscribe(`victim-${i}`);
    if (i < 3) await client.subscribe(`presence-victim-${i}`, { user_id: `vu-${i}` });
  }
  await receiver.waitFor(() => receiver.countOf('channel_occupied') === 9 && receiver.countOf('member_added') === 3, 'the child\'s subscriptions announced');

  // Cycles on the surviving nodes run through the kill.
  const CYCLES = 30;
  let cycles = 0;
  let cyclesAtKill = -1;
  const runner = (async () => {
    for (let k = 0; k < CYCLES; k++) {
      const channel = `survivor-${k % 5}`;
      const s = subscriber(`s-${k}`);
      await nodes[k % 2]!.app.core.subscribe(TEST_APP.id, channel, s);
      await nodes[(k + 1) % 2]!.app.core.unsubscribe(TEST_APP.id, channel, s).catch(() => undefined);
      await nodes[k % 2]!.app.core.unsubscribe(TEST_APP.id, channel, s);
      cycles++;
      // The next cycle of a channel starts once its vacancy is announced (after the delay).
      await receiver.waitFor(() => receiver.countOf('channel_vacated', channel) >= Math.floor(k / 5) + 1, `vacated ${channel}`, 120_000);
    }
  })();

  // The child is delivering (the receiver holds its request open) when it dies.
  receiver.answer = 'hang';
  await nodes[0]!.app.core.subscribe(TEST_APP.id, 'in-flight', subscriber('in-flight-1'));
  await receiver.waitFor(() => receiver.requests.some((r) => r.status === 0 && r.events.some((e) => e.channel === 'in-flight')), 'the child sending in-flight');
  child!.kill('SIGKILL');
  cyclesAtKill = cycles;
  await once(child!, 'exit');
  receiver.answer = 200;
  const killedAt = Date.now();

  // A survivor with workers: it takes over the dead node's delivery and reaps it.
  nodes.push(await startApp(buildConfig(rawConfig(true)), 'node-d'));
  await receiver.waitFor(() => receiver.countOf('channel_occupied', 'in-flight') === 1, 'the in-flight event, delivered by another node', 60_000);
  const victimsVacated = (): number => receiver.unique().filter((e) => e.name === 'channel_vacated' && String(e.channel).includes('victim-')).length;
  await receiver.waitFor(() => victimsVacated() === 9, 'the dead node\'s channels vacated', 60_000);
  await receiver.waitFor(() => receiver.countOf('member_removed') === 3, 'the dead node\'s members removed', 60_000);
  t.diagnostic(`kill → all recovered in ${Date.now() - killedAt} ms`);
  await runner;
  await new Promise((resolve) => setTimeout(resolve, 1000));

  const events = receiver.unique();
  for (let i = 0; i < 6; i++) {
    assert.deepEqual(events.filter((e) => e.channel === `victim-${i}`).map((e) => e.name), ['channel_occupied', 'channel_vacated'], `victim-${i}`);
  }
  for (let i = 0; i < 3; i++) {
    const names = events.filter((e) => e.channel === `presence-victim-${i}`).map((e) => e.name);
    assert.deepEqual([...names].sort(), ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed'], `presence-victim-${i}: each once`);
    assert.ok(names.indexOf('member_added') < names.indexOf('member_removed') && names.indexOf('channel_occupied') < names.indexOf('channel_vacated'), `presence-victim-${i} in order: ${names.join(',')}`);
  }
  for (let c = 0; c < 5; c++) {
    const names = events.filter((e) => e.channel === `survivor-${c}`).map((e) => e.name);
    const expected = Array.from({ length: names.length / 2 }, () => ['channel_occupied', 'channel_vacated']).flat();
    assert.deepEqual(names, expected, `survivor-${c}: ${names.join(',')}`);
  }
  assert.ok(cyclesAtKill > 0 && cyclesAtKill < CYCLES, `cycles ran through the kill (${cyclesAtKill} of ${CYCLES} before it)`);
  t.diagnostic(`${cycles} cycles on the survivors, ${events.length} events, ${receiver.delivered().length - events.length} redeliveries`);

});
