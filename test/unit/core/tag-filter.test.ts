/**
 * Tag filters (core/tag-filter.ts): Sockudo's filter nodes, validated once and matched
 * against publication tags.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRoomcastError } from '../../../src/errors.ts';
import { matchesTags, parseTagFilter, parseTags } from '../../../src/core/tag-filter.ts';

const filter = (node: unknown) => parseTagFilter(node, 'feed');

test('every comparison, with and without the tag', () => {
  const tags = { type: 'shot', xg: '0.85', team: 'home-red' };
  const cases: [unknown, boolean, boolean][] = [
    // node, matches `tags`, matches no tags
    [{ key: 'type', cmp: 'eq', val: 'shot' }, true, false],
    [{ key: 'type', cmp: 'neq', val: 'goal' }, true, true],
    [{ key: 'type', cmp: 'in', vals: ['goal', 'shot'] }, true, false],
    [{ key: 'type', cmp: 'nin', vals: ['goal'] }, true, true],
    [{ key: 'xg', cmp: 'ex' }, true, false],
    [{ key: 'xg', cmp: 'nex' }, false, true],
    [{ key: 'team', cmp: 'sw', val: 'home' }, true, false],
    [{ key: 'team', cmp: 'ew', val: 'red' }, true, false],
    [{ key: 'team', cmp: 'ct', val: 'e-r' }, true, false],
    [{ key: 'xg', cmp: 'gte', val: 0.8 }, true, false],
    [{ key: 'xg', cmp: 'gt', val: '0.85' }, false, false],
    [{ key: 'xg', cmp: 'lt', val: 1 }, true, false],
    [{ key: 'xg', cmp: 'lte', val: '0.85' }, true, false],
    [{ key: 'team', cmp: 'gt', val: 1 }, false, false],
    [{ op: 'not', nodes: [{ key: 'type', cmp: 'eq', val: 'shot' }] }, false, true],
    [{ op: 'and', nodes: [{ key: 'type', cmp: 'eq', val: 'shot' }, { key: 'xg', cmp: 'gte', val: '0.9' }] }, false, false],
    [{ op: 'or', nodes: [{ key: 'type', cmp: 'eq', val: 'goal' }, { key: 'xg', cmp: 'gte', val: '0.8' }] }, true, false],
  ];
  for (const [node, withTags, withoutTags] of cases) {
    assert.equal(matchesTags(filter(node), tags), withTags, JSON.stringify(node));
    assert.equal(matchesTags(filter(node), undefined), withoutTags, `${JSON.stringify(node)} (untagged)`);
  }
});

test('bad filters are refused with the problem named', () => {
  const bad: [unknown, RegExp][] = [
    ['goal', /must be an object/],
    [{ op: 'xor', nodes: [] }, /unknown op/],
    [{ op: 'and', nodes: [] }, /at least one node/],
    [{ op: 'not', nodes: [{ key: 'a', cmp: 'ex' }, { key: 'b', cmp: 'ex' }] }, /exactly one node/],
    [{ cmp: 'eq', val: 'x' }, /needs a non-empty "key"/],
    [{ key: 'a', cmp: 'like', val: 'x' }, /unknown cmp/],
    [{ key: 'a', cmp: 'eq' }, /string .* or a number/],
    [{ key: 'a', cmp: 'eq', val: '' }, /non-empty "val"/],
    [{ key: 'a', cmp: 'in', vals: [] }, /needs "vals"/],
    [{ key: 'a', cmp: 'gt', val: 'ten' }, /numeric "val"/],
    [{ key: 'a', cmp: 'in', vals: [{}] }, /vals\[0\]/],
  ];
  for (const [node, message] of bad) {
    assert.throws(
      () => filter(node),
      (error: unknown) => isRoomcastError(error) && error.code === 'RC_ERR_WS_BAD_TAGS_FILTER' && message.test(error.message),
      JSON.stringify(node),
    );
  }
  let deep: unknown = { key: 'a', cmp: 'ex' };
  for (let i = 0; i < 10; i++) deep = { op: 'not', nodes: [deep] };
  assert.throws(() => filter(deep), /nested deeper/);
  const wide = { op: 'or', nodes: Array.from({ length: 70 }, (_, i) => ({ key: `k${i}`, cmp: 'ex' })) };
  assert.throws(() => filter(wide), /more than 64 nodes/);
});

test('tags: string values only, bounded; a __proto__ key is a plain key', () => {
  assert.equal(parseTags(undefined), undefined);
  assert.deepEqual({ ...parseTags({ a: '1' }) }, { a: '1' });
  for (const bad of [null, [], 'a', { a: 1 }, { a: null }, { '': 'x' }, { a: 'x'.repeat(300) }, Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v']))]) {
    assert.throws(() => parseTags(bad), (error: unknown) => isRoomcastError(error) && error.code === 'RC_ERR_EVENT_INVALID_FIELD', JSON.stringify(bad));
  }
  // The message says which part is wrong: a long key names the key and its length, not the value.
  assert.throws(() => parseTags({ ['k'.repeat(65)]: 'v' }), /got the key "k{40}" of 65 characters/);
  assert.throws(() => parseTags({ a: 1 }), /got "a": number 1/);
  const tricky = parseTags(JSON.parse('{"__proto__":"x"}'));
  assert.equal(matchesTags(filter({ key: '__proto__', cmp: 'eq', val: 'x' }), tricky), true);
  assert.equal(matchesTags(filter({ key: 'constructor', cmp: 'ex' }), { a: 'b' }), false);
});
