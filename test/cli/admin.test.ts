/**
 * `roomcast` commands (admin; the rest are in this folder), each run as a subprocess against a started server (memory
 * backend, config from a file so `config reload` can re-read it).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { RoomcastApp } from '../../src/app.ts';
import { login } from '../helpers/bots.ts';
import { CliProcess, cliEnv, runCli } from '../helpers/cli.ts';
import { CLI_BASE_CONFIG, startCliServer } from '../helpers/cli-server.ts';

let dir: string;
let configPath: string;
let app: RoomcastApp;
let url: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  ({ dir, configPath, app, url, env } = await startCliServer());
});

after(async () => {
  await app.close();
});

describe('roomcast CLI: admin', () => {
  test('rooms, bots ROOM, codes list/issue/expire, tokens list/issue/expire', async () => {
    const rooms = await runCli(['rooms'], env);
    assert.equal(rooms.code, 0, rooms.stderr);
    assert.match(rooms.stdout, /^acme\/lobby\tpresence-room-acme-lobby\t/m);
    const bots = await runCli(['--json', 'bots', 'lobby'], env);
    assert.deepEqual((bots.json as { bots: { id: string }[] }).bots.map((bot) => bot.id), ['helper-bot']);

    const issued = await runCli(['--json', 'codes', 'issue', 'acme', 'kitchen'], env);
    assert.equal(issued.code, 0, issued.stderr);
    const kitchenCode = (issued.json as { code: string }).code;
    const listed = await runCli(['codes', 'list', '--space', 'acme'], env);
    assert.match(listed.stdout, /acme\/kitchen\tpresence-room-acme-kitchen\tcode issued 20/);
    assert.equal((await login(url, { room: kitchenCode, token: 'BOT-TOKEN' })).status, 200);
    const expired = await runCli(['--json', 'codes', 'expire', 'acme/kitchen'], env);
    assert.equal(expired.code, 0, expired.stderr);
    const newCode = (expired.json as { code: string }).code;
    assert.notEqual(newCode, kitchenCode);
    assert.equal((await login(url, { room: kitchenCode, token: 'BOT-TOKEN' })).status, 401);
    assert.equal((await login(url, { room: newCode, token: 'BOT-TOKEN' })).status, 200);

    const bot = await runCli(['--json', 'tokens', 'issue', 'acme', 'cook', '--display-name', 'Cook'], env);
    assert.equal(bot.code, 0, bot.stderr);
    const cookToken = (bot.json as { token: string }).token;
    const tokens = await runCli(['--json', 'tokens', 'list'], env);
    assert.deepEqual((tokens.json as { spaces: { bots: { id: string }[] }[] }).spaces[0]!.bots.map((entry) => entry.id), ['cook', 'helper-bot']);
    const rotated = await runCli(['--json', 'tokens', 'expire', 'acme/cook'], env);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.equal((await login(url, { room: 'LOBBY-CODE', token: cookToken })).status, 401);
    assert.equal((await login(url, { room: 'LOBBY-CODE', token: (rotated.json as { token: string }).token })).status, 200);
    const missing = await runCli(['codes', 'expire', 'acme/nowhere'], env);
    assert.equal(missing.code, 1);
  });
  test('config reload: flags win over the config file it also reads; a file that does not load is reported by the server (exit 1)', async () => {
    const good = readFileSync(configPath, 'utf8');
    const broken = { ...CLI_BASE_CONFIG, apps: [...CLI_BASE_CONFIG.apps, { id: 'app-2', key: 'key-2', secret: 5 }] };
    writeFileSync(configPath, JSON.stringify(broken));
    try {
      const fileOnly = cliEnv({ ROOMCAST_CONFIG: configPath });
      const flags = ['--url', url, '--app', 'app-1', '--key', 'app-key', '--secret', 'app-secret'];
      const refused = await runCli(['--json', ...flags, 'config', 'reload'], fileOnly);
      assert.equal(refused.code, 1, refused.stderr);
      const body = refused.json as { code: string; problems: { path: string; problem: string }[] };
      assert.equal(body.code, 'RC_ERR_CONFIG_RELOAD_FAILED');
      assert.deepEqual(body.problems, [{ path: 'apps.1.secret', problem: 'must be string' }]);
      const text = await runCli([...flags, 'config', 'reload'], fileOnly);
      assert.equal(text.code, 1);
      assert.match(text.stderr, /RC_ERR_CONFIG_RELOAD_FAILED.*apps\.1\.secret must be string/);

      // A value only the file could give is a usage error naming the value and the file's problem.
      const noSecret = await runCli(['--url', url, '--app', 'app-1', '--key', 'app-key', 'config', 'reload'], fileOnly);
      assert.equal(noSecret.code, 2);
      assert.match(noSecret.stderr, /--secret \(ROOMCAST_APP_SECRET\)/);
      assert.match(noSecret.stderr, /apps\.1\.secret must be string/);
      assert.doesNotMatch(noSecret.stderr, /--key/);
      const noUrl = await runCli(['--app', 'app-1', '--key', 'app-key', '--secret', 'app-secret', 'config', 'reload'], fileOnly);
      assert.equal(noUrl.code, 2);
      assert.match(noUrl.stderr, /--url \(ROOMCAST_URL\)/);
      assert.match(noUrl.stderr, /apps\.1\.secret must be string/);
      // bot tail: the code and token from flags, the URL from the environment; the file is not needed.
      const bot = new CliProcess(['bot', 'tail', 'acme/lobby', '--code', 'LOBBY-CODE', '--token', 'BOT-TOKEN'], cliEnv({ ROOMCAST_URL: url, ROOMCAST_CONFIG: configPath }));
      try {
        await bot.waitForLine((line) => line.includes('subscribed'), { stream: 'stderr' });
      } finally {
        await bot.stop();
      }
      const noCode = await runCli(['bot', 'tail', 'acme/lobby', '--token', 'BOT-TOKEN'], cliEnv({ ROOMCAST_URL: url, ROOMCAST_CONFIG: configPath }));
      assert.equal(noCode.code, 2);
      assert.match(noCode.stderr, /room code \(--code, ROOMCAST_ROOM_CODE\)/);
      assert.match(noCode.stderr, /apps\.1\.secret must be string/);
    } finally {
      writeFileSync(configPath, good);
    }
  });
  test('config reload applies a changed file; a bad file keeps the running config (exit 1)', async () => {
    const before = app.configHash();
    writeFileSync(configPath, JSON.stringify({ ...CLI_BASE_CONFIG, spaces: [{ ...CLI_BASE_CONFIG.spaces[0], bots: [...CLI_BASE_CONFIG.spaces[0]!.bots, { id: 'new-bot', token: 'NEW-BOT-TOKEN' }] }] }));
    assert.equal((await login(url, { room: 'LOBBY-CODE', token: 'NEW-BOT-TOKEN' })).status, 401);
    const reloaded = await runCli(['--json', 'config', 'reload'], env);
    assert.equal(reloaded.code, 0, reloaded.stderr);
    const report = reloaded.json as { config_hash: string; previous_hash: string; changed: string[]; restart_required: string[] };
    assert.equal(report.previous_hash, before);
    assert.notEqual(report.config_hash, before);
    assert.deepEqual(report.changed, ['spaces']);
    assert.deepEqual(report.restart_required, []);
    assert.equal(app.configHash(), report.config_hash);
    assert.equal((await login(url, { room: 'LOBBY-CODE', token: 'NEW-BOT-TOKEN' })).status, 200);

    writeFileSync(configPath, '{"apps": [ {"id": "app-1"} ]}');
    // The CLI itself refuses to take credentials from a file that does not validate (usage, exit 2)…
    assert.equal((await runCli(['config', 'reload'], env)).code, 2);
    // …so they come from the environment here, and the server refuses the file.
    const credentials = { ROOMCAST_APP_ID: 'app-1', ROOMCAST_APP_KEY: 'app-key', ROOMCAST_APP_SECRET: 'app-secret' };
    const refused = await runCli(['--json', 'config', 'reload'], cliEnv({ ROOMCAST_URL: url, ...credentials }), { cwd: dir });
    assert.equal(refused.code, 1);
    assert.equal((refused.json as { code: string }).code, 'RC_ERR_CONFIG_RELOAD_FAILED');
    assert.match(refused.stderr, /apps\.0\.key is required/);
    assert.equal(app.configHash(), report.config_hash);
    assert.equal((await login(url, { room: 'LOBBY-CODE', token: 'NEW-BOT-TOKEN' })).status, 200);
    const stats = await runCli(['--json', 'stats'], cliEnv({ ROOMCAST_URL: url }), { cwd: dir });
    assert.equal((stats.json as { config_hash: string }).config_hash, report.config_hash);
  });
});
