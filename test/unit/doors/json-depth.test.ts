/** The JSON depth and string-length rule on raw text, short texts (the counted fast path) and long ones alike. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonProblem, MAX_JSON_DEPTH } from '../../../src/doors/json-depth.ts';

const verdict = (text: string, maxDepth?: number, maxStringChars?: number): string | null => jsonProblem(text, maxDepth, maxStringChars)?.code ?? null;

test('nesting: the deepest accepted level passes, one more is refused, objects and arrays alike', () => {
  assert.equal(verdict('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH)), null);
  assert.equal(verdict('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1)), 'RC_ERR_JSON_TOO_DEEP');
  assert.equal(verdict('{"a":'.repeat(MAX_JSON_DEPTH + 1) + '1' + '}'.repeat(MAX_JSON_DEPTH + 1)), 'RC_ERR_JSON_TOO_DEEP');
  assert.equal(verdict('{"a":['.repeat(3) + '1' + ']}'.repeat(3), 4), 'RC_ERR_JSON_TOO_DEEP');
});

test('many openers that never nest deeply pass (siblings, and brackets inside strings)', () => {
  const siblings = `[${Array.from({ length: 500 }, () => '{}').join(',')}]`;
  assert.equal(verdict(siblings), null);
  assert.equal(verdict(JSON.stringify({ data: '[{'.repeat(200) })), null);
  // A string's `[` never counts for depth, however many there are; a real one past the limit does.
  assert.equal(verdict(JSON.stringify({ data: '['.repeat(100) }), 2), null);
  assert.equal(verdict(`[[${JSON.stringify('['.repeat(100))}]]`, 1), 'RC_ERR_JSON_TOO_DEEP');
});

test('strings: the longest accepted passes, one more character is refused, keys and unterminated strings too', () => {
  assert.equal(verdict(JSON.stringify({ data: 'x'.repeat(10) }), undefined, 10), null);
  assert.equal(verdict(JSON.stringify({ data: 'x'.repeat(11) }), undefined, 10), 'RC_ERR_JSON_STRING_TOO_LONG');
  assert.equal(verdict(`{"${'k'.repeat(11)}":1}`, undefined, 10), 'RC_ERR_JSON_STRING_TOO_LONG');
  assert.equal(verdict(`"${'x'.repeat(11)}`, undefined, 10), 'RC_ERR_JSON_STRING_TOO_LONG');
  // Escapes count as written (the rule reads the raw text).
  assert.equal(verdict(`"${'\\n'.repeat(6)}"`, undefined, 10), 'RC_ERR_JSON_STRING_TOO_LONG');
  assert.equal(verdict('x'.repeat(20), undefined, 10), null);
});
