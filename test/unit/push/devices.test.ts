import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { MemoryHashes } from '../../../src/backends/memory/hashes.ts';
import { DeviceRegistry } from '../../../src/push/devices.ts';

const keys = (() => {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') };
})();

test('web endpoints must be https unless webPushAllowHttp', async () => {
  const hashes = new MemoryHashes();
  try {
    const strict = new DeviceRegistry(hashes);
    await assert.rejects(
      () => strict.register('a', { device_id: 'w1', platform: 'web', subscription: { endpoint: 'http://10.0.0.1/internal', keys } }),
      /must be an https URL/,
    );
    const ok = await strict.register('a', { device_id: 'w2', platform: 'web', subscription: JSON.stringify({ endpoint: 'https://push.example/abc', keys }) });
    assert.equal(ok.subscription?.endpoint, 'https://push.example/abc');
    const relaxed = new DeviceRegistry(hashes, Date.now, true);
    await relaxed.register('a', { device_id: 'w3', platform: 'web', subscription: { endpoint: 'http://127.0.0.1:9/x', keys } });
  } finally {
    hashes.close();
  }
});

test('web keys must be a P-256 point and a 16-byte secret; apns tokens must be hex', async () => {
  const hashes = new MemoryHashes();
  try {
    const registry = new DeviceRegistry(hashes);
    await assert.rejects(() => registry.register('a', { device_id: 'w', platform: 'web', subscription: { endpoint: 'https://p/x', keys: { p256dh: 'AAAA', auth: keys.auth } } }), /65 bytes/);
    await assert.rejects(() => registry.register('a', { device_id: 'i', platform: 'apns', provider_token: '../../3/device/x' }), /hex device token/);
  } finally {
    hashes.close();
  }
});

test('re-registering moves a device between clients and re-activates it', async () => {
  const hashes = new MemoryHashes();
  try {
    const registry = new DeviceRegistry(hashes);
    await registry.register('a', { device_id: 'd', client_id: 'c1', platform: 'fcm', provider_token: 't1' });
    await registry.invalidate('a', 'd', 'fcm: UNREGISTERED');
    const again = await registry.register('a', { device_id: 'd', client_id: 'c2', platform: 'fcm', provider_token: 't2' });
    assert.equal(again.state, 'active');
    assert.deepEqual(await registry.idsOfClient('a', 'c1'), []);
    assert.deepEqual(await registry.idsOfClient('a', 'c2'), ['d']);
  } finally {
    hashes.close();
  }
});
