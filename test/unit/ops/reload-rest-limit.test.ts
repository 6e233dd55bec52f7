/**
 * A REST rate limit set by a reload on a node that started with none (every app at 0): the
 * door installs its limit only when some app has one at start, so the reload reports the
 * limit as needing a restart (and keeps it off) rather than answering as if it applied.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { createMemoryBackend } from '../../../src/backends/memory/index.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { Core } from '../../../src/core/core.ts';
import { ConfigReloader } from '../../../src/ops/reload.ts';

function fileWith(limit: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'rc-reload-limit-'));
  const path = join(dir, 'roomcast.json');
  writeFileSync(path, JSON.stringify({ apps: [{ id: 'a1', key: 'k1', secret: 's1', limits: { restRequestsPerWindow: limit } }] }));
  return path;
}

async function reloadFrom(startLimit: number, nextLimit: number) {
  const path = fileWith(startLimit);
  const backend = createMemoryBackend();
  const core = new Core({ config: loadConfig({ path, env: {} }), backend, logger: pino({ level: 'silent' }), nodeId: 'n1' });
  const reloader = new ConfigReloader({ source: { path, env: {} }, core, logger: pino({ level: 'silent' }), tls: () => null });
  writeFileSync(path, JSON.stringify({ apps: [{ id: 'a1', key: 'k1', secret: 's1', limits: { restRequestsPerWindow: nextLimit } }] }));
  const report = await reloader.reload();
  return { report, running: core.config.apps[0]!.limits.restRequestsPerWindow };
}

test('no app limited at start: a limit added by reload needs a restart, and is not in effect meanwhile', async () => {
  const { report, running } = await reloadFrom(0, 10);
  assert.deepEqual(report.restart_required, ['apps.0.limits.restRequestsPerWindow']);
  assert.equal(running, 0);
});

test('an app limited at start: a changed limit applies at once', async () => {
  const { report, running } = await reloadFrom(100, 10);
  assert.deepEqual(report.restart_required, []);
  assert.equal(running, 10);
});
