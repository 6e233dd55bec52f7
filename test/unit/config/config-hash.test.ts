/**
 * `config_hash` covers what nodes of one deployment must agree on: nodes that differ only
 * in their per-node listen settings (server.host, server.port, server.httpPort,
 * metrics.port) or their node.id report the same hash; any shared setting changes it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildConfig, configHash } from '../../../src/config/load.ts';

const BASE = {
  apps: [{ id: 'app-1', key: 'app-key', secret: 'app-secret' }],
  server: { host: '127.0.0.1', port: 6001 },
};

test('nodes differing only in port, host, metrics port or node id (file or environment) share one hash', () => {
  const reference = configHash(buildConfig(BASE));
  const variants = [
    buildConfig(BASE, { PORT: '6002' }),
    buildConfig(BASE, { HOST: '0.0.0.0' }),
    buildConfig({ ...BASE, server: { host: '::', port: 7001 } }),
    buildConfig({ ...BASE, metrics: { port: 9464 } }),
    buildConfig({ ...BASE, node: { id: 'node-b' } }),
  ];
  for (const variant of variants) assert.equal(configHash(variant), reference);
});

test('a shared setting changes the hash', () => {
  const reference = configHash(buildConfig(BASE));
  assert.notEqual(configHash(buildConfig({ ...BASE, apps: [{ ...BASE.apps[0], secret: 'other-secret' }] })), reference);
  assert.notEqual(configHash(buildConfig({ ...BASE, server: { ...BASE.server, bodyLimitBytes: 1024 } })), reference);
  assert.notEqual(configHash(buildConfig({ ...BASE, node: { heartbeatIntervalMs: 1000 } })), reference);
  assert.notEqual(configHash(buildConfig({ ...BASE, metrics: { statsIntervalMs: 1234 } })), reference);
});
