/**
 * redis: durable job queues on BullMQ. Delayed jobs, retries and removal are BullMQ's;
 * several nodes process one queue and BullMQ's per-job lock guarantees a job runs on
 * one worker at a time. A worker that dies stops renewing its lock; after
 * `lockDurationMs` another node's stalled-job check moves the job back to the wait list
 * and it runs again there (at-least-once).
 *
 * Retries: the handler returns `{ retryInMs }`; we turn that into a failed attempt whose
 * backoff is exactly that delay (a custom backoff strategy), so BullMQ keeps the job
 * durable in its delayed set between attempts, on whichever node picks it up next.
 */
import type { Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { RedisConfig } from '../../config/schema.ts';
import { BASE_CLIENT_OPTIONS, createClient, type RedisClient } from './connection.ts';
import type { Logger } from 'pino';
import { createError, createErrorWith, isRoomcastError } from '../../errors.ts';
import type { JobHandler, JobQueue, JobQueueOptions, JobQueues, JobSpec, StoreOutage } from '../ports.ts';

/** The handler, not BullMQ, decides when to give up; this only bounds a runaway job. */
const MAX_ATTEMPTS = 1000;
/** A handler that throws is retried after this delay, in milliseconds. */
const THROWN_RETRY_MS = 1000;
/** Completed job ids are kept this long so a replayed enqueue is a no-op, in seconds. */
const COMPLETED_RETENTION_SEC = 3600;

export interface RedisQueueOptions {
  readonly url: string;
  /** The deployment (Sentinel, Cluster); when absent, the standalone Redis at `url`. */
  readonly redis?: RedisConfig;
  /** Key prefix of the deployment (`backend.redis.keyPrefix`); BullMQ keys go under `{prefix}bull`. */
  readonly keyPrefix: string;
  /** A job whose worker stopped renewing its lock for this long runs again elsewhere, in milliseconds. Default 30000. */
  readonly lockDurationMs?: number;
  /** How often each worker looks for stalled jobs, in milliseconds. Default 15000. */
  readonly stalledIntervalMs?: number;
  /** Enqueue and remove fail with RC_ERR_BACKEND_TIMEOUT after this long (BullMQ's own connection would wait forever). Default 2000. */
  readonly commandTimeoutMs?: number;
  readonly logger: Logger;
  /**
   * The backend's outage episodes (ports.ts `StoreOutage`): a queue outage that starts
   * while one is open is counted there (`queueErrors`) and logged at debug, its own warn
   * pair left out.
   */
  readonly outage?: StoreOutage;
}

/** How often an open queue outage checks whether Redis answers again, in milliseconds. */
const OUTAGE_RECHECK_MS = 1000;

/** ioredis states of a connection that is on its way back, not usable yet. */
const NOT_BACK_STATES: ReadonlySet<string> = new Set(['connecting', 'connect', 'reconnecting', 'close']);

/**
 * The job queues' Redis outage in the log, as the doors log the core's
 * (doors/outage-log.ts): ONE warn at the first error BullMQ reports (a queue's or a
 * worker's), ONE warn when Redis answers again on every queue connection, with how long it
 * was away and how many errors came meanwhile. The errors in between (BullMQ reports one
 * per failed call and per reconnection attempt of each of its connections) are debug
 * lines. While it is open, a timer checks Redis once a second; when the first check finds
 * Redis answering, the error was no outage (a failed script, a blip under a second): no
 * "back" line, and the next error warns again. One per `RedisJobQueues`: all its queues
 * use one Redis. A queue outage that starts within an episode of the backend's outage
 * (`outage`) is that episode's: its errors are counted there, and its two lines are debug.
 */
class QueueOutage {
  private since = 0;
  private errors = 0;
  /** Checks of the open outage that found Redis still away. */
  private failedChecks = 0;
  private checking = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** True while the open queue outage is an episode of the backend's (its lines are debug). */
  private covered = false;

  constructor(
    private readonly logger: Logger,
    /** True when Redis answers on every connection of the queues. */
    private readonly answers: () => Promise<boolean>,
    private readonly outage: StoreOutage | undefined,
  ) {}

  /** Logs `error` of the queue `queue` (`source`: its Queue or its Worker): a warn if it opens an outage, else debug. */
  failed(error: unknown, queue: string, source: 'queue' | 'worker'): void {
    this.errors++;
    const counted = this.outage?.count('queueErrors') === true;
    if (this.since !== 0 || this.closed) {
      this.logger.debug({ err: error, queue }, `job ${source} error`);
      return;
    }
    this.since = Date.now();
    this.errors = 1;
    this.failedChecks = 0;
    this.covered = counted;
    const message = `job ${source} error: the job queues wait for redis (jobs are kept and run once it answers); further errors are debug lines until then`;
    if (counted) this.logger.debug({ err: error, queue }, message);
    else this.logger.warn({ err: error, queue }, message);
    this.timer = setInterval(() => void this.recheck(), OUTAGE_RECHECK_MS);
    this.timer.unref();
  }

  /** Stops checking (the queues are closing); errors from now on are debug lines. */
  close(): void {
    this.closed = true;
    this.stopTimer();
  }

  private async recheck(): Promise<void> {
    if (this.checking || this.since === 0) return;
    this.checking = true;
    let back = false;
    try {
      back = await this.answers();
    } catch {
      back = false;
    } finally {
      this.checking = false;
    }
    if (this.since === 0 || this.closed) return;
    if (!back) {
      this.failedChecks++;
      return;
    }
    const awayMs = Date.now() - this.since;
    // Redis answered at the first check: the error was not an outage (or a blip under a
    // second), and its warn stands alone; the next error warns again.
    if (this.failedChecks === 0) this.logger.debug({ awayMs, errors: this.errors }, 'the job queues answered at the first check after the error');
    else if (this.covered) this.logger.debug({ awayMs, errors: this.errors }, `the job queues are back on redis after ${awayMs} ms; ${this.errors} queue errors meanwhile`);
    else this.logger.warn({ awayMs, errors: this.errors }, `the job queues are back on redis after ${awayMs} ms; ${this.errors} queue errors meanwhile`);
    this.since = 0;
    this.errors = 0;
    this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Worker errors within one window that mean its fetch loop runs without waiting, not a reconnecting connection. */
const SPIN_ERRORS = 50;
const SPIN_WINDOW_MS = 1000;
/** How long a spinning worker rests first, and at most (doubling while it spins again), in milliseconds. */
const REST_MIN_MS = 1000;
const REST_MAX_MS = 30_000;

/**
 * Stops a BullMQ worker whose fetch loop spins. BullMQ retries a failed fetch at once when
 * the error is not one it knows as a lost connection (a login Redis refuses, a failing
 * script): the loop then runs on microtasks alone, starving the event loop (no HTTP
 * answer, no timer, no signal) while it emits thousands of errors a second. Past
 * `SPIN_ERRORS` errors in `SPIN_WINDOW_MS`, the worker is paused (its jobs in flight run
 * on) and resumed after a rest of 1 s, doubling up to 30 s while it spins again; jobs wait
 * in Redis meanwhile. A reconnecting connection's errors come at its backoff's pace and
 * never reach the threshold.
 */
class WorkerBrake {
  private windowStart = 0;
  private errors = 0;
  private restMs = REST_MIN_MS;
  private resting = false;
  private lastRestEnded = 0;

  constructor(private readonly worker: Worker) {}

  failed(): void {
    const now = Date.now();
    if (now - this.windowStart > SPIN_WINDOW_MS) {
      this.windowStart = now;
      this.errors = 0;
    }
    if (++this.errors < SPIN_ERRORS || this.resting) return;
    // Spinning again soon after the last rest: rest longer.
    this.restMs = now - this.lastRestEnded < REST_MAX_MS ? Math.min(REST_MAX_MS, this.restMs * 2) : REST_MIN_MS;
    this.resting = true;
    // pause() sets the flag the fetch loop checks before it awaits anything: the loop ends.
    void this.worker.pause(true).catch(() => undefined);
    setTimeout(() => {
      this.resting = false;
      this.lastRestEnded = Date.now();
      this.errors = 0;
      if (!this.worker.closing) void this.worker.resume().catch(() => undefined);
    }, this.restMs).unref();
  }
}

/**
 * True for BullMQ's errors about a job lock this worker no longer holds (it could not
 * renew it in time, or another worker took the job over): the node stood still or Redis
 * answered late, not a Redis outage; the job runs again under the other lock.
 */
export function isLostJobLock(error: unknown): boolean {
  const message = error instanceof Error ? error.message : '';
  return /^(could not renew lock for job |Missing lock for job |Lock mismatch for job )/.test(message);
}

/** Thrown inside the BullMQ processor to ask for a retry after `retryInMs`. */
class RetryLater extends Error {
  constructor(readonly retryInMs: number) {
    super(`retry in ${retryInMs} ms`);
  }
}

/** How long closing waits for running jobs and BullMQ's own shutdown, in milliseconds. */
const CLOSE_WAIT_MS = 3000;

/** True when `work` settled in time; failures and timeouts are logged, never thrown. */
async function settlesWithin(work: Promise<unknown>, ms: number, logger: Logger, what: string): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = work.then(
    () => true,
    (error: unknown) => {
      logger.warn({ err: error }, `closing a ${what} failed`);
      return true;
    },
  );
  const done = await Promise.race([settled, timedOut]);
  clearTimeout(timer);
  if (!done) logger.warn({ waitedMs: ms }, `closing a ${what} timed out; dropping its connection`);
  return done;
}

/** BullMQ is loaded on first use, so nodes on the memory backend never pay its start-up cost. */
let bullmqLoaded: Promise<typeof import('bullmq')> | null = null;
const loadBullmq = (): Promise<typeof import('bullmq')> => (bullmqLoaded ??= import('bullmq'));

export class RedisJobQueue implements JobQueue {
  private queueReady: Promise<Queue> | null = null;
  private workerStarting: Promise<void> | null = null;
  private worker: Worker | null = null;
  private closed = false;
  private workerConnection: RedisClient | null = null;
  /** Connections BullMQ made from ours (its blocking connection): dropped on close, whatever state BullMQ is in. */
  private readonly derivedConnections = new Set<RedisClient>();
  private closing: Promise<void> | null = null;

  constructor(
    private readonly name: string,
    private readonly connection: RedisClient,
    private readonly options: RedisQueueOptions,
    private readonly outage: QueueOutage,
  ) {}

  /** The connections this queue made (its worker's, and those BullMQ derived from it). */
  ownConnections(): RedisClient[] {
    return [...(this.workerConnection === null ? [] : [this.workerConnection]), ...this.derivedConnections];
  }

  /** BullMQ's key prefix; on a cluster one hash tag, so each BullMQ script stays in one slot (BullMQ's rule). */
  private get prefix(): string {
    return this.options.redis?.cluster === undefined ? `${this.options.keyPrefix}bull` : `{${this.options.keyPrefix}bull}`;
  }

  private queue(): Promise<Queue> {
    this.queueReady ??= loadBullmq().then(({ Queue: BullQueue }) => {
      const queue = new BullQueue(this.name, { connection: this.connection, prefix: this.prefix });
      queue.on('error', (error) => this.outage.failed(error, this.name, 'queue'));
      return queue;
    });
    return this.queueReady;
  }

  async enqueue(jobs: readonly JobSpec[]): Promise<void> {
    if (jobs.length === 0) return;
    try {
      const queue = await this.queue();
      await this.bounded(() => queue.addBulk(
        jobs.map((job) => ({
          name: 'job',
          data: job.data,
          opts: {
            jobId: job.id,
            delay: Math.max(0, job.delayMs ?? 0),
            attempts: MAX_ATTEMPTS,
            backoff: { type: 'handler' },
            removeOnComplete: { age: COMPLETED_RETENTION_SEC },
            removeOnFail: { age: COMPLETED_RETENTION_SEC * 24 },
          },
        })),
      ));
    } catch (error) {
      if (isRoomcastError(error)) throw error;
      throw createErrorWith('RC_ERR_BACKEND_UNAVAILABLE', { cause: error }, 'redis', (error as Error).message);
    }
  }

  async remove(id: string): Promise<boolean> {
    try {
      const queue = await this.queue();
      const state = await this.bounded(() => queue.getJobState(id));
      if (state !== 'waiting' && state !== 'delayed' && state !== 'prioritized') return false;
      // BullMQ refuses (0) when a worker holds the job's lock: it has started.
      return (await this.bounded(() => queue.remove(id))) === 1;
    } catch (error) {
      if (isRoomcastError(error)) throw error;
      throw createErrorWith('RC_ERR_BACKEND_UNAVAILABLE', { cause: error }, 'redis', (error as Error).message);
    }
  }

  async depth(): Promise<{ waiting: number; delayed: number; active: number }> {
    try {
      const queue = await this.queue();
      const counts = await this.bounded(() => queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active'));
      return { waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0), delayed: counts.delayed ?? 0, active: counts.active ?? 0 };
    } catch (error) {
      if (isRoomcastError(error)) throw error;
      throw createErrorWith('RC_ERR_BACKEND_UNAVAILABLE', { cause: error }, 'redis', (error as Error).message);
    }
  }

  process(handler: JobHandler, concurrency: number): void {
    if (this.workerStarting !== null) return;
    const processor = async (job: Job): Promise<void> => {
      const outcome = await handler({ id: job.id ?? '', data: String(job.data), attempt: job.attemptsMade + 1 });
      if (outcome !== undefined) throw new RetryLater(Math.max(0, outcome.retryInMs));
    };
    this.workerStarting = loadBullmq().then(({ Worker: BullWorker }) => {
      if (this.closed) return;
      // BullMQ does not close a connection it was given: we keep it and close it ourselves.
      this.workerConnection =
        this.options.redis === undefined ? (this.connection as Redis).duplicate({ maxRetriesPerRequest: null }) : createClient(this.options.redis, { maxRetriesPerRequest: null });
      this.workerConnection.on('error', () => undefined);
      this.trackDuplicates(this.workerConnection);
      this.worker = this.startWorker(BullWorker, processor, concurrency);
    });
  }

  /** Records the connections BullMQ duplicates from `connection`, so close can drop them. */
  private trackDuplicates(client: RedisClient): void {
    const connection = client as Redis;
    const duplicate = connection.duplicate.bind(connection);
    connection.duplicate = (...args: Parameters<Redis['duplicate']>): Redis => {
      const derived = duplicate(...args);
      this.derivedConnections.add(derived);
      this.trackDuplicates(derived);
      return derived;
    };
  }

  private startWorker(BullWorker: typeof Worker, processor: (job: Job) => Promise<void>, concurrency: number): Worker {
    const worker = new BullWorker(this.name, processor, {
      connection: this.workerConnection!,
      prefix: this.prefix,
      concurrency: Math.max(1, concurrency),
      lockDuration: this.options.lockDurationMs ?? 30_000,
      stalledInterval: this.options.stalledIntervalMs ?? 15_000,
      // A job may be orphaned by several crashes in a row; don't fail it for that.
      maxStalledCount: 10,
      settings: { backoffStrategy: (_attempts, _type, error) => (error instanceof RetryLater ? error.retryInMs : THROWN_RETRY_MS) },
    });
    const brake = new WorkerBrake(worker);
    worker.on('error', (error) => {
      if (isLostJobLock(error)) {
        // Not Redis going away: this node held a job past its lock (it stood still), and another runs it.
        this.options.logger.info({ err: error, queue: this.name }, 'a job lock was lost: this node stood still (or Redis was slow) past lockDurationMs; another node runs the job');
        return;
      }
      this.outage.failed(error, this.name, 'worker');
      if (!this.closed) brake.failed();
    });
    return worker;
  }

  /** Runs a BullMQ call, failing with RC_ERR_BACKEND_TIMEOUT if Redis does not answer in time. */
  private bounded<T>(work: () => Promise<T>): Promise<T> {
    const timeoutMs = this.options.commandTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(createError('RC_ERR_BACKEND_TIMEOUT', 'redis', timeoutMs)), timeoutMs);
    });
    return Promise.race([work(), timeout]).finally(() => clearTimeout(timer));
  }

  close(): Promise<void> {
    // Closing must finish even while Redis is down: failures are logged, connections dropped.
    // BullMQ's close waits on its connections; one that is reconnecting could make it
    // wait forever, so each step is bounded and the connections are then dropped.
    this.closing ??= (async () => {
      this.closed = true;
      await this.workerStarting;
      const worker = this.worker;
      // A second close(true) returns the first, still-pending close, so after a timeout we
      // force-disconnect instead: that drops BullMQ's own blocking connection too, which
      // would otherwise keep reconnecting to a dead Redis and hold the process open.
      if (worker !== null && !(await settlesWithin(worker.close(), CLOSE_WAIT_MS, this.options.logger, 'job worker'))) {
        // disconnect() waits for each connection's 'end', which a half-reconnected one may never emit: bound it too.
        await settlesWithin(worker.disconnect(), CLOSE_WAIT_MS, this.options.logger, 'job worker connection');
      }
      const queue = this.queueReady === null ? null : await this.queueReady;
      if (queue !== null && !(await settlesWithin(queue.close(), CLOSE_WAIT_MS, this.options.logger, 'job queue'))) {
        await settlesWithin(queue.disconnect(), CLOSE_WAIT_MS, this.options.logger, 'job queue connection');
      }
      this.workerConnection?.disconnect();
      // A worker whose close timed out may leave its blocking connection reconnecting
      // forever (holding the process open): drop every connection derived from ours.
      for (const derived of this.derivedConnections) derived.disconnect();
      this.derivedConnections.clear();
    })();
    return this.closing;
  }
}

