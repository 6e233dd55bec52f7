import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryWindow } from '../../../../src/backends/memory/entry-window.ts';

const entry = (seq: number) => ({ epoch: 'k3x9q0ab', seq, time: seq, body: `b${seq}` });

test('the window keeps the newest entries in order across drops and compactions', () => {
  const window = new EntryWindow();
  let dropped = 0;
  for (let seq = 1; seq <= 5000; seq++) {
    window.push(entry(seq));
    // A stream at maxCount 1000: each append past it drops the oldest one.
    if (window.length > 1000) dropped += window.dropOldest(window.length - 1000, (e) => e.body.length);
    assert.equal(window.at(0)!.seq, Math.max(1, seq - 999));
    assert.equal(window.at(window.length - 1)!.seq, seq);
  }
  assert.equal(window.length, 1000);
  assert.equal(window.at(1000), undefined);
  assert.equal(window.at(-1), undefined);
  for (let i = 0; i < 1000; i++) assert.equal(window.at(i)!.seq, 4001 + i);
  // Sizes of every dropped entry (seqs 1..4000) were reported once.
  let expected = 0;
  for (let seq = 1; seq <= 4000; seq++) expected += `b${seq}`.length;
  assert.equal(dropped, expected);
});

test('dropping more than is held empties the window; clear resets it', () => {
  const window = new EntryWindow();
  for (let seq = 1; seq <= 3; seq++) window.push(entry(seq));
  assert.equal(window.dropOldest(10, () => 1), 3);
  assert.equal(window.length, 0);
  assert.equal(window.at(0), undefined);
  window.push(entry(4));
  assert.equal(window.at(0)!.seq, 4);
  window.clear();
  assert.equal(window.length, 0);
});
