/**
 * Delivery: the handler of the webhook queue's jobs (see jobs.ts), and this node's lane sweep.
 *
 * A drain sends its lane's items in order, `batchSize` events per request:
 * - delivered (2xx): the batch is acked and the next one goes;
 * - retry (5xx, 408, 429, timeout, network): the failure is counted on the lane's head
 *   and the job asks the queue to run it again after exponential backoff with jitter
 *   (the endpoint's Retry-After when longer). The lane waits meanwhile, so later events
 *   of its channels never overtake this batch; other lanes and endpoints go on. After
 *   `maxAttempts` the batch goes to the dead-letter list and the lane moves on;
 * - rejected (another 4xx): the endpoint refused this body; it is dead-lettered at once.
 * A drain ends when its lane is empty, after a dead letter, or after its time budget; the
 * lane's epoch then moves on and, if items are left, the next epoch's drain is queued.
 *
 * At-least-once: a batch is acked only after its 2xx, so a node that dies mid-request
 * leaves it at the head and the drain runs again elsewhere (the queue's lock expiry).
 * An ack names the head it sent, so two runs of one drain never remove what they did not
 * send; the slower run stops at its failed ack.
 *
 * The lane sweep (every `SWEEP_INTERVAL_MS` on every node) queues the drain of every lane
 * holding items; ids make that a no-op for lanes already being drained. It catches lanes
 * whose drain was never queued (a node died between the outbox append and the enqueue).
 */
import type { Logger } from 'pino';
import type { AppConfig } from '../config/schema.ts';
import type { JobOutcome, JobQueue, OutboxStore, RunningJob } from '../backends/ports.ts';
import type { WebhookDeliveryConfig } from '../config/schema.ts';
import { DeadLetterBox } from '../delivery/dead-letters.ts';
import { backoffDelay } from '../delivery/retry.ts';
import type { WebhookEndpoints } from './endpoints.ts';
import { eventOf, parseLaneItem, webhookBody } from './events.ts';
import { drainJob, parseWebhookJob } from './jobs.ts';
import type { WebhookRecorder } from './recorder.ts';
import type { WebhookSender } from './sender.ts';

/** A drain hands over to the next epoch after this long, in milliseconds (other lanes get the workers too). */
const DRAIN_BUDGET_MS = 5000;
/** How often each node queues the drains of lanes holding items, in milliseconds. */
export const SWEEP_INTERVAL_MS = 5000;

/** A dead-lettered batch. `items` are the lane items as recorded, for replay. */
export interface WebhookDeadLetter {
  readonly id: string;
  readonly url: string;
  readonly lane: string;
  readonly attempts: number;
  readonly reason: string;
  /** ISO time it was dead-lettered. */
  readonly at: string;
  readonly items: readonly string[];
}

/** Delivery outcomes, for metrics: per app, counted in events. */
export interface DeliveryObserver {
  (appId: string, outcome: 'delivered' | 'retried' | 'dead', events: number, latencyMs?: number): void;
}

export interface DispatcherOptions {
  readonly outbox: OutboxStore;
  readonly queue: JobQueue;
  readonly endpoints: WebhookEndpoints;
  readonly recorder: WebhookRecorder;
  readonly sender: WebhookSender;
  readonly deadLetters: DeadLetterBox<WebhookDeadLetter>;
  readonly apps: (appId: string) => AppConfig | undefined;
  readonly config: WebhookDeliveryConfig;
  readonly logger: Logger;
  readonly observe?: DeliveryObserver;
  readonly now?: () => number;
  readonly random?: () => number;
}

export class WebhookDispatcher {
  private readonly now: () => number;

