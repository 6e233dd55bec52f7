/**
 * Every `roomcast` command, run as a subprocess against a started server (memory
 * backend, config from a file so `config reload` can re-read it).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Command } from 'commander';
import { buildApp, type RoomcastApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { buildProgram } from '../../src/cli/program.ts';
import { login } from '../helpers/bots.ts';
import { CliProcess, cliEnv, runCli } from '../helpers/cli.ts';
import { signedCall } from '../helpers/signed-request.ts';

const baseConfig = {
  server: { host: '127.0.0.1', port: 0 },
  log: { level: 'silent' },
  apps: [{ id: 'app-1', key: 'app-key', secret: 'app-secret' }],
  spaces: [{ id: 'acme', app: 'app-1', rooms: [{ id: 'lobby', code: 'LOBBY-CODE' }], bots: [{ id: 'helper-bot', token: 'BOT-TOKEN' }] }],
};

let dir: string;
let configPath: string;
let app: RoomcastApp;
let url: string;
let env: NodeJS.ProcessEnv;

function allCommands(command: Command, prefix = ''): { name: string; command: Command }[] {
  return command.commands.flatMap((child) => {
    const name = `${prefix}${child.name()}`;
    return [{ name, command: child }, ...allCommands(child, `${name} `)];
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rc-cli-'));
  configPath = join(dir, 'roomcast.json');
  writeFileSync(configPath, JSON.stringify(baseConfig));
  app = await buildApp(loadConfig({ path: configPath, env: {} }), { configSource: { path: configPath, env: {} } });
  url = await app.listen();
  env = cliEnv({ ROOMCAST_URL: url, ROOMCAST_CONFIG: configPath });
});

after(async () => {
  await app.close();
});

describe('roomcast CLI', () => {
  test('--help lists every command; every command has a description and help', async () => {
    const result = await runCli(['--help'], env);
    assert.equal(result.code, 0);
    const commands = allCommands(buildProgram());
    for (const top of ['serve', 'config', 'sign', 'api', 'channels', 'channel', 'users', 'history', 'rooms', 'bots', 'stats', 'trigger', 'tail', 'bot', 'codes', 'tokens']) {
      assert.match(result.stdout, new RegExp(`\\n  ${top}\\b`), `--help lists ${top}`);
    }
    for (const { name, command } of commands) {
      if (name === 'help') continue;
      assert.notEqual(command.description(), '', `${name} has a description`);
      assert.match(command.helpInformation(), /--help/, `${name} --help`);
    }
    const nested = await runCli(['codes', 'expire', '--help'], env);
    assert.equal(nested.code, 0);
    assert.match(nested.stdout, /Usage: roomcast codes expire/);
    const unknown = await runCli(['frobnicate'], env);
    assert.equal(unknown.code, 2);
  });

  test('config check: a valid file prints the effective config with secrets masked and its hash', async () => {
    const result = await runCli(['--json', 'config', 'check', configPath, '--no-env'], env);
    assert.equal(result.code, 0, result.stderr);
    const body = result.json as { ok: boolean; config_hash: string; config: { apps: { secret: string }[]; server: { port: number } } };
    assert.equal(body.ok, true);
    assert.equal(body.config.apps[0]!.secret, '***');
    assert.equal(body.config.server.port, 0);
    assert.equal(body.config_hash, app.configHash());
    assert.doesNotMatch(result.stdout, /app-secret|LOBBY-CODE|BOT-TOKEN/);
  });

  test('config check: a bad file lists every problem with its path and the field documentation; exit 1', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...baseConfig, server: { port: 'abc', tls: { cert: 'c' } }, bogus: 1 }));
    const result = await runCli(['config', 'check', bad, '--no-env'], env);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /server\.port must be integer/);
    assert.match(result.stdout, /Port of every door/); // the schema's description of server.port
    assert.match(result.stdout, /env ROOMCAST_SERVER_PORT, PORT/);
    assert.match(result.stdout, /server\.tls\.key is required/);
    assert.match(result.stdout, /Path of the PEM private key/);
    assert.match(result.stdout, /bogus is not a known setting/);
    const json = await runCli(['--json', 'config', 'check', bad, '--no-env'], env);
    assert.equal(json.code, 1);
    const problems = (json.json as { problems: { path: string; field?: { description: string } }[] }).problems;
    assert.deepEqual(problems.map((problem) => problem.path).sort(), ['bogus', 'server.port', 'server.tls.key']);
  });

  test('sign prints a signed URL that the server accepts; DELETE and --curl included', async () => {
    const result = await runCli(['sign', 'GET', 'channels'], env);
    assert.equal(result.code, 0, result.stderr);
    const response = await fetch(result.stdout.trim());
    assert.equal(response.status, 200);
    // A signed DELETE reaches the route (404 for a missing annotation, not 401).
    const del = await runCli(['--json', 'sign', 'DELETE', 'channels/chat/messages/00000000001/annotations/00000000002'], env);
    const signed = del.json as { url: string; curl: string };
    assert.match(signed.curl, /^curl -sS -X DELETE '/);
    const answer = await fetch(signed.url, { method: 'DELETE' });
    assert.notEqual(answer.status, 401, await answer.text());
    const curl = await runCli(['sign', 'POST', 'events', '--body', '{"name":"e","channel":"c","data":"x"}', '--curl'], env);
    assert.match(curl.stdout, /-X POST -H 'content-type: application\/json' --data-binary '\{"name":"e","channel":"c","data":"x"\}' 'http/);
  });

  test('api sends a signed request; exit 1 on an HTTP error, 2 without credentials, 3 when unreachable', async () => {
    const ok = await runCli(['--json', 'api', 'GET', '/apps/app-1/channels'], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(ok.json, { channels: {} });
    const refused = await runCli(['--json', '--secret', 'wrong', 'api', 'GET', 'channels'], env);
    assert.equal(refused.code, 1);
    assert.equal((refused.json as { code: string }).code, 'RC_ERR_AUTH_BAD_SIGNATURE');
    const noCredentials = await runCli(['api', 'GET', 'channels'], cliEnv({ ROOMCAST_URL: url }), { cwd: dir });
    assert.equal(noCredentials.code, 2);
    assert.match(noCredentials.stderr, /missing credentials/);
    const unreachable = await runCli(['--url', 'http://127.0.0.1:9', 'api', 'GET', 'channels'], env);
    assert.equal(unreachable.code, 3);
  });

  test('trigger, tail (public, private, presence), channels, channel, users, history [--follow]', async () => {
    const tail = new CliProcess(['--json', 'tail', 'news', 'private-ops', 'presence-crew'], env);
    try {
      for (const channel of ['news', 'private-ops', 'presence-crew']) {
        await tail.waitForLine((line) => line.includes('"subscribed"') && line.includes(channel), { stream: 'stderr' });
      }
      const trigger = await runCli(['--json', 'trigger', 'news', 'headline', 'hello'], env);
      assert.equal(trigger.code, 0, trigger.stderr);
      const serial = (trigger.json as { message_serials: Record<string, string> }).message_serials.news;
      const line = JSON.parse(await tail.waitForLine((text) => text.includes('headline'))) as { channel: string; event: string; data: string; serial: string };
      assert.deepEqual(line, { channel: 'news', event: 'headline', data: 'hello', serial });
      await runCli(['trigger', 'private-ops', 'alert', '{"level":2}'], env);
      const secret = JSON.parse(await tail.waitForLine((text) => text.includes('alert'))) as { data: unknown };
      assert.deepEqual(secret.data, { level: 2 });

      const channels = await runCli(['--json', 'channels'], env);
      assert.equal(channels.code, 0);
      assert.deepEqual(Object.keys((channels.json as { channels: object }).channels).sort(), ['news', 'presence-crew', 'private-ops']);
      const presence = await runCli(['--json', 'channels', '--prefix', 'presence-'], env);
      assert.equal((presence.json as { channels: Record<string, { user_count: number }> }).channels['presence-crew']!.user_count, 1);
      const channel = await runCli(['--json', 'channel', 'presence-crew'], env);
      assert.equal((channel.json as { occupied: boolean; user_count: number }).user_count, 1);
      const users = await runCli(['--json', 'users', 'presence-crew'], env);
      assert.match((users.json as { users: { id: string }[] }).users[0]!.id, /^roomcast-cli-/);
      const text = await runCli(['users', 'presence-crew'], env);
      assert.match(text.stdout, /^roomcast-cli-/);
    } finally {
      assert.equal(await tail.stop(), 0);
    }

    await runCli(['trigger', 'news', 'headline', 'second'], env);
    const history = await runCli(['history', 'news'], env);
    assert.equal(history.code, 0, history.stderr);
    const lines = history.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /headline hello$/);
    assert.match(lines[1]!, /headline second$/);

    const follow = new CliProcess(['--json', 'history', 'news', '--follow', '--count', '1'], env);
    try {
      await follow.waitForLine((line) => line.includes('"subscribed"'), { stream: 'stderr' });
      await runCli(['trigger', 'news', 'headline', 'third'], env);
      await follow.waitForLine((line) => line.includes('"third"'));
      assert.equal(await follow.exited, 0);
    } finally {
      await follow.stop();
    }
    assert.equal(follow.lines.filter((line) => line.includes('"second"')).length, 1, 'history then live, no repeat');
  });

  test('stats shows the node and its config hash', async () => {
    const result = await runCli(['--json', 'stats'], env);
    assert.equal(result.code, 0, result.stderr);
    const stats = result.json as { node: string; config_hash: string };
    assert.equal(stats.node, app.core.nodeId);
    assert.equal(stats.config_hash, app.configHash());
    const text = await runCli(['stats'], env);
    assert.match(text.stdout, new RegExp(`config ${app.configHash()}`));
  });

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

  test('bot tail ROOM logs in (code and token from the config file) and prints the room stream', async () => {
    const tail = new CliProcess(['--json', 'bot', 'tail', 'acme/lobby', '--count', '1'], env);
    try {
      await tail.waitForLine((line) => line.includes('"subscribed"'), { stream: 'stderr' });
      const published = await signedCall(url, 'POST', '/apps/app-1/events', { body: { name: 'message', channel: 'presence-room-acme-lobby', data: 'hello bot' } });
      assert.equal(published.status, 200);
      const event = JSON.parse(await tail.waitForLine((line) => line.includes('hello bot'))) as { messageType: string; contentData: string; id: string };
      assert.equal(event.messageType, 'Message');
      assert.equal(event.contentData, 'hello bot');
      assert.equal(await tail.exited, 0);
    } finally {
      await tail.stop();
    }
    const refused = await runCli(['bot', 'tail', 'acme/lobby', '--code', 'WRONG-CODE', '--token', 'BOT-TOKEN'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /401 RC_ERR_BOT_ROOM_INVALID/);
  });

  test('config reload applies a changed file; a bad file keeps the running config (exit 1)', async () => {
    const before = app.configHash();
    writeFileSync(configPath, JSON.stringify({ ...baseConfig, spaces: [{ ...baseConfig.spaces[0], bots: [...baseConfig.spaces[0]!.bots, { id: 'new-bot', token: 'NEW-BOT-TOKEN' }] }] }));
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
