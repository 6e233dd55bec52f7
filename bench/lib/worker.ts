/**
 * The worker side of proc.ts: answers `{ id, command, args }` messages from the
 * orchestrator with `{ id, result }` or `{ id, error }`, and exits when the orchestrator
 * goes away (so a killed run never leaves load generators behind).
 */
export type Handler = (args: never) => unknown;

export function serveWorker(handlers: Record<string, Handler>): void {
  if (process.send === undefined) {
    process.stderr.write('this file is a benchmark worker: start it through `npm run bench`\n');
    process.exit(2);
  }
  process.on('message', (raw: unknown) => {
    const message = raw as { id: number; command: string; args?: unknown };
    const handler = handlers[message.command];
    if (handler === undefined) {
      process.send?.({ id: message.id, error: `unknown command ${message.command}` });
      return;
    }
    Promise.resolve()
      .then(() => (handler as (args: unknown) => unknown)(message.args))
      .then(
        (result) => process.send?.({ id: message.id, result: result ?? null }),
        (error: unknown) => process.send?.({ id: message.id, error: error instanceof Error ? error.stack ?? error.message : String(error) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  process.send({ ready: true });
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
