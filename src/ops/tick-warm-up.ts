/**
 * Warms `process.nextTick` before the app is built: a few thousand calls with one plain
 * callback, spread over a few event-loop turns, so V8 optimises it while its feedback
 * is clean.
 *
 * Why: Node's streams and HTTP server call `process.nextTick` several times per request
 * and per socket write (resume, end of read, write completion, destroy). Left alone,
 * V8 optimises it during the app's start-up (Fastify's plugin loading calls it in bursts),
 * and the code it makes then takes a runtime call to build each tick object: measured on
 * this project's server, ≈ 830 ns per call against ≈ 130 ns once warmed here, a few µs
 * per request (docs/performance.md, "`process.nextTick` warmed before the app is
 * built"). The warm-up costs ≈ 2 ms once per process.
 *
 * Guarantee: runs at most once per process; callbacks queued meanwhile by others run as
 * usual (the warm-up only adds no-op ticks and yields to the event loop between batches).
 */

/** Batches of `BATCH` calls: enough for V8 to find the function hot and stable. */
const BATCHES = 10;
const BATCH = 1000;

let warmed: Promise<void> | null = null;

/** Resolves once `process.nextTick` was warmed (at once after the first call in a process). */
export function warmNextTick(): Promise<void> {
  warmed ??= (async () => {
    const noop = (): void => {};
    for (let batch = 0; batch < BATCHES; batch++) {
      for (let call = 0; call < BATCH; call++) process.nextTick(noop);
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  return warmed;
}
