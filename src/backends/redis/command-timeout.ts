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

/**
 * Set on a command once it has a timer (a cluster hands a redirected command on again):
 * the timer while the command is unsettled, null once it settled. A property rather than
 * a WeakSet of armed commands: that held one entry per command in flight, and a WeakSet's
 * entries cost the garbage collector ephemeron work on every cycle.
 */
const TIMER = Symbol('command timeout');

type ArmedCommand = TimedCommand & { [TIMER]?: NodeJS.Timeout | null };

/** The command settled: its timer goes, and a verdict already scheduled finds it settled. */
function settle(this: ArmedCommand): void {
  const timer = this[TIMER];
  if (timer != null) clearTimeout(timer);
  this[TIMER] = null;
}

function arm(command: ArmedCommand, timeoutMs: number): void {
  if (command[TIMER] !== undefined) return;
  command[TIMER] = setTimeout(() => {
    setImmediate(() => {
      if (command[TIMER] !== null && !command.isResolved) command.reject(new Error(TIMED_OUT));
    });
  }, timeoutMs);
  const settled = settle.bind(command);
  command.promise.then(settled, settled);
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
