import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEpoch, LEGACY_EPOCH } from '../../../src/backends/epoch.ts';

test('epochs are 8 characters of [0-9a-z], never the legacy one, and do not repeat', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const epoch = createEpoch();
    assert.match(epoch, /^[0-9a-z]{8}$/);
    assert.notEqual(epoch, LEGACY_EPOCH);
    seen.add(epoch);
  }
  assert.equal(seen.size, 20_000);
});
