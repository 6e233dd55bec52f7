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
  reject(error: Error): void;
}

const TIMED_OUT = 'Command timed out';

/**
 * Per command, the promise its timer watches and the timer (null once that promise
 * settled). A cluster hands an unsettled redirected command on again: same promise, so it
 * keeps its timer and its first deadline. A cluster pipeline whose replies were all
 * redirections gives its commands new promises (`initPromise`) and sends them again,
 * possibly before the old promise's reactions ran: a new promise gets a new timer, as a
 * new command would, and the old promise's settling no longer touches it. Properties
 * rather than a WeakMap of armed commands: that held one entry per command in flight, and
 * weak entries cost the garbage collector ephemeron work on every cycle.
 */
const WATCHED = Symbol('command timeout promise');
const TIMER = Symbol('command timeout');

type ArmedCommand = TimedCommand & { [WATCHED]?: Promise<unknown>; [TIMER]?: NodeJS.Timeout | null };

function arm(command: ArmedCommand, timeoutMs: number): void {
  const promise = command.promise;
  if (command[WATCHED] === promise) return;
  const previous = command[TIMER];
  if (previous != null) clearTimeout(previous);
  command[WATCHED] = promise;
  const timer = setTimeout(() => {
    // The verdict after the next I/O poll: a reply already in the socket settles it first.
    setImmediate(() => {
      if (command[WATCHED] === promise && command[TIMER] === timer) command.reject(new Error(TIMED_OUT));
    });
  }, timeoutMs);
  command[TIMER] = timer;
  const settled = (): void => {
    if (command[WATCHED] !== promise) return;
    clearTimeout(timer);
    command[TIMER] = null;
  };
  promise.then(settled, settled);
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
