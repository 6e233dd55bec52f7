/**
 * The Docker image's steps without a Docker daemon (docker/Dockerfile): the build stage
 * compiles a copy of the tree (with this checkout's dev dependencies standing in for its
 * `npm ci`), the runtime stage gets package.json, the lock, bin/, config/ and dist/ and runs
 * `npm ci --omit=dev` (offline-friendly: the npm cache is warm). Then
 * `node --enable-source-maps dist/main.js` runs on the memory backend and on a test Redis:
 * a bot logs in and handshakes, a signed publish reaches a WebSocket subscriber, and one
 * real client per door (`pusher`, `pusher-js`, `faye`) works against it. SIGHUP reloads
 * the compiled server's config, and the compiled CLI runs without tsx.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import faye from 'faye';
import Pusher from 'pusher';
import { bayeux, handshake, login, until } from '../helpers/bots.ts';
import { cliEnv, runCli } from '../helpers/cli.ts';
import { nextEvent, pusherJsClient, subscribed } from '../helpers/pusher-peers.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';

const run = promisify(execFile);
const repo = new URL('../../', import.meta.url).pathname;

let work: string;
let runtime: string;
let redis: TestRedis;

const CONFIG = {
  server: { host: '127.0.0.1', port: 0 },
  log: { level: 'info' },
  bots: { cookieSecret: 'image-steps-cookie-secret', maxEventLoopDelayMs: 0 },
  apps: [{ id: 'app-1', key: 'app-key', secret: 'app-secret' }],
  spaces: [{ id: 'acme', app: 'app-1', rooms: [{ id: 'lobby', code: 'LOBBY-CODE' }], bots: [{ id: 'helper-bot', token: 'BOT-TOKEN' }] }],
};

function serverEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cliEnv({ NODE_ENV: 'production', ...extra });
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'rc-image-'));
  // --- build stage: COPY package*.json tsconfig*.json scripts src; npm run build
  const build = join(work, 'build');
  mkdirSync(build);
  for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts', 'src']) cpSync(join(repo, entry), join(build, entry), { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(build, 'node_modules'), 'dir');
  await run(process.execPath, ['scripts/build.mjs'], { cwd: build, timeout: 240_000 });
  // --- runtime stage: COPY package*.json; npm ci --omit=dev; COPY --from=build dist; COPY bin config
  runtime = join(work, 'runtime');
  mkdirSync(runtime);
  for (const entry of ['package.json', 'package-lock.json', 'bin', 'config']) cpSync(join(repo, entry), join(runtime, entry), { recursive: true });
  cpSync(join(build, 'dist'), join(runtime, 'dist'), { recursive: true });
  await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: runtime, timeout: 240_000, env: { ...process.env, NODE_ENV: 'production' } });
  writeFileSync(join(runtime, 'roomcast.json'), JSON.stringify(CONFIG));
  redis = await startRedis();
});

after(async () => {
  await redis?.stop();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

test('the runtime stage has compiled JS, source maps and the Lua scripts, and no dev tools', () => {
  assert.ok(existsSync(join(runtime, 'dist/main.js')));
  assert.ok(existsSync(join(runtime, 'dist/main.js.map')));
  assert.ok(existsSync(join(runtime, 'dist/backends/redis/scripts/log_append.lua')));
  assert.ok(existsSync(join(runtime, 'dist/backends/redis/scripts/lib/log-retention.lua')));
  assert.doesNotMatch(readFileSync(join(runtime, 'dist/app.js'), 'utf8'), /from '\.[^']*\.ts'/, 'imports point at .js');
  for (const dev of ['tsx', 'typescript', 'pusher-js', 'faye']) assert.ok(!existsSync(join(runtime, 'node_modules', dev)), `${dev} is not installed`);
  assert.ok(existsSync(join(runtime, 'node_modules/fastify')));
  assert.ok(!existsSync(join(runtime, 'src')));
});

for (const backend of ['memory', 'redis'] as const) {
  describe(`node dist/main.js on ${backend}`, () => {
    let server: ServerProcess;

    before(async () => {
      server = await startServerProcess(['--enable-source-maps', 'dist/main.js'], {
        cwd: runtime,
        env: serverEnv({ ROOMCAST_CONFIG: join(runtime, 'roomcast.json'), ...(backend === 'redis' ? { REDIS_URL: redis.url } : {}) }),
      });
    });

    after(async () => {
      assert.equal(await server.stop(), 0, 'SIGTERM stops it cleanly');
    });

    test('smoke: /ready, bot login + Bayeux handshake, signed publish reaches a WebSocket subscriber', async () => {
      const ready = (await (await fetch(`${server.url}/ready`)).json()) as { backend: string };
      assert.equal(ready.backend, backend);
      const bot = await login(server.url);
      assert.equal(bot.status, 200);
      const clientId = await handshake(server.url, bot.cookie);
      const [subscribe] = await bayeux(server.url, bot.cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream' }]);
      assert.equal(subscribe?.successful, true);

      const ws = await RawPusherClient.connect(server.port);
      ws.send({ event: 'pusher:subscribe', data: { channel: 'news' } });
      await ws.next((frame) => frame.event === 'pusher_internal:subscription_succeeded');
      const published = await signedCall(server.url, 'POST', '/apps/app-1/events', { body: { name: 'headline', channel: 'news', data: 'compiled' } });
      assert.equal(published.status, 200);
      const frame = await ws.next((candidate) => candidate.event === 'headline');
      assert.equal(frame.data, 'compiled');
      ws.ws.close();
    });

    if (backend === 'memory') {
      test('real clients: pusher SDK triggers, pusher-js receives; faye follows /service/stream', async () => {
        const sdk = new Pusher({ appId: 'app-1', key: 'app-key', secret: 'app-secret', host: '127.0.0.1', port: String(server.port), useTLS: false });
        const client = await pusherJsClient(server.port);
        try {
          const channel = await subscribed(client, 'private-desk');
          const event = nextEvent<{ n: number }>(channel, 'tick');
          assert.equal((await sdk.trigger('private-desk', 'tick', { n: 1 })).status, 200);
          assert.deepEqual((await event).data, { n: 1 });
        } finally {
          client.disconnect();
        }

        const { cookie } = await login(server.url);
        const bayeuxClient = new faye.Client(`${server.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
        bayeuxClient.setHeader('Cookie', cookie);
        const received: { contentData?: string }[] = [];
        try {
          await bayeuxClient.subscribe('/service/stream', (message) => void received.push(message as { contentData?: string }));
          assert.equal((await sdk.trigger('presence-room-acme-lobby', 'chat', 'hello faye')).status, 200);
          const message = await until(() => received.find((entry) => entry.contentData === 'hello faye'));
          assert.equal(message.contentData, 'hello faye');
        } finally {
          bayeuxClient.disconnect();
        }
      });

      test('SIGHUP reloads the config file; the compiled CLI (no tsx) reads /stats', async () => {
        const env = cliEnv({ ROOMCAST_URL: server.url });
        const before = await runCli(['--json', 'stats'], env, { cwd: runtime, bin: join(runtime, 'bin/roomcast.mjs') });
        assert.equal(before.code, 0, before.stderr);
        const hash = (before.json as { config_hash: string }).config_hash;
        writeFileSync(join(runtime, 'roomcast.json'), JSON.stringify({ ...CONFIG, spaces: [{ ...CONFIG.spaces[0], bots: [{ id: 'helper-bot', token: 'ROTATED-TOKEN' }] }] }));
        try {
          process.kill(server.pid, 'SIGHUP');
          await until(async () => ((await (await fetch(`${server.url}/stats`)).json()) as { config_hash: string }).config_hash !== hash || undefined, 15_000);
          assert.equal((await login(server.url, { room: 'LOBBY-CODE', token: 'ROTATED-TOKEN' })).status, 200);
          assert.equal((await login(server.url, { room: 'LOBBY-CODE', token: 'BOT-TOKEN' })).status, 401);
          // The line travels through the child's stdout pipe: it may arrive after the replies.
          await until(() => server.logs.some((line) => line.includes('"config reloaded"')) || undefined, 5_000);
        } finally {
          // The next suite's server reads the same file.
          writeFileSync(join(runtime, 'roomcast.json'), JSON.stringify(CONFIG));
        }
      });
    }
  });
}
