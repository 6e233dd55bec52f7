/**
 * redis: command latency and errors, and bus reconnects, for metrics. Every connection
 * roomcast makes with `createConnection` reports here (commands, scripts and pipelined
 * commands alike, each timed from send to answer); the cost per command is one clock read
 * and one promise callback.
 */
import type { Cluster, Command, Redis } from 'ioredis';
import type { BackendTelemetry, HistogramSnapshot } from '../ports.ts';

/** Round-trip buckets, in seconds. */
const LATENCY_BOUNDS_SEC = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class RedisTelemetry implements BackendTelemetry {
  private readonly errors = new Map<string, number>();
  private readonly counts = new Array<number>(LATENCY_BOUNDS_SEC.length + 1).fill(0);
  private sum = 0;
  private count = 0;
  busReconnects = 0;
  /** Reads the bus's live topic count (set once the bus exists). */
  busTopicCount: () => number = () => 0;

  get busTopics(): number {
    return this.busTopicCount();
  }

  get commandErrors(): ReadonlyMap<string, number> {
    return this.errors;
  }

  get commandLatency(): HistogramSnapshot {
    return { bounds: LATENCY_BOUNDS_SEC, counts: this.counts, sum: this.sum, count: this.count };
  }

  /** Times every command the connection sends (including pipelined ones). */
  instrument(client: Redis | Cluster): void {
    // On a cluster this wraps the cluster's own sendCommand (once per command, whatever
    // node and redirections serve it), not the per-node connections'.
    const target = client as unknown as { sendCommand: (command: Command, ...rest: unknown[]) => unknown };
    const send = target.sendCommand.bind(target);
    target.sendCommand = (command: Command, ...rest: unknown[]) => {
      const started = performance.now();
      command.promise.then(
        () => this.observe(performance.now() - started),
        (error: unknown) => {
          this.observe(performance.now() - started);
          this.fail(error);
        },
      );
      return send(command, ...rest);
    };
  }

  private observe(ms: number): void {
    const seconds = ms / 1000;
    let i = 0;
    while (i < LATENCY_BOUNDS_SEC.length && seconds > LATENCY_BOUNDS_SEC[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }

  private fail(error: unknown): void {
    const kind = error instanceof Error && error.message === 'Command timed out' ? 'timeout' : error instanceof Error && error.name === 'ReplyError' ? 'reply' : 'connection';
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
  }
}
