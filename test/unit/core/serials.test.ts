import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inEpoch, parseSerial, serialOf } from '../../../src/core/serials.ts';

test('serials of one epoch compare as strings in seq order and round-trip', () => {
  const seqs = [1, 2, 35, 36, 1295, 46656, 1e9, Number.MAX_SAFE_INTEGER];
  const serials = seqs.map((seq) => serialOf('k3x9q0ab', seq));
  assert.deepEqual([...serials].sort(), serials);
  assert.equal(serials[0], 'k3x9q0ab-00000000001');
  for (const seq of seqs) assert.deepEqual(parseSerial(serialOf('k3x9q0ab', seq)), { epoch: 'k3x9q0ab', seq });
});

test('a bare serial from before epochs parses with an unknown epoch, which matches no stream', () => {
  const position = parseSerial('00000000003');
  assert.deepEqual(position, { epoch: null, seq: 3 });
  assert.equal(inEpoch(position!, null), false);
  assert.equal(inEpoch(position!, '00000000'), false);
  assert.equal(inEpoch({ epoch: 'k3x9q0ab', seq: 3 }, 'k3x9q0ab'), true);
  assert.equal(inEpoch({ epoch: 'k3x9q0ab', seq: 3 }, 'other000'), false);
});

test('non-serials are rejected', () => {
  for (const bad of ['', '1', 'ZZZZZZZZZZZ', '00000000000', '0000000001-', '../../etc/pas', 'k3x9q0ab-', '-00000000001', 'K3X-00000000001', 'k3x9q0ab-00000000000', 'a-b-00000000001']) {
    assert.equal(parseSerial(bad), null, bad);
  }
});
