/** The push section of the config schema: the bounds that protect a node. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testConfig } from '../../helpers/app.ts';

test('push.syncTimeoutMs is at most 60000: a sync publish never holds a request longer', () => {
  assert.equal(testConfig({ push: { syncTimeoutMs: 60_000 } }).push.syncTimeoutMs, 60_000);
  assert.throws(() => testConfig({ push: { syncTimeoutMs: 60_001 } }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'RC_ERR_CONFIG_INVALID');
    assert.match(error.message, /syncTimeoutMs/);
    return true;
  });
});

test('push.retryAfterMaxMs defaults to 1 hour, separate from retryMaxMs', () => {
  const { push } = testConfig();
  assert.equal(push.retryAfterMaxMs, 3_600_000);
  assert.equal(push.retryMaxMs, 300_000);
  assert.throws(() => testConfig({ push: { retryAfterMaxMs: 0 } }), /retryAfterMaxMs/);
});
