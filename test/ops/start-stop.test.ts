/** `npm start`'s entry answers /up within 5 s on the memory backend and stops cleanly on SIGTERM. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { freePort } from '../helpers/redis-server.ts';

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
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', REDIS_URL: '', ROOMCAST_CONFIG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const started = Date.now();
    const up = await waitForUp(`http://127.0.0.1:${port}/up`, 5000);
    assert.equal(up.status, 200);
    assert.ok(Date.now() - started < 5000, 'answered within 5 s');
    assert.match(up.headers.get('x-request-id') ?? '', /.+/);
    // 503 RC_ERR_NODE_WARMING until the node's first calm second, then 200.
    let ready = await fetch(`http://127.0.0.1:${port}/ready`);
    for (const deadline = Date.now() + 12_000; ready.status === 503 && Date.now() < deadline; ) {
      assert.equal(((await ready.json()) as { code: string }).code, 'RC_ERR_NODE_WARMING');
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await fetch(`http://127.0.0.1:${port}/ready`);
    }
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { backend: string }).backend, 'memory');
  } finally {
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, stderr);
  }
});
