/** docker-compose.yml and docker/Dockerfile agree with each other and with the README. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  ports?: string[];
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(read('docker-compose.yml')) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };

test('compose runs roomcast on 6001 after a healthy Redis', () => {
  const roomcast = compose.services.roomcast!;
  assert.equal(roomcast.build?.dockerfile, 'docker/Dockerfile');
  assert.deepEqual(roomcast.ports, ['6001:6001']);
  assert.equal(roomcast.environment?.REDIS_URL, 'redis://redis:6379');
  assert.equal(roomcast.depends_on?.redis?.condition, 'service_healthy');
  assert.ok(roomcast.healthcheck?.test.join(' ').includes('/ready'));
});

test('compose Redis keeps data: AOF on, named volume, healthcheck', () => {
  const redis = compose.services.redis!;
  assert.match(redis.image ?? '', /^redis:7/);
  assert.ok(redis.command?.includes('--appendonly') && redis.command.includes('yes'));
  assert.ok(redis.volumes?.some((v) => v.startsWith('redis-data:')));
  assert.ok('redis-data' in compose.volumes);
  assert.ok(redis.healthcheck?.test.join(' ').includes('ping'));
});

test('Dockerfile builds in one stage and runs compiled JS, non-root, in a slim runtime stage', () => {
  const dockerfile = read('docker/Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2);
  const [build, runtime] = stages as [string, string];
  assert.match(build, /npm ci --no-audit/);
  assert.match(build, /npm run build/);
  assert.match(runtime, /^node:20-bookworm-slim AS runtime/);
  assert.match(runtime, /npm ci --omit=dev/);
  assert.match(runtime, /COPY --from=build \/app\/dist \.\/dist/);
  assert.doesNotMatch(runtime, /COPY src|tsx|tsconfig/, 'no sources or TypeScript tooling at run time');
  assert.match(runtime, /^USER node$/m);
  assert.match(runtime, /^EXPOSE 6001$/m);
  assert.match(runtime, /^HEALTHCHECK /m);
  assert.match(runtime, /^CMD \["node", "--enable-source-maps", "dist\/main\.js"\]$/m);
});

test('.dockerignore keeps local installs, builds, secrets and VCS out of the context', () => {
  const ignored = read('.dockerignore').split('\n').map((line) => line.trim());
  for (const entry of ['**/node_modules', 'dist', '.git']) assert.ok(ignored.includes(entry), entry);
  // Docker matches a pattern without `**/` at the context's top only; the Dockerfile copies all of config/.
  for (const entry of ['**/.env', '**/.env.*', '**/*.pem', '**/*.key']) assert.ok(ignored.includes(entry), `${entry} (keys and env files at any depth, config/ included)`);
});

test('package.json: tsx is a dev tool; build, start and the roomcast bin are wired', () => {
  const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; scripts: Record<string, string>; bin: Record<string, string> };
  assert.equal(pkg.dependencies.tsx, undefined);
  assert.ok(pkg.devDependencies.tsx);
  assert.equal(pkg.bin.roomcast, 'bin/roomcast.mjs');
  assert.match(pkg.scripts.build!, /scripts\/build\.mjs/);
  assert.match(pkg.scripts.start!, /roomcast\.mjs serve/);
});

test('README names the start and test commands and docker compose', () => {
  const readme = read('README.md');
  assert.match(readme, /npm install && npm start/);
  assert.match(readme, /npm test/);
  assert.match(readme, /docker compose up/);
});
