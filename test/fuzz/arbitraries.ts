/**
 * fast-check arbitraries shared by the fuzz drivers: hostile strings and ids, JSON values
 * (valid, deep, wide, prototype-poisoned), and text mutations of valid JSON.
 *
 * Everything is drawn from fast-check with the run's seed (see `draw`), so a run is
 * reproduced exactly by its seed and input count.
 */
import fc from 'fast-check';

/** Draws `count` values of `arbitrary` deterministically from `seed` (fast-check's own generator). */
export function draw<T>(arbitrary: fc.Arbitrary<T>, seed: number, count: number): T[] {
  return fc.sample(arbitrary, { seed, numRuns: count });
}

/** Object keys that reach prototypes when used as plain-object keys. */
export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__'] as const;

/** Strings that broke parsers, encoders or loggers somewhere. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\uD800',
  '\uDFFF',
  '\uFFFF',
  '\u202E',
  '\u{1F600}',
  '%',
  '%zz',
  '%E0%A4%A',
  '../',
  '..%2F..%2F',
  '\r\n',
  '"',
  '\\',
  '${x}',
  '<script>',
  '1e309',
  '-0',
  'NaN',
  'null',
  'true',
  ':',
  ',',
  '*',
  '**',
  '#',
  '?',
  '&',
  '=',
] as const;

/** Any string, weighted towards short hostile ones. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 2, arbitrary: fc.constantFrom(...NASTY_STRINGS, ...PROTO_KEYS) },
  { weight: 1, arbitrary: fc.nat({ max: 5000 }).map((n) => 'x'.repeat(150 + n)) },
);

/** An id: mostly valid-looking, sometimes hostile. */
export function idLike(prefix = ''): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.nat({ max: 6 }).map((n) => `${prefix}fuzz-${n}`) },
    { weight: 2, arbitrary: hostileString.map((text) => `${prefix}${text}`) },
    { weight: 1, arbitrary: hostileString },
  );
}

/** JSON text nested `depth` levels (too deep for JSON.stringify to be the builder). */
export const deepJsonText: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 60, max: 20_000 }), fc.constantFrom(['[', ']'], ['{"a":', '}'], ['{"__proto__":', '}'], ['{"ext":', '}']))
  .map(([depth, [open, close]]) => `${open!.repeat(depth)}1${close!.repeat(depth)}`);

/** Any JSON value, sometimes hostile: prototype keys, huge numbers, long strings, nesting near the limit. */
export const jsonish: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 2, arbitrary: hostileString },
    { weight: 1, arbitrary: fc.constantFrom(Number.MAX_SAFE_INTEGER, -0, 1e308, 0.1, -1, 2 ** 53 + 1) },
    { weight: 1, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...PROTO_KEYS), hostileString), tie('value'), { maxKeys: 4 }) },
    { weight: 1, arbitrary: fc.array(tie('value'), { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.integer({ min: 50, max: 70 }).map((depth) => nest(depth)) },
  ),
})).value;

function nest(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value };
  return value;
}

/** A text mutation of a JSON document: truncation, insertion, poisoning, deepening, garbage. */
export function mutatedText(base: string): fc.Arbitrary<string> {
  return fc.oneof(
    fc.nat({ max: base.length }).map((at) => base.slice(0, at)),
    fc.tuple(fc.nat({ max: base.length }), hostileString).map(([at, text]) => base.slice(0, at) + text + base.slice(at)),
    fc.constant(base.replace(/"[a-z_]+":/, '"__proto__":')),
    fc.constant(`{"constructor":{"prototype":{"polluted":true}},${base.slice(1)}`),
    deepJsonText.map((deep) => base.replace(/:("[^"]*"|\d+|\{\}|\[\])/, `:${deep}`)),
    fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
    fc.nat({ max: 300_000 }).map((n) => `{"data":"${'y'.repeat(n)}"}`),
    fc.constant(base),
  );
}

/** A body: valid JSON of `shape`, a mutation of it, deep JSON, random bytes, or nothing. */
export function bodyOf(shape: fc.Arbitrary<unknown>): fc.Arbitrary<string | Buffer | undefined> {
  return fc.oneof(
    { weight: 4, arbitrary: shape.map((value) => JSON.stringify(value) ?? 'null') },
    { weight: 3, arbitrary: shape.chain((value) => mutatedText(JSON.stringify(value) ?? 'null')) },
    { weight: 1, arbitrary: deepJsonText },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((bytes) => Buffer.from(bytes)) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}
