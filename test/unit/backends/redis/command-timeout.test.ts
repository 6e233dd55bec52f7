/**
 * The per-command timeout (backends/redis/command-timeout.ts) on commands a client sends
 * more than once. A Redis Cluster pipeline whose replies were all MOVED/ASK/TRYAGAIN hands
 * the same `Command` objects on again after `initPromise()` gave each a new promise: the
 * resent command must time out like a new one, and a command redirected while unsettled
 * keeps its first deadline.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command, type Redis } from 'ioredis';
import { applyCommandTimeout } from '../../../../src/backends/redis/command-timeout.ts';

/** A client that never answers: only `sendCommand`, which the timeout wraps. */
function silentClient(): { client: Redis; sent: Command[] } {
  const sent: Command[] = [];
  const client = { sendCommand: (command: Command) => void sent.push(command) } as unknown as Redis;
  return { client: applyCommandTimeout(client, 30), sent };
}

test('a command answered, then given a new promise and sent again (a cluster pipeline retry), times out when unanswered', async () => {
  const { client, sent } = silentClient();
  const command = new Command('get', ['k']);
  client.sendCommand(command);
  command.reject(new Error('MOVED 1 127.0.0.1:1'));
  await assert.rejects(command.promise, /MOVED/);
  (command as unknown as { initPromise(): void }).initPromise();
  client.sendCommand(command);
  assert.equal(sent.length, 2);
  await assert.rejects(command.promise, /Command timed out/);
});

test("a command answered and sent again with a new promise before the answer's reactions ran times out when unanswered", async () => {
  const { client } = silentClient();
  const command = new Command('get', ['k']);
  client.sendCommand(command);
  const first = command.promise;
  // A read answered, then resent in the same tick (the pipeline's last reply triggers the retry).
  command.resolve('v');
  (command as unknown as { initPromise(): void }).initPromise();
  client.sendCommand(command);
  assert.equal(await first, 'v');
  await assert.rejects(command.promise, /Command timed out/);
});

test('a command sent again while unsettled (a single command redirected) keeps its first deadline', async () => {
  const { client } = silentClient();
  const command = new Command('get', ['k']);
  const started = Date.now();
  client.sendCommand(command);
  await new Promise((resolve) => setTimeout(resolve, 20));
  client.sendCommand(command);
  await assert.rejects(command.promise, /Command timed out/);
  // One deadline (30 ms from the first send), not a second one from the resend (≥ 50 ms).
  assert.ok(Date.now() - started < 45, `timed out after ${Date.now() - started} ms`);
});

test('an answered command does not time out', async () => {
  const { client } = silentClient();
  const command = new Command('get', ['k']);
  client.sendCommand(command);
  command.resolve('v');
  assert.equal(await command.promise, 'v');
  await new Promise((resolve) => setTimeout(resolve, 60));
});
