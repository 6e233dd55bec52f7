/**
 * The metrics as documented and as charted: every family `/metrics` exposes is named in
 * docs/operations.md, and every metric the Grafana dashboard queries exists. Runs a node
 * on Redis with push and an app with a webhook endpoint, so every family is present.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

let redis: TestRedis;
let node: RunningApp;
let families: Set<string>;

before(async () => {
  redis = await startRedis();
  node = await startApp(
    testConfig({ apps: [{ ...TEST_APP, webhooks: [{ url: 'http://127.0.0.1:9/unused', event_types: ['channel_occupied'] }] }] }, redis.url),
  );
  const text = await (await fetch(`${node.url}/metrics`)).text();
  families = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!));
});
after(async () => {
  await node.close();
  await redis.stop();
});

test('every roomcast family /metrics exposes is documented in docs/operations.md', () => {
  const docs = read('docs/operations.md');
  const ours = [...families].filter((name) => !/^roomcast_(process|nodejs)_/.test(name));
  assert.ok(ours.length >= 30, `${ours.length} families`);
  assert.deepEqual(ours.filter((name) => !docs.includes(`\`${name}\``)), []);
  assert.ok(docs.includes('`roomcast_nodejs_eventloop_lag_seconds`'));
});

test('every metric the Grafana dashboard queries exists', () => {
  const dashboard = JSON.parse(read('docker/grafana/dashboards/roomcast.json')) as { panels: { targets?: { expr: string }[] }[] };
  const queried = new Set(dashboard.panels.flatMap((panel) => (panel.targets ?? []).flatMap((target) => [...target.expr.matchAll(/roomcast_[a-z0-9_]+/g)].map((m) => m[0]))));
  assert.ok(queried.size >= 20);
  const exists = (name: string): boolean => families.has(name) || families.has(name.replace(/_(bucket|sum|count)$/, ''));
  assert.deepEqual([...queried].filter((name) => !exists(name)), []);
});

test('Prometheus scrapes /metrics of the roomcast service, and compose starts both tools in the monitoring profile', () => {
  const prometheus = parse(read('docker/prometheus/prometheus.yml')) as { scrape_configs: { metrics_path: string; static_configs: { targets: string[] }[] }[] };
  assert.equal(prometheus.scrape_configs[0]!.metrics_path, '/metrics');
  assert.deepEqual(prometheus.scrape_configs[0]!.static_configs[0]!.targets, ['roomcast:6001']);
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, { profiles?: string[]; volumes?: string[] }> };
  for (const service of ['prometheus', 'grafana']) assert.deepEqual(compose.services[service]!.profiles, ['monitoring']);
  assert.ok(compose.services.grafana!.volumes!.some((volume) => volume.startsWith('./docker/grafana/dashboards:')));
  assert.equal(compose.services.roomcast!.profiles, undefined, 'roomcast itself runs without the profile');
});