/** BullMQ queues on one Redis; each queue shares one command connection. */
export class RedisJobQueues implements JobQueues {
  private readonly queues = new Map<string, RedisJobQueue>();
  private readonly connection: RedisClient;
  private readonly outage: QueueOutage;

  constructor(private readonly options: RedisQueueOptions) {
    // BullMQ needs retries unbounded on its connections (blocking commands wait across reconnects).
    this.connection =
      options.redis === undefined ? new Redis(options.url, { ...BASE_CLIENT_OPTIONS, maxRetriesPerRequest: null, lazyConnect: false }) : createClient(options.redis, { maxRetriesPerRequest: null, lazyConnect: false });
    // Its errors reach the log through the queues using it (BullMQ re-emits them).
    this.connection.on('error', () => undefined);
    this.outage = new QueueOutage(options.logger, () => this.answers(), options.outage);
  }

  /** True when no queue connection is still reconnecting and Redis answers a PING within the command timeout. */
  private async answers(): Promise<boolean> {
    const connections = [this.connection, ...[...this.queues.values()].flatMap((queue) => queue.ownConnections())];
    if (connections.some((connection) => NOT_BACK_STATES.has(connection.status))) return false;
    const timeoutMs = this.options.commandTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.connection.ping().then((reply) => reply === 'PONG'), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  queue(name: string, options: JobQueueOptions = {}): RedisJobQueue {
    let queue = this.queues.get(name);
    if (queue === undefined) {
      // BullMQ checks for stalled jobs every stalledIntervalMs: half the lock keeps failover within ~1.5 × the lock.
      const lock = options.lockMs === undefined ? {} : { lockDurationMs: options.lockMs, stalledIntervalMs: Math.max(100, Math.floor(options.lockMs / 2)) };
      queue = new RedisJobQueue(name, this.connection, { ...this.options, ...lock }, this.outage);
      this.queues.set(name, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    this.outage.close();
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.connection.disconnect();
  }
}
