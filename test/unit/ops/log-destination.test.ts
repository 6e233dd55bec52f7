/**
 * The process logger's stdout destination (ops/log-destination.ts): the lines of one
 * event-loop turn in one write, whole and in order; written at once past the bound; and
 * never lost when the process exits, however it exits.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { test } from 'node:test';
import { MAX_HELD_BYTES, TurnBatchedLines } from '../../../src/ops/log-destination.ts';
import { REPO_ROOT } from '../../helpers/server-process.ts';
import { tsNodeArgs } from '../../helpers/ts-node-args.ts';

function recording(): { lines: TurnBatchedLines; writes: string[] } {
  const writes: string[] = [];
  return { lines: new TurnBatchedLines({ write: (text: string) => void writes.push(text) }), writes };
}

test('the lines of one turn are written together, in order, on the next turn', async () => {
  const { lines, writes } = recording();
  lines.write('{"n":1}\n');
  lines.write('{"n":2}\n');
  lines.write('{"n":3}\n');
  assert.deepEqual(writes, [], 'nothing is written while the turn runs');
  await nextTurn();
  assert.deepEqual(writes, ['{"n":1}\n{"n":2}\n{"n":3}\n']);
  lines.write('{"n":4}\n');
  await nextTurn();
  assert.deepEqual(writes, ['{"n":1}\n{"n":2}\n{"n":3}\n', '{"n":4}\n'], 'a later turn has its own write');
  await nextTurn();
  assert.equal(writes.length, 2, 'a turn with no line writes nothing');
});

test('lines reaching the bound are written at once, so a long turn holds at most the bound', async () => {
  const { lines, writes } = recording();
  const line = `${'x'.repeat(999)}\n`;
  const count = Math.ceil((3 * MAX_HELD_BYTES) / line.length);
  let mostHeld = 0;
  for (let index = 0; index < count; index++) {
    lines.write(line);
    const written = writes.reduce((sum, text) => sum + text.length, 0);
    mostHeld = Math.max(mostHeld, (index + 1) * line.length - written);
  }
  assert.ok(writes.length >= 2, `written ${writes.length} times during the turn`);
  assert.ok(mostHeld < MAX_HELD_BYTES, `held at most ${mostHeld} characters`);
  await nextTurn();
  assert.equal(writes.join(''), line.repeat(count), 'every line once, in order');
});

test('flush writes what is held before it calls back', () => {
  const { lines, writes } = recording();
  lines.write('a\n');
  let called = false;
  lines.flush(() => {
    called = true;
    assert.deepEqual(writes, ['a\n']);
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
  ['the event loop running dry', '', 0],
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
