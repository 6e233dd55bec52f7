/**
 * Preloaded into a benchmark server (`node --expose-gc --import bench/lib/memory-probe.mjs …`,
 * see `memoryProbeArgs` in proc.ts): on SIGUSR2 it runs full garbage collections, then
 * writes the process's memory figures as JSON to the file named by BENCH_MEMORY_PROBE
 * (`{ seq, rss, heapUsed, heapTotal, external, arrayBuffers }`, `seq` counting the
 * readings). With BENCH_HEAP_SNAPSHOT_DIR set it also writes a heap snapshot there.
 *
 * Benchmark-only: nothing in src/ installs it, and without BENCH_MEMORY_PROBE it does
 * nothing. Plain JavaScript so it also loads into the compiled build (BENCH_ROOMCAST_RUN=dist).
 */
import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';

const target = process.env.BENCH_MEMORY_PROBE;
if (target !== undefined && target !== '') {
  let seq = 0;
  process.on('SIGUSR2', () => {
    const gc = globalThis.gc;
    if (typeof gc !== 'function') {
      process.stderr.write('memory-probe: start node with --expose-gc\n');
      return;
    }
    // Two full collections: the first one's finalizers (weak callbacks of closed sockets,
    // for instance) release memory that only the second reclaims.
    gc({ type: 'major', execution: 'sync' });
    gc({ type: 'major', execution: 'sync' });
    seq++;
    const usage = process.memoryUsage();
    let snapshot = null;
    const dir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
    if (dir !== undefined && dir !== '') snapshot = writeHeapSnapshot(join(dir, `${process.pid}-${seq}.heapsnapshot`));
    const reading = { seq, rss: usage.rss, heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, external: usage.external, arrayBuffers: usage.arrayBuffers, snapshot };
    // Written whole, then renamed: the reader never sees half a file.
    writeFileSync(`${target}.tmp`, JSON.stringify(reading));
    renameSync(`${target}.tmp`, target);
  });
}
