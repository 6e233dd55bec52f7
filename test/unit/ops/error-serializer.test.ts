/**
 * Errors reach the log without the arguments of the Redis command that failed (ioredis
 * errors carry `command: { name, args }`, and AUTH's args are the login), wherever the
 * command sits: on the error, on an error nested in a field or in a list, or under the
 * `error` key; the command's name stays, and the logged error itself is left unchanged.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../../src/ops/logger.ts';

const PASSWORD = 'pw-never-logged-31';

function replyError(name: string, args: string[]): Error & { command: { name: string; args: string[] } } {
  return Object.assign(new Error('WRONGPASS invalid username-password pair or user is disabled.'), { command: { name, args } });
}

test('an error logged as err or error keeps its command name, never its args', () => {
  const lines: string[] = [];
  const log = createLogger('debug', { write: (line: string) => void lines.push(line) }).child({ module: 'test' });
  const auth = replyError('auth', ['user1', PASSWORD]);
  const hello = replyError('hello', ['3', 'AUTH', 'user1', PASSWORD]);
  const wrapped = Object.assign(new Error('the queue failed', { cause: auth }), { lastNodeError: hello, previousErrors: [replyError('auth', [PASSWORD])], detail: { command: { name: 'auth', args: [PASSWORD] } } });
  log.warn({ err: auth }, 'one');
  log.warn({ error: hello }, 'two');
  log.warn({ err: wrapped }, 'three');
  log.warn({ err: new AggregateError([auth, hello], 'both') }, 'four');
  log.warn({ error: 'a plain message' }, 'five');
  assert.equal(lines.length, 5);
  for (const line of lines) assert.ok(!line.includes(PASSWORD), line);
  const [one, two, three, four, five] = lines.map((line) => JSON.parse(line) as Record<string, any>);
  assert.deepEqual(one!.err.command, { name: 'auth' });
  assert.match(one!.err.message, /WRONGPASS/);
  assert.deepEqual(two!.error.command, { name: 'hello' });
  assert.deepEqual(three!.err.lastNodeError.command, { name: 'hello' });
  assert.deepEqual(three!.err.previousErrors[0].command, { name: 'auth' });
  assert.deepEqual(three!.err.detail.command, { name: 'auth' });
  assert.deepEqual(four!.err.aggregateErrors.map((e: { command: unknown }) => e.command), [{ name: 'auth' }, { name: 'hello' }]);
  assert.equal(five!.error, 'a plain message');
  // The errors themselves still carry their commands (the serializer copies, never edits them).
  assert.deepEqual(auth.command.args, ['user1', PASSWORD]);
  assert.deepEqual((wrapped.detail.command as { args: string[] }).args, [PASSWORD]);
  assert.deepEqual(wrapped.previousErrors[0]!.command.args, [PASSWORD]);
});

test('a logged url keeps neither the password of its user info nor signing and token query values', () => {
  const lines: string[] = [];
  const log = createLogger('debug', { write: (line: string) => void lines.push(line) });
  log.warn({ url: `https://hooks:${PASSWORD}@example.test/in?token=${PASSWORD}&x=1` }, 'webhook batch dead-lettered');
  const { url } = JSON.parse(lines[0]!) as { url: string };
  assert.equal(url, 'https://hooks:[redacted]@example.test/in?token=[redacted]&x=1');
});
