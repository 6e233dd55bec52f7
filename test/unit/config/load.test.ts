import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildConfig, loadConfig } from '../../../src/config/load.ts';
import { isRoomcastError } from '../../../src/errors.ts';
import { tsNodeArgs } from '../../helpers/ts-node-args.ts';

const app = { id: 'a', key: 'k', secret: 's' };

function problem(raw: unknown, env: NodeJS.ProcessEnv = {}): string {
  try {
    buildConfig(raw, env);
  } catch (error) {
    assert.ok(isRoomcastError(error));
    return error.message;
  }
  assert.fail('expected the config to be rejected');
}

describe('config', () => {
  test('defaults are filled and the result is frozen', () => {
    const config = buildConfig({ apps: [app] });
    assert.equal(config.server.port, 6001);
    assert.equal(config.backend.driver, 'memory');
    assert.equal(config.apps[0]!.limits.maxEventDataBytes, 10240);
    assert.equal(config.apps[0]!.enabled, true);
    assert.ok(Object.isFrozen(config.apps[0]!.limits));
  });

  test('env overrides PORT, HOST, LOG_LEVEL and REDIS_URL', () => {
    const config = buildConfig({ apps: [app] }, { PORT: '7000', HOST: '127.0.0.1', LOG_LEVEL: 'warn', REDIS_URL: 'redis://localhost:6380' });
    assert.equal(config.server.port, 7000);
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.log.level, 'warn');
    assert.equal(config.backend.driver, 'redis');
    assert.equal(config.backend.redis?.url, 'redis://localhost:6380');
  });

  test('errors name the field', () => {
    assert.match(problem({ apps: [app], server: { port: 'abc' } }), /server\.port/);
    assert.match(problem({ apps: [app], backend: { driver: 'postgres' } }), /backend\.driver.*memory/);
    assert.match(problem({ apps: [{ id: 'a', key: 'k' }] }), /apps\.0\.secret is required/);
    assert.match(problem({ apps: [app], bogus: 1 }), /bogus is not a known setting/);
    assert.match(problem({ apps: [app], spaces: [{ id: 's', app: 'nope' }] }), /spaces\.0\.app/);
    assert.match(problem({ apps: [app, { ...app, id: 'b' }] }), /apps\.1\.key/);
    assert.match(problem({ apps: [app] }, { PORT: 'x' }), /server\.port/);
  });

  test('room codes and bot tokens are all different, room and bot ids unique in their space', () => {
    const space = (rooms: unknown[], bots: unknown[], id = 's'): unknown => ({ id, app: 'a', rooms, bots });
    const room = (id: string, code: string): unknown => ({ id, code });
    const bot = (id: string, token: string): unknown => ({ id, token });
    assert.doesNotThrow(() => buildConfig({ apps: [app], spaces: [space([room('r', 'C1')], [bot('b', 'T1')])] }));
    assert.match(problem({ apps: [app], spaces: [space([room('r', 'SAME')], [bot('b', 'SAME')])] }), /spaces\.0\.bots\.0\.token is the same value as spaces\.0\.rooms\.0\.code/);
    assert.match(problem({ apps: [app], spaces: [space([room('r', 'C')], []), space([room('r', 'C')], [], 't')] }), /spaces\.1\.rooms\.0\.code/);
    assert.match(problem({ apps: [app], spaces: [space([], [bot('b', 'T'), bot('c', 'T')])] }), /spaces\.0\.bots\.1\.token/);
    assert.match(problem({ apps: [app], spaces: [space([room('r', 'C1'), room('r', 'C2')], [])] }), /spaces\.0\.rooms\.1\.id duplicates room id "r"/);
    assert.match(problem({ apps: [app], spaces: [space([], [bot('b', 'T1'), bot('b', 'T2')])] }), /spaces\.0\.bots\.1\.id duplicates bot id "b"/);
    assert.doesNotMatch(problem({ apps: [app], spaces: [space([room('r', 'SECRET-X')], [bot('b', 'SECRET-X')])] }), /SECRET-X/, 'the secret itself is never printed');
  });

  test('a file that is not JSON is named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rc-config-'));
    const path = join(dir, 'bad.json');
    writeFileSync(path, '{ nope');
    assert.throws(() => loadConfig({ path, env: {} }), /bad\.json is not valid JSON/);
    assert.throws(() => loadConfig({ path: join(dir, 'missing.json'), env: {} }), /cannot be read/);
  });

  for (const [label, raw, field] of [
    ['wrong type', { apps: [app], server: { port: 'abc' } }, 'server.port'],
    ['unknown driver', { apps: [app], backend: { driver: 'mongo' } }, 'backend.driver'],
    ['app without secret', { apps: [{ id: 'a', key: 'k' }] }, 'apps.0.secret'],
  ] as const) {
    test(`npm start with a broken config (${label}) exits 1 with one line naming ${field}`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'rc-config-'));
      const path = join(dir, 'config.json');
      writeFileSync(path, JSON.stringify(raw));
      const result = spawnSync(process.execPath, [...tsNodeArgs(), 'src/main.ts'], {
        env: { ...process.env, ROOMCAST_CONFIG: path, PORT: '', REDIS_URL: '' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(result.status, 1);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, new RegExp(`RC_ERR_CONFIG_INVALID: config ${field.replace(/\./g, '\\.')}`));
    });
  }
});

test('redis: one of url, cluster or sentinels; not cluster with sentinels; WAIT within the command timeout', () => {
  const problems = (redis: Record<string, unknown>): string[] => {
    try {
      buildConfig({ apps: [{ id: '1', key: 'k', secret: 's' }], backend: { driver: 'redis', redis } });
      return [];
    } catch (error) {
      return [(error as Error).message];
    }
  };
  assert.deepEqual(problems({ cluster: { nodes: ['127.0.0.1:7000'] } }), []);
  assert.deepEqual(problems({ sentinels: ['127.0.0.1:26379'], masterName: 'm' }), []);
  assert.match(problems({ keyPrefix: 'x:' })[0] ?? '', /backend\.redis\.url/);
  assert.match(problems({ cluster: { nodes: ['127.0.0.1:7000'] }, sentinels: ['127.0.0.1:26379'] })[0] ?? '', /backend\.redis\.sentinels/);
  assert.match(problems({ url: 'redis://127.0.0.1:6379', waitReplicas: 1, waitTimeoutMs: 5000 })[0] ?? '', /backend\.redis\.waitTimeoutMs/);
  assert.deepEqual(problems({ url: 'redis://127.0.0.1:6379', waitReplicas: 1, waitTimeoutMs: 500 }), []);
});
