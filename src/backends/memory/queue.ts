/**
 * memory: job queues with timers. One process only and nothing survives a restart; use
 * redis (BullMQ) so jobs are durable and shared by several nodes.
 *
 * Same contract as the Redis queue: ids dedupe (including recently completed jobs),
 * delayed jobs wait on a timer, a handler's `{ retryInMs }` re-schedules the job with
 * the attempt number raised, and `remove` only removes a job that is not running.
 */
import type { JobHandler, JobQueue, JobQueues, JobSpec } from '../ports.ts';

/** A handler that throws is retried after this delay, in milliseconds. */
const THROWN_RETRY_MS = 1000;
/** How long `close` waits for running jobs, in milliseconds. */
const CLOSE_WAIT_MS = 3000;
/** The longest delay one Node timer can wait, in milliseconds. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Completed ids are remembered this long so a replayed enqueue is a no-op, in milliseconds. */
const COMPLETED_RETENTION_MS = 3_600_000;

interface QueuedJob {
  readonly id: string;
  readonly data: string;
  attempt: number;
  state: 'delayed' | 'waiting' | 'running';
  timer: NodeJS.Timeout | null;
}

export class MemoryJobQueue implements JobQueue {
  private readonly jobs = new Map<string, QueuedJob>();
  private readonly ready: QueuedJob[] = [];
  /** id → when it completed (for dedupe). */
  private readonly completed = new Map<string, number>();
  private handler: JobHandler | null = null;
  private concurrency = 1;
  private running = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  async enqueue(jobs: readonly JobSpec[]): Promise<void> {
    if (this.closed) return;
    this.forgetOldCompleted();
    for (const spec of jobs) {
      if (this.jobs.has(spec.id) || this.completed.has(spec.id)) continue;
      const job: QueuedJob = { id: spec.id, data: spec.data, attempt: 1, state: 'waiting', timer: null };
      this.jobs.set(job.id, job);
      this.schedule(job, spec.delayMs ?? 0);
    }
  }

  async remove(id: string): Promise<boolean> {
    const job = this.jobs.get(id);
    if (job === undefined || job.state === 'running') return false;
    if (job.timer !== null) clearTimeout(job.timer);
    this.jobs.delete(id);
    const index = this.ready.indexOf(job);
    if (index >= 0) this.ready.splice(index, 1);
    return true;
  }

  async depth(): Promise<{ waiting: number; delayed: number; active: number }> {
    let delayed = 0;
    for (const job of this.jobs.values()) if (job.state === 'delayed') delayed++;
    return { waiting: this.ready.length, delayed, active: this.running };
  }

  process(handler: JobHandler, concurrency: number): void {
    this.handler = handler;
    this.concurrency = Math.max(1, concurrency);
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.jobs.values()) if (job.timer !== null) clearTimeout(job.timer);
    // Running jobs get a short grace (a provider call may hang until its timeout); this
    // process's memory queue dies with it anyway.
    if (this.running > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_WAIT_MS);
        timer.unref();
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private schedule(job: QueuedJob, delayMs: number): void {
    if (delayMs > 0) {
      job.state = 'delayed';
      // setTimeout fires at once past 2^31-1 ms (~24.8 days): wait in steps instead.
      const step = Math.min(delayMs, MAX_TIMER_MS);
      job.timer = setTimeout(() => {
        job.timer = null;
        if (delayMs > step) return this.schedule(job, delayMs - step);
        job.state = 'waiting';
        this.ready.push(job);
        this.pump();
      }, step);
      return;
    }
    job.state = 'waiting';
    this.ready.push(job);
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.handler !== null && this.running < this.concurrency && this.ready.length > 0) {
      const job = this.ready.shift()!;
      void this.run(job, this.handler);
    }
  }

  private async run(job: QueuedJob, handler: JobHandler): Promise<void> {
    job.state = 'running';
    this.running++;
    let retryInMs: number | null = null;
    try {
      const outcome = await handler({ id: job.id, data: job.data, attempt: job.attempt });
      if (outcome !== undefined) retryInMs = Math.max(0, outcome.retryInMs);
    } catch {
      retryInMs = THROWN_RETRY_MS;
    }
    this.running--;
    if (retryInMs === null) {
      this.jobs.delete(job.id);
      this.completed.set(job.id, Date.now());
    } else if (!this.closed) {
      job.attempt++;
      this.schedule(job, retryInMs);
    }
    if (this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    this.pump();
  }

  private forgetOldCompleted(): void {
    const cutoff = Date.now() - COMPLETED_RETENTION_MS;
    for (const [id, at] of this.completed) {
      if (at > cutoff) break; // insertion order = completion order
      this.completed.delete(id);
    }
  }
}

export class MemoryJobQueues implements JobQueues {
  private readonly queues = new Map<string, MemoryJobQueue>();

  /** Options are for durable queues (lock expiry); this one dies with its process. */
  queue(name: string): MemoryJobQueue {
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = new MemoryJobQueue();
      this.queues.set(name, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
  }
}
