/** The error catalogue and docs/errors.md describe the same codes, both ways. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERRORS } from '../../src/errors.ts';

const page = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = new Map<string, string[]>();
for (const line of page.split('\n')) {
  const match = /^\|\s*(RC_ERR_[A-Z0-9_]+)\s*\|(.*)\|\s*$/.exec(line);
  if (match) rows.set(match[1]!, match[2]!.split('|').map((cell) => cell.trim()));
}

test('every catalogue code has a docs/errors.md row with status, meaning, cause and fix', () => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    const row = rows.get(code);
    assert.ok(row, `${code} is missing from docs/errors.md`);
    assert.equal(row.length, 4, `${code}: the row needs status, meaning, causes, fix`);
    const [status, ...texts] = row;
    if (status !== '—') assert.equal(Number(status), spec.status, `${code}: docs say ${status}, catalogue says ${spec.status}`);
    for (const text of texts) assert.ok(text.length >= 5, `${code}: an empty cell`);
  }
});

test('docs/errors.md documents no code that does not exist', () => {
  for (const code of rows.keys()) assert.ok(code in ERRORS, `docs/errors.md documents ${code}, which is not in src/errors.ts`);
});

test('codes follow RC_ERR_<AREA>_<WHAT> and statuses are HTTP statuses', () => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    assert.match(code, /^RC_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/);
    assert.ok(spec.status >= 400 && spec.status <= 599);
  }
});
