/**
 * Preloaded into the fuzz server only (`--expose-gc --import ./test/fuzz/gc-on-signal.ts`):
 * SIGUSR2 runs a full garbage collection, so the fuzz run compares RSS after collection
 * before and after its inputs, not whatever garbage happened to be pending; then it writes
 * the V8 heap in use as one line `{"fuzzHeapUsed":<bytes>}` on stdout (RSS keeps what the
 * allocators hold on to; the heap is what the process still references).
 */
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  process.stdout.write(`{"fuzzHeapUsed":${process.memoryUsage().heapUsed}}\n`);
});
