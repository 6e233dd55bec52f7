/**
 * `roomcast` commands (live; the rest are in this folder), each run as a subprocess against a started server (memory
 * backend, config from a file so `config reload` can re-read it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RoomcastApp } from '../../src/app.ts';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliProcess, cliEnv, runCli } from '../helpers/cli.ts';
import { CLI_BASE_CONFIG, startCliServer } from '../helpers/cli-server.ts';
import { signedCall } from '../helpers/signed-request.ts';

let app: RoomcastApp;
let url: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  ({ app, url, env } = await startCliServer());
});

after(async () => {
  await app.close();
});

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('roomcast CLI: live', () => {
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
    const shapes = follow.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(shapes.map((line) => [line.channel, line.event, line.data]), [['news', 'headline', 'hello'], ['news', 'headline', 'second'], ['news', 'headline', 'third']]);
    for (const line of shapes) assert.match(String(line.serial), /\S/, 'every line, stored or live, carries its serial');
  });
  test('history --follow --json: stored and live lines give data alike (JSON text parsed, as tail prints it)', async () => {
    await runCli(['trigger', 'shapes', 'tick', '{"n":1}'], env);
    await runCli(['trigger', 'shapes', 'tick', 'plain text'], env);
    const follow = new CliProcess(['--json', 'history', 'shapes', '--follow', '--count', '2'], env);
    try {
      await follow.waitForLine((line) => line.includes('"subscribed"'), { stream: 'stderr' });
      await runCli(['trigger', 'shapes', 'tick', '{"n":2}'], env);
      await runCli(['trigger', 'shapes', 'tick', 'more text'], env);
      assert.equal(await follow.exited, 0);
    } finally {
      await follow.stop();
    }
    const lines = follow.lines.map((line) => JSON.parse(line) as { data: unknown; action?: string });
    assert.deepEqual(lines.map((line) => line.data), [{ n: 1 }, 'plain text', { n: 2 }, 'more text']);
    assert.deepEqual(lines.map((line) => line.action), ['message.create', 'message.create', undefined, undefined], 'two stored lines, then two live ones');
  });
  test('tail: a refused subscription is an error, not an event: stderr, the JSON error body with --json, exit 1', async () => {
    const counted = await runCli(['--json', '--secret', 'wrong', 'tail', 'private-x', '--count', '1'], env, { timeoutMs: 20_000 });
    assert.equal(counted.code, 1, counted.stderr);
    assert.doesNotMatch(counted.stdout, /"event":"pusher:subscription_error"/);
    const body = counted.json as { channel: string; rc_code: string; status: number };
    assert.equal(body.channel, 'private-x');
    assert.equal(body.rc_code, 'RC_ERR_WS_UNAUTHORIZED');
    assert.equal(body.status, 401);
    assert.match(counted.stderr, /roomcast: .*private-x.*RC_ERR_WS_UNAUTHORIZED/);
    // Without --count it does not stay connected to nothing; beside a channel that is granted, too.
    const endless = await runCli(['--secret', 'wrong', 'tail', 'news', 'private-x'], env, { timeoutMs: 20_000 });
    assert.equal(endless.code, 1, endless.stderr);
    assert.equal(endless.stdout, '');
    assert.match(endless.stderr, /roomcast: .*private-x/);
  });
  test('tail: a connection the server refuses for good (close 4000-4099: an unknown key) is exit 1, not endless retries', async () => {
    const result = await runCli(['--json', '--key', 'no-such-key', 'tail', 'news'], env, { timeoutMs: 20_000 });
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(result.json, { code: 4001, message: 'no app has key "no-such-key"', rc_code: 'RC_ERR_WS_UNKNOWN_APP_KEY' });
    assert.match(result.stderr, /roomcast: connection refused: 4001 RC_ERR_WS_UNKNOWN_APP_KEY: no app has key "no-such-key"/);
  });
  test('tail: a server that cannot be reached at the first connection is exit 3, not endless retries', async () => {
    const closed = await closedPort();
    const result = await runCli(['--url', `http://127.0.0.1:${closed}`, 'tail', 'news', '--count', '1'], env, { timeoutMs: 20_000 });
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, new RegExp(`roomcast: cannot reach http://127\\.0\\.0\\.1:${closed}`));
    assert.doesNotMatch(result.stderr, /retryInMs/);
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

  test('bot tail ROOM with only --url/ROOMCAST_URL takes the code and token from config/default.json, as trigger and users do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rc-cli-default-'));
    mkdirSync(join(dir, 'config'));
    writeFileSync(join(dir, 'config', 'default.json'), JSON.stringify(CLI_BASE_CONFIG));
    const urlOnly = cliEnv({ ROOMCAST_URL: url });
    const tail = new CliProcess(['--json', 'bot', 'tail', 'lobby', '--count', '1'], urlOnly, dir);
    try {
      await tail.waitForLine((line) => line.includes('"subscribed"'), { stream: 'stderr' });
      const published = await signedCall(url, 'POST', '/apps/app-1/events', { body: { name: 'message', channel: 'presence-room-acme-lobby', data: 'hello default config' } });
      assert.equal(published.status, 200);
      const event = JSON.parse(await tail.waitForLine((line) => line.includes('hello default config'))) as { contentData: string };
      assert.equal(event.contentData, 'hello default config');
      assert.equal(await tail.exited, 0);
    } finally {
      await tail.stop();
    }
    // --url as a flag: the same fallback.
    const flagged = new CliProcess(['--url', url, 'bot', 'tail', 'acme/lobby', '--count', '1'], cliEnv(), dir);
    try {
      await flagged.waitForLine((line) => line.includes('subscribed'), { stream: 'stderr' });
    } finally {
      await flagged.stop();
    }
  });
});
