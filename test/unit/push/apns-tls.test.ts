/**
 * The APNs adapter over real TLS + ALPN h2 (as api.push.apple.com speaks), against a
 * local server with a certificate made at test time; the server checks the ES256
 * provider token and headers like the h2c tests do.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ApnsCredentials } from '../../../src/push/credentials.ts';
import { ApnsProvider } from '../../../src/push/providers/apns.ts';
import { startFakeApns, type FakeApns } from '../../push/fake-providers.ts';

let apns: FakeApns;
let cert: string;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rc-apns-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    apns = await startFakeApns({ tls: { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
after(() => apns.close());

const device = { deviceId: 'd', platform: 'apns' as const, providerToken: 'ab'.repeat(32), metadata: {}, state: 'active' as const, createdAt: 0, updatedAt: 0 };

test('APNs over TLS: a trusted certificate delivers; an untrusted one is a retryable failure, never a send', async () => {
  const credentials: ApnsCredentials = { platform: 'apns', keyId: apns.keyId, teamId: apns.teamId, topic: apns.topic, privateKey: apns.p8, createdAt: 0 };
  const request = { device, notification: { title: 'tls', body: 'h2' }, credentials, expiresAt: 0, dedupeKey: 'k1' };
  const trusted = new ApnsProvider({ baseUrl: apns.url, timeoutMs: 5000, ca: cert });
  try {
    assert.equal((await trusted.send(request)).kind, 'delivered');
    assert.equal(apns.received.length, 1);
  } finally {
    await trusted.close();
  }
  const untrusted = new ApnsProvider({ baseUrl: apns.url, timeoutMs: 5000 });
  try {
    const result = await untrusted.send(request);
    assert.equal(result.kind, 'retry');
    assert.match(result.kind === 'retry' ? result.reason : '', /certificate/i);
    assert.equal(apns.received.length, 1);
  } finally {
    await untrusted.close();
  }
});
