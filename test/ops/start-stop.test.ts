/** `npm start`'s entry answers /up and /ready on the memory backend and stops cleanly (exit 0) on SIGTERM. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { freePort } from '../helpers/redis-server.ts';
import { tsNodeArgs } from '../helpers/ts-node-args.ts';

async function waitForUp(url: string, deadlineMs: number): Promise<Response> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await fetch(url);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

test('the server starts on memory, answers /up and /ready, and exits 0 on SIGTERM', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, [...tsNodeArgs(), 'src/main.ts'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', REDIS_URL: '', ROOMCAST_CONFIG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  let output = '';
  const collect = (chunk: Buffer): void => void (output += chunk.toString());
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let passed = false;
  try {
    // Start-up time is measured by scripts/cold-start.mjs on a quiet machine; here the bound only stops a hang.
    const up = await waitForUp(`http://127.0.0.1:${port}/up`, 60_000);
    assert.equal(up.status, 200);
    assert.match(up.headers.get('x-request-id') ?? '', /.+/);
    // 503 RC_ERR_NODE_WARMING until the node's first calm second, then 200.
    let ready = await fetch(`http://127.0.0.1:${port}/ready`);
    for (const deadline = Date.now() + 30_000; ready.status === 503 && Date.now() < deadline; ) {
      assert.equal(((await ready.json()) as { code: string }).code, 'RC_ERR_NODE_WARMING');
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await fetch(`http://127.0.0.1:${port}/ready`);
    }
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { backend: string }).backend, 'memory');
    passed = true;
  } finally {
    // A failure above is the one reported: the process is then only stopped.
    child.kill(passed ? 'SIGTERM' : 'SIGKILL');
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    if (passed) assert.deepEqual({ code, signal }, { code: 0, signal: null }, output.split('\n').slice(-20).join('\n'));
  }
});