  constructor(private readonly options: DispatcherOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The queue handler. A job whose body is not one of ours is logged and dropped. */
  readonly handle = async (job: RunningJob): Promise<JobOutcome> => {
    const parsed = parseWebhookJob(job.data);
    if (parsed === null) {
      this.options.logger.error({ jobId: job.id }, 'dropping a webhook job whose body is not one');
      return;
    }
    if (parsed.kind === 'check') {
      // Still waiting (the subject left again since): this same job runs again when due.
      const dueInMs = await this.options.recorder.reconcile(parsed.appId, parsed.subject, false, false);
      return dueInMs > 0 ? { retryInMs: dueInMs + 5 } : undefined;
    }
    return this.drain(parsed.lane, parsed.epoch);
  };

  /** Queues the drain of every lane holding items (see the module comment). */
  async sweepLanes(): Promise<void> {
    const lanes = await this.options.outbox.activeLanes();
    if (lanes.size > 0) await this.options.queue.enqueue([...lanes].map(([lane, { epoch }]) => drainJob({ lane, epoch })));
  }

  private async drain(lane: string, epoch: number): Promise<JobOutcome> {
    const { outbox, config } = this.options;
    const deadline = this.now() + DRAIN_BUDGET_MS;
    for (;;) {
      const head = await outbox.peek(lane, config.batchSize);
      if (head.items.length === 0) break;
      const step = await this.sendHead(lane, head.head, head.items, head.tries);
      if (step === 'stop') break;
      if (step !== 'next') return step;
      if (this.now() >= deadline) break;
    }
    const finished = await outbox.finish(lane, epoch);
    if (finished.moved && finished.length > 0) await this.options.queue.enqueue([drainJob({ lane, epoch: finished.epoch })]);
  }

  /** Sends one batch: `next` (acked, go on), `stop` (end this drain), or a retry for the queue. */
  private async sendHead(lane: string, head: number, texts: readonly string[], tries: number): Promise<'next' | 'stop' | { retryInMs: number }> {
    const { outbox, endpoints, config } = this.options;
    const endpoint = endpoints.endpointOfLane(lane);
    const app = endpoint === undefined ? undefined : this.options.apps(endpoint.appId);
    const appId = lane.slice(0, lane.indexOf('|'));
    if (endpoint === undefined || app === undefined) {
      await this.deadLetter(appId, lane, '', texts, tries, 'the endpoint is no longer configured');
      return (await outbox.ack(lane, head, texts.length)) ? 'next' : 'stop';
    }
    const events: Record<string, unknown>[] = [];
    let oldest = Infinity;
    for (const text of texts) {
      const item = parseLaneItem(text);
      if (item === null) {
        this.options.logger.error({ lane }, 'a webhook lane item does not parse; it is dead-lettered');
        continue;
      }
      events.push(eventOf(item));
      oldest = Math.min(oldest, item.t);
    }
    const sentAt = this.now();
    const result = events.length === 0 ? ({ kind: 'delivered', status: 0 } as const) : await this.options.sender.send({
      url: endpoint.url,
      body: webhookBody(events, sentAt),
      appKey: app.key,
      appSecret: app.secret,
      headers: endpoint.headers,
    });
    if (result.kind === 'delivered') {
      if (!(await outbox.ack(lane, head, texts.length))) return 'stop';
      this.options.observe?.(endpoint.appId, 'delivered', events.length, Number.isFinite(oldest) ? this.now() - oldest : undefined);
      return 'next';
    }
    if (result.kind === 'rejected') {
      await this.deadLetter(endpoint.appId, lane, endpoint.url, texts, tries + 1, result.reason);
      return (await outbox.ack(lane, head, texts.length)) ? 'next' : 'stop';
    }
    const attempts = await outbox.fail(lane, head);
    if (attempts === 0) return 'stop'; // another run acked this head meanwhile
    if (attempts >= config.maxAttempts) {
      // Then this drain ends: the next epoch's job starts with a fresh attempt count in the queue.
      await this.deadLetter(endpoint.appId, lane, endpoint.url, texts, attempts, `${result.reason} (after ${attempts} attempts)`);
      await outbox.ack(lane, head, texts.length);
      return 'stop';
    }
    this.options.observe?.(endpoint.appId, 'retried', events.length);
    this.options.logger.debug({ url: endpoint.url, attempts, reason: result.reason }, 'webhook delivery failed; retrying');
    const wait = backoffDelay({ baseMs: config.retryBaseMs, maxMs: config.retryMaxMs }, attempts, this.options.random);
    return { retryInMs: Math.max(wait, result.retryAfterMs ?? 0) };
  }

  private async deadLetter(appId: string, lane: string, url: string, items: readonly string[], attempts: number, reason: string): Promise<void> {
    const first = items.length > 0 ? parseLaneItem(items[0]!) : null;
    const id = `${lane.slice(lane.indexOf('|') + 1).replace('|', '-')}-${first?.id ?? this.now().toString(36)}`;
    const letter: WebhookDeadLetter = { id, url, lane, attempts, reason, at: new Date(this.now()).toISOString(), items };
    await this.options.deadLetters.put(appId, id, letter);
    this.options.observe?.(appId, 'dead', items.length);
    this.options.logger.warn({ app: appId, url, events: items.length, reason }, 'webhook batch dead-lettered');
  }
}
