import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderTemplate, type Template } from '../../../src/push/templates.ts';
import { PushWorker, type WorkerDeps } from '../../../src/push/worker.ts';

const template: Template = {
  templateId: 't1',
  title: { en: 'Hi {{name}}', 'pt-BR': 'Olá {{ name }}' },
  body: { '': '{{count}} new' },
  data: { link: '/u/{{name}}' },
  defaultLocale: 'en',
  createdAt: 0,
};

test('renderTemplate fills every locale and the default', () => {
  const out = renderTemplate(template, { name: 'Ada', count: 3 });
  // data maps have no prototype (client keys never reach Object.prototype); compare as JSON.
  assert.deepEqual(JSON.parse(JSON.stringify(out.en)), { title: 'Hi Ada', body: '3 new', data: { link: '/u/Ada' } });
  assert.equal(out['pt-BR']!.title, 'Olá Ada');
  assert.equal(out['']!.title, 'Hi Ada');
});

test('renderTemplate names the missing placeholder; objects and __proto__ are not values', () => {
  assert.throws(() => renderTemplate(template, { name: 'Ada' }), /needs placeholder \{\{count\}\}/);
  assert.throws(() => renderTemplate(template, { name: { x: 1 }, count: 1 }), /\{\{name\}\}/);
  assert.throws(() => renderTemplate(template, JSON.parse('{"__proto__": {"name": "x"}, "count": 1}')), /\{\{name\}\}/);
});

test('retry delay: exponential with jitter, capped; a Retry-After is honoured as given, never shortened', () => {
  const deps = { config: { retryBaseMs: 1000, retryMaxMs: 8000 }, random: () => 0.5 } as unknown as WorkerDeps;
  const worker = new PushWorker(deps);
  assert.deepEqual([1, 2, 3, 4, 5].map((a) => worker.retryDelay(a)), [1000, 2000, 4000, 8000, 8000]);
  assert.equal(worker.retryDelay(1, 5000), 5050);
  // retryMaxMs caps our own backoff only; the worker dead-letters a Retry-After past retryAfterMaxMs instead.
  assert.equal(worker.retryDelay(1, 60_000), 60_050, 'a Retry-After longer than retryMaxMs is not cut short');
  const low = new PushWorker({ ...deps, random: () => 0 } as WorkerDeps);
  const high = new PushWorker({ ...deps, random: () => 0.999 } as WorkerDeps);
  assert.equal(low.retryDelay(2), 1600);
  assert.ok(high.retryDelay(2) <= 2400);
});
