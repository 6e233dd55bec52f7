/**
 * Load generator: publishes events with signed `POST /apps/{id}/events` through an
 * undici Pool, each request signed when it is sent (MD5 + HMAC-SHA256, a few µs) since
 * its body carries the send time. Two modes:
 *   - fixed rate (`rate` > 0): open loop, publish k is sent at start + k/rate, but never
 *     more than `window` in flight (a late publish is sent as soon as a slot frees and is
 *     counted in `late`);
 *   - saturation (`rate` 0): closed loop, exactly `window` publishes in flight.
 * Commands: run {baseUrl, channel, event?, payloadBytes?, durationMs, rate, window} → counts.
 */
import { Pool } from 'undici';
import { Histogram } from '../lib/histogram.ts';
import { BENCH_APP, signedEvent, stampedData } from '../lib/pusher-sign.ts';
import { nowMs, serveWorker } from '../lib/worker.ts';

interface RunArgs {
  baseUrl: string;
  channel: string;
  event?: string;
  payloadBytes?: number;
  durationMs: number;
  /** Publishes per second; 0 = as fast as `window` allows. */
  rate: number;
  window: number;
}

async function run(args: RunArgs): Promise<unknown> {
  const pool = new Pool(args.baseUrl, { connections: args.window, pipelining: 1 });
  const replyLatency = new Histogram();
  const statuses: Record<string, number> = {};
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let late = 0;
  let inFlight = 0;
  let firstError = '';
  const start = nowMs();
  const end = start + args.durationMs;
  const event = args.event ?? 'bench';
  const payloadBytes = args.payloadBytes ?? 100;

  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | null = null;
    let finished = false;
    const finishIfDone = (): void => {
      if (!finished && inFlight === 0 && nowMs() >= end) {
        finished = true;
        resolve();
      }
    };
    const fire = (): void => {
      const sentAt = nowMs();
      const { path, body } = signedEvent(BENCH_APP, args.channel, event, stampedData(sentAt, payloadBytes));
      inFlight++;
      sent++;
      pool
        .request({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body })
        .then(async (response) => {
          const text = await response.body.text();
          statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
          if (response.statusCode === 200) ok++;
          else {
            failed++;
            if (firstError === '') firstError = `${response.statusCode} ${text.slice(0, 300)}`;
          }
        })
        .catch((error: unknown) => {
          failed++;
          if (firstError === '') firstError = String(error);
        })
        .finally(() => {
          replyLatency.record(nowMs() - sentAt);
          inFlight--;
          pump();
        });
    };
    const pump = (): void => {
      const now = nowMs();
      if (now >= end) {
        finishIfDone();
        return;
      }
      if (args.rate <= 0) {
        while (inFlight < args.window) fire();
        return;
      }
      const due = Math.floor(((now - start) * args.rate) / 1000) + 1;
      while (sent < due && inFlight < args.window) {
        if (now - (start + (sent * 1000) / args.rate) > 5) late++;
        fire();
      }
      if (timer === null) {
        const nextAt = start + (sent * 1000) / args.rate;
        timer = setTimeout(() => {
          timer = null;
          pump();
        }, Math.max(0, nextAt - nowMs()));
      }
    };
    pump();
    // The last in-flight request may finish before `end`; make sure we look again then.
    setTimeout(finishIfDone, args.durationMs + 1).unref();
  });
  const elapsedMs = nowMs() - start;
  await pool.close();
  return { sent, ok, failed, late, statuses, firstError, elapsedMs, replyLatency: replyLatency.summary() };
}

serveWorker({ run: (args: RunArgs) => run(args) });
