/**
 * The process logger's stdout destination (ops/log-destination.ts): lines held and
 * written in batches, whole and in order; warn and above at once; written at once past the
 * bound; and never lost when the process exits, however it exits.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once, EventEmitter } from 'node:events';
import { test } from 'node:test';
import { BatchedLines, FLUSH_INTERVAL_MS, MAX_HELD_BYTES } from '../../../src/ops/log-destination.ts';
import { REPO_ROOT } from '../../helpers/server-process.ts';
import { tsNodeArgs } from '../../helpers/ts-node-args.ts';

/** A destination writing into `writes`; `written` is told of each write. */
function recording(intervalMs = FLUSH_INTERVAL_MS): { lines: BatchedLines; writes: string[]; written: EventEmitter } {
  const writes: string[] = [];
  const written = new EventEmitter();
  const sink = {
    write: (text: string) => {
      writes.push(text);
      written.emit('write', text);
    },
  };
  return { lines: new BatchedLines(sink, intervalMs), writes, written };
}

const line = (level: number, n: number): string => `{"level":${level},"time":1,"n":${n}}\n`;

test('info and debug lines are held, then written together, in order, within the interval', async (t) => {
  const { lines, writes, written } = recording(30);
  // The destination's timer keeps nothing alive (exit writes what is held): this one keeps the test's loop up.
  const alive = setTimeout(() => undefined, 5_000);
  t.after(() => clearTimeout(alive));
  const started = performance.now();
  lines.write(line(30, 1));
  lines.write(line(20, 2));
  lines.write(line(30, 3));
  assert.deepEqual(writes, [], 'nothing is written while the lines are held');
  await once(written, 'write');
  const waited = performance.now() - started;
  assert.deepEqual(writes, [line(30, 1) + line(20, 2) + line(30, 3)]);
  assert.ok(waited >= 25 && waited < 1_000, `written after ${waited.toFixed(0)} ms`);
  lines.write(line(30, 4));
  await once(written, 'write');
  assert.deepEqual(writes.slice(1), [line(30, 4)], 'a later line has its own batch');
});

for (const level of [40, 50, 60]) {
  test(`a line at level ${level} is written at once, after every line held before it`, () => {
    const { lines, writes } = recording();
    lines.write(line(30, 1));
    lines.write(line(level, 2));
    assert.deepEqual(writes, [line(30, 1) + line(level, 2)]);
    lines.flushSync();
    assert.equal(writes.length, 1, 'nothing is left held');
  });
}

test('a line whose level cannot be read is written at once', () => {
  const { lines, writes } = recording();
  lines.write(line(30, 1));
  lines.write('{"msg":"no level first"}\n');
  assert.equal(writes.length, 1);
  lines.write('{"level":"info","msg":"a label"}\n');
  assert.equal(writes.length, 2);
  lines.write('{"level":100,"msg":"three digits"}\n');
  assert.equal(writes.length, 3);
});

test('lines reaching the bound are written at once, so a burst holds at most the bound', () => {
  const { lines, writes } = recording();
  const long = `{"level":30,"pad":"${'x'.repeat(980)}"}\n`;
  const count = Math.ceil((3 * MAX_HELD_BYTES) / long.length);
  let mostHeld = 0;
  for (let index = 0; index < count; index++) {
    lines.write(long);
    const written = writes.reduce((sum, text) => sum + text.length, 0);
    mostHeld = Math.max(mostHeld, (index + 1) * long.length - written);
  }
  assert.ok(writes.length >= 2, `written ${writes.length} times during the burst`);
  assert.ok(mostHeld < MAX_HELD_BYTES, `held at most ${mostHeld} characters`);
  lines.flushSync();
  assert.equal(writes.join(''), long.repeat(count), 'every line once, in order');
});

test('flush writes what is held before it calls back', () => {
  const { lines, writes } = recording();
  lines.write(line(30, 1));
  let called = false;
  lines.flush(() => {
    called = true;
    assert.deepEqual(writes, [line(30, 1)]);
  });
  assert.ok(called);
});

/** Runs a script in a child process with roomcast's own logger; returns its stdout. */
function runChild(script: string): Promise<{ stdout: string; code: number | null }> {
  const source = `import { createLogger } from ${JSON.stringify(`${REPO_ROOT}src/ops/logger.ts`)};\nconst log = createLogger('info');\n${script}`;
  const child = spawn(process.execPath, [...tsNodeArgs(), '--input-type=module', '-e', source], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ stdout, code })));
}

const messages = (stdout: string): string[] =>
  stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as { msg: string }).msg);

for (const [how, ending, code] of [
  ['process.exit in the same turn', 'process.exit(3);', 3],
  ['an uncaught exception in the same turn', "throw new Error('boom');", 1],
  ['the event loop running dry (the held lines keep no timer alive)', '', 0],
] as const) {
  test(`the lines held at exit are written (${how})`, async () => {
    const { stdout, code: exitCode } = await runChild(`for (let n = 0; n < 5; n++) log.info('line ' + n);\n${ending}`);
    assert.equal(exitCode, code);
    assert.deepEqual(messages(stdout), ['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
  });
}

test('a logger made without a destination writes through the process stdout lines', async () => {
  const { createLogger } = await import('../../../src/ops/logger.ts');
  const { symbols } = await import('pino');
  const { processStdoutLines } = await import('../../../src/ops/log-destination.ts');
  const stream = (createLogger('info') as unknown as Record<symbol, unknown>)[symbols.streamSym];
  assert.equal(stream, processStdoutLines());
  assert.equal((createLogger('warn') as unknown as Record<symbol, unknown>)[symbols.streamSym], stream, 'one destination per process');
});
