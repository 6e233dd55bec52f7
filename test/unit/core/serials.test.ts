import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serialFromSeq, seqFromSerial } from '../../../src/core/serials.ts';

test('serials compare as strings in seq order and round-trip', () => {
  const seqs = [1, 2, 35, 36, 1295, 46656, 1e9, Number.MAX_SAFE_INTEGER];
  const serials = seqs.map(serialFromSeq);
  assert.deepEqual([...serials].sort(), serials);
  for (const seq of seqs) assert.equal(seqFromSerial(serialFromSeq(seq)), seq);
});

test('non-serials are rejected', () => {
  for (const bad of ['', '1', 'ZZZZZZZZZZZ', '00000000000', '0000000001-', '../../etc/pas']) assert.equal(seqFromSerial(bad), null, bad);
});
