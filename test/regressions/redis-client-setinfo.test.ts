/**
 * Connecting is no command error: a node on Redis 7.0 (which has no `CLIENT SETINFO`)
 * counts no `roomcast_redis_command_errors_total` at start nor after its connections are
 * cut and made again, and no connection of the node (commands, subscriber, outbox, push
 * hashes, job queues and their workers) sends Redis a command it refuses.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { nodeOnOwnRedis } from '../helpers/app.ts';

const own = nodeOnOwnRedis();

function redisCli(...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(own.redis.port), ...args], { encoding: 'utf8', timeout: 5000 });
}

/** Error replies Redis sent, from its own `INFO errorstats` (every connection counted). */
function redisErrorReplies(): string {
  return redisCli('INFO', 'errorstats')
    .split('\n')
    .filter((line) => line.startsWith('errorstat_'))
    .join(' ');
}

async function metricErrors(): Promise<number> {
  const text = await (await fetch(`${own.node.url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith('roomcast_redis_command_errors_total{')) total += Number(line.split(' ').pop());
  return total;
}

async function settle(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

test('Redis 7.0: no command error at connect, nor after every connection is cut and made again', async () => {
  assert.match(redisCli('INFO', 'server'), /redis_version:7\.0\./, 'this regression needs a Redis 7.0 server (no CLIENT SETINFO)');
  await settle(1500);
  assert.equal(redisErrorReplies(), '', 'Redis refused no command of the node at start');
  assert.equal(await metricErrors(), 0, 'no command error counted at start');
  const before = Number(/connected_clients:(\d+)/.exec(redisCli('INFO', 'clients'))![1]);
  assert.ok(before >= 4, `the node holds its connections (${before})`);
  redisCli('CLIENT', 'KILL', 'TYPE', 'normal');
  redisCli('CLIENT', 'KILL', 'TYPE', 'pubsub');
  // Bounded: the node reconnects every connection within a few seconds.
  const deadline = Date.now() + 10_000;
  while (Number(/connected_clients:(\d+)/.exec(redisCli('INFO', 'clients'))![1]) < before + 1 && Date.now() < deadline) await settle(100);
  await settle(1500);
  assert.equal(redisErrorReplies(), '', 'Redis refused no command of the node after the reconnects');
  // Commands in flight when the connections were cut are connection errors, never replies.
  const text = await (await fetch(`${own.node.url}/metrics`)).text();
  assert.doesNotMatch(text, /roomcast_redis_command_errors_total\{kind="reply"\} [1-9]/, 'no reply error counted after the reconnects');
});
