/**
 * The webhook queue's jobs (one queue, `webhooks`, on the backend's durable JobQueues):
 *
 * - drain `wd|{lane}|{epoch}`: sends a lane's items in batches, in order (dispatcher.ts).
 *   One id per (lane, epoch), and the outbox moves a lane's epoch only when its drain
 *   ends, so at most one drain of a lane is queued or running at a time.
 * - check `wc|{subject hash}|{absent since}`: runs a subject's reconcile again when its
 *   leave delay has passed (recorder.ts), recording `channel_vacated`, `member_removed` or
 *   `user_offline` unless the subject came back meanwhile. The id names the absence (the
 *   store's time it began), so every node that sees one absence schedules one job, and
 *   the next absence gets a job of its own; a check that finds the subject gone again
 *   with a newer absence runs again when that one is due.
 *
 * Ids use `|`, never `:` (BullMQ reserves it in custom ids).
 */
import { createHash } from 'node:crypto';
import type { JobSpec, OutboxDrain, OutboxSubject } from '../backends/ports.ts';

/** The queue every webhook job runs on. */
export const WEBHOOK_QUEUE = 'webhooks';

export type WebhookJob =
  | { readonly kind: 'drain'; readonly lane: string; readonly epoch: number }
  | { readonly kind: 'check'; readonly appId: string; readonly subject: OutboxSubject };

export function drainJob(drain: OutboxDrain): JobSpec {
  const job: WebhookJob = { kind: 'drain', lane: drain.lane, epoch: drain.epoch };
  return { id: `wd|${drain.lane}|${drain.epoch}`, data: JSON.stringify(job) };
}

export function checkJob(appId: string, subject: OutboxSubject, dueInMs: number, absentSince: number): JobSpec {
  const job: WebhookJob = { kind: 'check', appId, subject };
  const text = JSON.stringify(job);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  // A few ms late rather than early: the store's clock decides, and an early check only runs again.
  return { id: `wc|${hash}|${absentSince}`, data: text, delayMs: dueInMs + 5 };
}

export function parseWebhookJob(data: string): WebhookJob | null {
  try {
    const job = JSON.parse(data) as Partial<WebhookJob> & { kind?: unknown };
    if (job.kind === 'drain' && typeof job.lane === 'string' && typeof job.epoch === 'number') return job as WebhookJob;
    if (job.kind === 'check' && typeof job.appId === 'string' && typeof job.subject === 'object' && job.subject !== null) return job as WebhookJob;
    return null;
  } catch {
    return null;
  }
}
