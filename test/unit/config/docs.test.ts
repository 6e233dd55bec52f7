/** docs/configuration.md is generated from the schema and agrees with it in both directions. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderConfigurationDoc } from '../../../src/config/docs.ts';
import { applyEnvOverrides } from '../../../src/config/env.ts';
import { CONFIG_FIELDS, fieldAt } from '../../../src/config/fields.ts';
import { buildConfig } from '../../../src/config/load.ts';

const read = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
const doc = read('docs/configuration.md');

test('docs/configuration.md is exactly what the schema renders (run `npm run docs:config`)', () => {
  assert.equal(doc, renderConfigurationDoc());
});

test('every schema field is documented with a description, and the page documents no field the schema lacks', () => {
  const documented = new Set([...doc.matchAll(/^\| `([^`]+)` \|/gm)].map((match) => match[1]!));
  const fields = new Set(CONFIG_FIELDS.map((field) => field.path));
  for (const field of CONFIG_FIELDS) {
    assert.notEqual(field.description.trim(), '', `${field.path} has a description`);
    if (!(field.section && field.path.split(/[.[]/).length === 1)) assert.ok(documented.has(field.path), `${field.path} is in docs/configuration.md`);
  }
  for (const path of documented) assert.ok(fields.has(path), `${path} (documented) is in the schema`);
  // Numbers say their unit or are counts/ports named in the description.
  for (const field of CONFIG_FIELDS.filter((entry) => entry.type === 'integer')) {
    assert.ok(field.unit !== undefined || /port/i.test(field.path), `${field.path} has an x-unit`);
  }
});

test('each documented env var sets its field', () => {
  const base = { apps: [{ id: 'a', key: 'k', secret: 's' }] };
  for (const field of CONFIG_FIELDS.filter((entry) => entry.env.length > 0 && ['integer', 'string', 'boolean'].includes(entry.type))) {
    const candidate: Record<string, unknown> = structuredClone(base);
    const value = field.type === 'integer' ? '42' : field.type === 'boolean' ? 'true' : 'x';
    const sources = applyEnvOverrides(candidate, { [field.env[0]!]: value });
    assert.equal(sources.get(field.path), field.env[0]);
    const at = field.path.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], candidate);
    assert.equal(at, field.type === 'integer' ? 42 : field.type === 'boolean' ? true : 'x', field.path);
  }
  const config = buildConfig(base, { ROOMCAST_SERVER_TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1', ROOMCAST_SERVER_PORT: '7001', PORT: '7002', ROOMCAST_BOTS_COOKIE_SECRET: 'a-long-enough-secret' });
  assert.deepEqual(config.server.trustedProxies, ['10.0.0.0/8', '127.0.0.1']);
  assert.equal(config.server.port, 7001, 'the ROOMCAST_ name wins over the alias');
  assert.equal(config.bots.cookieSecret, 'a-long-enough-secret');
  assert.throws(() => buildConfig(base, { ROOMCAST_SERVER_TLS_WATCH_INTERVAL_MS: 'soon' }), /server\.tls\.watchIntervalMs must be integer \(from ROOMCAST_SERVER_TLS_WATCH_INTERVAL_MS\)|server\.tls\.cert is required/);
  assert.equal(fieldAt('apps.3.limits.maxBatchSize')?.path, 'apps[].limits.maxBatchSize');
});

test('the README sends users to docs/configuration.md, not into the schema source', () => {
  const readme = read('README.md');
  assert.doesNotMatch(readme, /src\/config\/schema\.ts/);
  assert.match(readme, /docs\/configuration\.md/);
});
