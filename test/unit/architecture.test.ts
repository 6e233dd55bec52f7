/**
 * Layering, checked by scanning imports: core imports no door, backend, HTTP, ws or
 * Redis module; doors never import backends; backends import no door. Only app.ts picks
 * a backend (imports backends/index.ts).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const root = new URL('../../src/', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
    (m) => m[1]!,
  );
}

const all = files(root).map((path) => ({ path: relative(root, path), imports: importsOf(path) }));

function violations(layer: string, forbidden: RegExp): string[] {
  return all.filter((f) => f.path.startsWith(layer)).flatMap((f) => f.imports.filter((i) => forbidden.test(i)).map((i) => `${f.path} imports ${i}`));
}

test('core/ imports no doors, backends, HTTP, ws or Redis', () => {
  assert.deepEqual(violations('core/', /\/doors\/|\/backends\/(?!ports\.ts)|^fastify|^ws$|^ioredis|^@fastify\//), []);
});

test('doors/ never import backends/', () => {
  assert.deepEqual(violations('doors/', /\/backends\/|^ioredis/), []);
});

test('doors/ import nothing from ops/ (ops sits above them), type-only imports included', () => {
  assert.deepEqual(violations('doors/', /\/ops\//), []);
});

test('backends/ import no doors or protocol libraries', () => {
  assert.deepEqual(violations('backends/', /\/doors\/|^fastify|^ws$|^@fastify\//), []);
});

test('only app.ts chooses the backend', () => {
  const choosers = all.filter((f) => f.imports.some((i) => /backends\/index\.ts$/.test(i))).map((f) => f.path);
  assert.deepEqual(choosers, ['app.ts']);
});

test('push/ is a domain area: no HTTP server, WebSocket, Redis or queue library, no doors, only backend ports', () => {
  assert.deepEqual(violations('push/', /\/doors\/|\/backends\/(?!ports\.ts)|^fastify|^@fastify\/|^ws$|^ioredis|^bullmq/), []);
});

test('core/ does not depend on push/ (push builds on the core, not the reverse)', () => {
  assert.deepEqual(violations('core/', /\/push\//), []);
});

test('errors.ts is the lowest layer: it imports no other roomcast module', () => {
  const errors = all.find((f) => f.path === 'errors.ts');
  assert.ok(errors, 'src/errors.ts exists');
  assert.deepEqual(errors.imports.filter((i) => i.startsWith('.')), []);
});

test('backends/ never reach up into core/ (only shared types through ports and errors.ts)', () => {
  assert.deepEqual(violations('backends/', /\/core\//), []);
});

test('webhooks/ is a domain area like push/: no HTTP server, WebSocket, Redis or queue library, no doors, only backend ports', () => {
  assert.deepEqual(violations('webhooks/', /\/doors\/|\/backends\/(?!ports\.ts)|^fastify|^@fastify\/|^ws$|^ioredis|^bullmq/), []);
});

test('delivery/ (shared by push and webhooks) sits below them and above core: no push, webhooks, doors, core or libraries of protocols', () => {
  assert.deepEqual(violations('delivery/', /\/push\/|\/webhooks\/|\/doors\/|\/core\/|\/backends\/(?!ports\.ts)|^fastify|^ws$|^ioredis|^bullmq/), []);
});

test('core/ does not depend on webhooks/ or delivery/ (they observe the core)', () => {
  assert.deepEqual(violations('core/', /\/webhooks\/|\/delivery\//), []);
});

/** Import cycles among roomcast's own modules (type-only imports included), each as a path. */
function importCycles(): string[] {
  const edges = new Map(all.map((f) => [f.path, f.imports.filter((i) => i.startsWith('.')).map((i) => relative(root, join(root, f.path, '..', i)))]));
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (path: string): void => {
    state.set(path, 'open');
    stack.push(path);
    for (const next of edges.get(path) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].join(' → '));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(path, 'done');
  };
  for (const path of [...edges.keys()].sort()) if (!state.has(path)) visit(path);
  return cycles;
}

test('src/ modules import one another without cycles', () => {
  assert.deepEqual(importCycles(), []);
});
