/**
 * Preloaded into the fuzz server only (`--expose-gc --import ./test/fuzz/gc-on-signal.ts`):
 * SIGUSR2 runs a full garbage collection, so the fuzz run compares RSS after collection
 * before and after its inputs, not whatever garbage happened to be pending.
 */
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
});
