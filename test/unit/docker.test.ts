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

test('Dockerfile is multi-stage, non-root, with a healthcheck on the exposed port', () => {
  const dockerfile = read('docker/Dockerfile');
  assert.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2);
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /^EXPOSE 6001$/m);
  assert.match(dockerfile, /^HEALTHCHECK /m);
  assert.match(dockerfile, /npm ci --omit=dev/);
});

test('README names the start and test commands and docker compose', () => {
  const readme = read('README.md');
  assert.match(readme, /npm install && npm start/);
  assert.match(readme, /npm test/);
  assert.match(readme, /docker compose up/);
});
