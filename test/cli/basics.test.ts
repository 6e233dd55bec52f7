/**
 * `roomcast` commands (basics; the rest are in this folder), each run as a subprocess against a started server (memory
 * backend, config from a file so `config reload` can re-read it).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Command } from 'commander';
import type { RoomcastApp } from '../../src/app.ts';
import { buildProgram } from '../../src/cli/program.ts';
import { cliEnv, runCli } from '../helpers/cli.ts';
import { CLI_BASE_CONFIG, startCliServer } from '../helpers/cli-server.ts';

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
  ({ dir, configPath, app, url, env } = await startCliServer());
});

after(async () => {
  await app.close();
});

describe('roomcast CLI: basics', () => {
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
  test('config check: every secret-like field is masked (console credentials, webhook credentials and headers, Redis password, cookie secret)', async () => {
    const secrets = {
      passwordHash: 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
      token: 'console-token-0123456789abcdef0123',
      webhookPassword: 'hook-password-77',
      webhookQueryToken: 'hook-query-token-88',
      headerToken: 'Bearer header-token-99',
      redisPassword: 'redis-password-66',
      cookieSecret: 'cookie-secret-0123456789',
    };
    const file = join(dir, 'secrets.json');
    writeFileSync(
      file,
      JSON.stringify({
        ...CLI_BASE_CONFIG,
        apps: [
          {
            ...CLI_BASE_CONFIG.apps[0],
            webhooks: [{ url: `https://hooks:${secrets.webhookPassword}@example.test/in?token=${secrets.webhookQueryToken}`, event_types: ['channel_occupied'], headers: { Authorization: secrets.headerToken } }],
          },
        ],
        backend: { driver: 'redis', redis: { url: `redis://user1:${secrets.redisPassword}@127.0.0.1:1` } },
        bots: { cookieSecret: secrets.cookieSecret },
        console: { users: [{ name: 'ops', role: 'admin', passwordHash: secrets.passwordHash }, { name: 'robot', role: 'readonly', token: secrets.token }] },
      }),
    );
    for (const json of [false, true]) {
      const result = await runCli([...(json ? ['--json'] : []), 'config', 'check', file, '--no-env'], env);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /"passwordHash": ?"\*\*\*"/);
      for (const [name, value] of Object.entries(secrets)) assert.ok(!result.stdout.includes(value), `${name} is shown: ${result.stdout}`);
      assert.doesNotMatch(result.stdout, /app-secret|LOBBY-CODE|BOT-TOKEN/);
      // What is not secret stays readable.
      assert.match(result.stdout, /example\.test\/in/);
      assert.match(result.stdout, /"name": ?"ops"/);
      assert.match(result.stdout, /redis:\/\/user1:\*\*\*@127\.0\.0\.1:1/);
    }
  });
  test('config check: a bad file lists every problem with its path and the field documentation; exit 1', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...CLI_BASE_CONFIG, server: { port: 'abc', tls: { cert: 'c' } }, bogus: 1 }));
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
  test('usage: a bad option value names that option; a command group without its subcommand is exit 2; help is exit 0', async () => {
    const limit = await runCli(['history', 'news', '--limit', 'abc'], env);
    assert.equal(limit.code, 2);
    assert.match(limit.stderr, /--limit must be a positive integer/);
    const count = await runCli(['tail', 'news', '--count', '0'], env);
    assert.equal(count.code, 2);
    assert.match(count.stderr, /--count must be a positive integer/);
    for (const group of [['config'], ['codes'], ['tokens'], ['bot'], []]) {
      const bare = await runCli(group, env);
      assert.equal(bare.code, 2, `roomcast ${group.join(' ')} without a subcommand`);
      assert.match(bare.stderr, /Usage: roomcast/);
    }
    for (const help of [['config', '--help'], ['codes', '--help'], ['help'], ['help', 'config'], ['config', 'help']]) {
      const shown = await runCli(help, env);
      assert.equal(shown.code, 0, `roomcast ${help.join(' ')}`);
      assert.match(shown.stdout, /Usage: roomcast/);
    }
  });
  test('--json: an error found by the CLI itself (exit 1) is a JSON body on stdout too', async () => {
    const room = await runCli(['--json', 'codes', 'expire', 'nosuch'], env);
    assert.equal(room.code, 1);
    assert.deepEqual(room.json, { code: 'RC_ERR_ROOM_NOT_FOUND', error: 'Not Found', message: 'no room "nosuch" in app app-1' });
    assert.match(room.stderr, /no room "nosuch" in app app-1/);
    const space = await runCli(['--json', 'rooms', '--space', 'nospace'], env);
    assert.equal(space.code, 1);
    assert.equal((space.json as { code: string }).code, 'RC_ERR_SPACE_NOT_FOUND');
    const signal = await runCli(['--json', 'config', 'reload', '--pid', '999999999'], env);
    assert.equal(signal.code, 1);
    assert.match((signal.json as { message: string }).message, /cannot signal process 999999999/);
    // config check prints one JSON document, not its problems and an error body.
    const bad = join(dir, 'bad-once.json');
    writeFileSync(bad, '{"server": {"port": "abc"}}');
    const check = await runCli(['--json', 'config', 'check', bad, '--no-env'], env);
    assert.equal(check.code, 1);
    assert.equal((check.json as { ok: boolean }).ok, false);
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
});
