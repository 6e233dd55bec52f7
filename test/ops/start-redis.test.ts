/**
 * `REDIS_URL=… npm start` runs on Redis: the process starts even while Redis is down
 * (it logs a warning and /ready answers 503), /ready reports redis once Redis is up,
 * and the Redis password never reaches the logs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { freePort, startRedis } from '../helpers/redis-server.ts';
import { tsNodeArgs } from '../helpers/ts-node-args.ts';

const PASSWORD = 'never-log-me-7f3a';

async function get(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2500) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function until<T>(deadlineMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) assert.fail(`condition not met within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('REDIS_URL npm start: starts while Redis is down, /ready turns to 200 redis when it is up, no password in logs', async () => {
  const redis = await startRedis();
  await redis.kill(); // keep its port, start the server against a Redis that is down
  const port = await freePort();
  const child = spawn(process.execPath, [...tsNodeArgs(), 'src/main.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ROOMCAST_CONFIG: '',
      REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${redis.port}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const base = `http://127.0.0.1:${port}`;
  try {
    // A start compiles the sources (tsx): on a loaded machine that alone can take 10 s.
    const up = await until(30_000, async () => ((await get(`${base}/up`)).status === 200 ? true : undefined));
    assert.equal(up, true);
    const down = await get(`${base}/ready`);
    assert.equal(down.status, 503);
    assert.equal(down.body.code, 'RC_ERR_BACKEND_UNAVAILABLE');
    assert.equal(down.body.backend, 'redis');
    assert.match(output, /redis is not reachable at start-up/);

    await redis.restart();
    const ready = await until(10_000, async () => {
      const reply = await get(`${base}/ready`);
      return reply.status === 200 ? reply : undefined;
    });
    assert.equal(ready.body.backend, 'redis');
    assert.equal(child.exitCode, null, 'the process is still running');
  } finally {
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    await redis.stop();
    assert.equal(code, 0, output);
    assert.ok(!output.includes(PASSWORD), 'the Redis password appears in the output');
    assert.match(output, /\*\*\*@127\.0\.0\.1/, 'the redacted URL is logged');
  }
});
