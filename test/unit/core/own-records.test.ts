/** The own-record cache of the bus echo: found in order, older ones dropped with a later match, bounded, a miss is undefined. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OwnRecords } from '../../../src/core/own-records.ts';
import type { MessageRecord } from '../../../src/core/types.ts';

const record = (name: string): MessageRecord => ({ action: 'message.create', name, data: '', origin: 'rest' });

test('echoes in order find their records; an equal text made elsewhere finds it too', () => {
  const own = new OwnRecords();
  const a = record('a');
  const b = record('b');
  own.remember('{"a":1}', a);
  own.remember('{"b":1}', b);
  assert.equal(own.take('{"a":1}'), a);
  assert.equal(own.take(JSON.stringify({ b: 1 })), b);
  assert.equal(own.size, 0);
  assert.equal(own.take('{"a":1}'), undefined);
});

test('a later match drops the older pending records; the same text twice is two records', () => {
  const own = new OwnRecords();
  const first = record('1');
  const second = record('2');
  own.remember('x', record('x'));
  own.remember('same', first);
  own.remember('same', second);
  assert.equal(own.take('same'), first);
  assert.equal(own.size, 1);
  assert.equal(own.take('x'), undefined);
  assert.equal(own.take('same'), second);
  assert.equal(own.size, 0);
});

test('a foreign text is a miss and drops nothing; the search and the size are bounded', () => {
  const own = new OwnRecords();
  for (let i = 0; i < 100; i++) own.remember(`b${i}`, record(String(i)));
  assert.equal(own.take('foreign'), undefined);
  assert.equal(own.size, 100);
  assert.equal(own.take('b99'), undefined, 'past the search depth: parsed instead');
  assert.equal(own.take('b10')?.name, '10');
  assert.equal(own.size, 89);
  for (let i = 0; i < 25_000; i++) own.remember(`c${i}`, record('c'));
  assert.ok(own.size <= 10_000, `size ${own.size}`);
  assert.equal(own.take('c24999'), undefined);
});
