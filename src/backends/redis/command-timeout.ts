/**
 * redis: the per-command timeout (`commandTimeoutMs`), judged after the replies that
 * already arrived have been read.
 *
 * ioredis's own `commandTimeout` rejects from a timer. After the node's event loop stalled
 * longer than the timeout (a long synchronous task, a starved process on a busy machine),
 * Node runs due timers *before* it reads the sockets, so every command in flight failed
 * with a timeout although Redis had answered it long ago and the answer sat unread in
 * the socket: each in-flight publish became a 503. Here the timer only schedules the
 * verdict for after the next I/O poll (`setImmediate`); an answer that is already there
 * settles the command first, and only a command still unanswered then times out, with
 * the error ioredis would give ("Command timed out").
 *
 * Guarantee: a command fails with a timeout only when no answer had reached this node's
 * socket by the time the event loop next polled after `commandTimeoutMs` elapsed.
 */
import type { Cluster, Redis } from 'ioredis';

/** The part of ioredis's `Command` this timeout uses. */
interface TimedCommand {
  readonly promise: Promise<unknown>;
  isResolved: boolean;
  reject(error: Error): void;
}

const TIMED_OUT = 'Command timed out';

/** Commands already given a timer (a cluster hands a redirected command on again). */
const armed = new WeakSet<object>();

function arm(command: TimedCommand, timeoutMs: number): void {
  if (armed.has(command)) return;
  armed.add(command);
  let settled = false;
  const timer = setTimeout(() => {
    setImmediate(() => {
      if (!settled && !command.isResolved) command.reject(new Error(TIMED_OUT));
    });
  }, timeoutMs);
  const clear = (): void => {
    settled = true;
    clearTimeout(timer);
  };
  command.promise.then(clear, clear);
}

/**
 * Gives every command `client` sends (single commands, pipelines, transactions) a
 * timeout of `timeoutMs`. The client must be created without ioredis's `commandTimeout`
 * (on a cluster, without it in `redisOptions`): this replaces it.
 */
export function applyCommandTimeout<T extends Redis | Cluster>(client: T, timeoutMs: number): T {
  const send = client.sendCommand.bind(client) as (command: TimedCommand, ...rest: unknown[]) => unknown;
  const timed = (command: TimedCommand, ...rest: unknown[]): unknown => {
    arm(command, timeoutMs);
    return send(command, ...rest);
  };
  Object.defineProperty(client, 'sendCommand', { value: timed, writable: true, configurable: true });
  return client;
}
