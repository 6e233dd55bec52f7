/**
 * The sustained-lag rule (core/lag-window.ts): one pause is not reported unless longer
 * than the bound by the sustain time; a lag seen in bursts (long turns with short quiet
 * ones between) is; a lag gone is forgotten within the window.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LagWindow } from '../../../src/core/lag-window.ts';

const T0 = 1_000_000;

test('one pause of 1.8 s in a quiet node is reported as 0.8 s (pause − sustain time)', () => {
  const window = new LagWindow(1000, 2000);
  for (let t = 0; t <= 3000; t += 100) window.add(T0 + t, 30);
  window.add(T0 + 4800, 1800);
  assert.equal(window.sustained(T0 + 4800), 800);
  // The backlog the pause left drains at once: small samples after it.
  for (let t = 4850; t <= 7000; t += 50) window.add(T0 + t, 20);
  assert.ok(window.sustained(T0 + 7000) < 100);
});

test('a lag seen in bursts (3 s turns, quiet ticks between) is reported, not hidden by the quiet samples', () => {
  const window = new LagWindow(1000, 2000);
  let t = 0;
  for (let burst = 0; burst < 4; burst++) {
    t += 3000;
    window.add(T0 + t, 3500); // the turn's oldest frame waited 3.5 s
    for (let quiet = 0; quiet < 2; quiet++) window.add(T0 + (t += 100), 0);
  }
  assert.ok(window.sustained(T0 + t) >= 2000, `reported ${window.sustained(T0 + t)}`);
});

test('a steady lag is reported within the sustain time, and forgotten within the window once gone', () => {
  const window = new LagWindow(1000, 2000);
  for (let t = 0; t <= 1500; t += 50) window.add(T0 + t, 2500 + t);
  assert.ok(window.sustained(T0 + 1500) >= 2500);
  for (let t = 1550; t <= 2500; t += 50) window.add(T0 + t, 0);
  assert.ok(window.sustained(T0 + 2500) > 0, 'still above for half the window');
  for (let t = 2550; t <= 3600; t += 50) window.add(T0 + t, 0);
  assert.equal(window.sustained(T0 + 3600), 0);
});

test('no samples, or only small ones: 0', () => {
  const window = new LagWindow(1000, 2000);
  assert.equal(window.sustained(T0), 0);
  for (let t = 0; t < 5000; t += 10) window.add(T0 + t, 0);
  assert.equal(window.sustained(T0 + 5000), 0);
});

test('a sample that covers one interval at most (a prediction) after a pause is not reported alone; two in a row are', () => {
  const window = new LagWindow(500, 1500);
  for (let t = 0; t <= 1000; t += 250) window.add(T0 + t, 0);
  window.add(T0 + 3000, 9000, 250);
  assert.equal(window.sustained(T0 + 3000), 0);
  window.add(T0 + 3250, 9000, 250);
  assert.ok(window.sustained(T0 + 3250) >= 8500, `reported ${window.sustained(T0 + 3250)}`);
});

test('a spike is forgotten within the window even when samples come every 5 ms (merged buckets do not carry it along)', () => {
  const window = new LagWindow(500, 1500);
  let t = 0;
  for (; t <= 1000; t += 5) window.add(T0 + t, 3);
  window.add(T0 + (t += 2600), 2600); // one 2.6 s pause
  assert.ok(window.sustained(T0 + t) > 0);
  for (const end = t + 2000; t <= end; t += 5) window.add(T0 + t, 3);
  assert.equal(window.sustained(T0 + t), 0);
});

test('a capped prediction is not merged into the long span of the turn just before it', () => {
  const window = new LagWindow(500, 1500);
  for (let t = 0; t <= 1000; t += 100) window.add(T0 + t, 0);
  window.add(T0 + 2500, 100); // a turn after a 1.5 s pause, its oldest message 100 ms old
  window.add(T0 + 2505, 9000, 250); // a prediction, covering 250 ms at most
  assert.ok(window.sustained(T0 + 2505) <= 250, `reported ${window.sustained(T0 + 2505)}`);
});
