/**
 * Load generator: many Bayeux long-polling clients in one process (bayeux-session.ts),
 * as subscribers (count delivered messages and publish-to-receive latency) or as one
 * publisher (its own session with a connect loop, so a bot login stays alive, and
 * publishes at a rate with at most `window` publishes in flight).
 *
 * Commands: connect {origin, count, channel?, logins?, concurrency?} · reset · snapshot ·
 * publish {channel, rate, window, durationMs, payloadBytes?, dataShape?} · close.
 */
import { Pool } from 'undici';
import { Histogram } from '../lib/histogram.ts';
import { readStamps, stampedData } from '../lib/pusher-sign.ts';
import { nowMs, serveWorker } from '../lib/worker.ts';
import { BayeuxSession, type LoginArgs } from './bayeux-session.ts';

interface ConnectArgs {
  origin: string;
  count: number;
  /** Subscribe to this channel; none: connect loop only (a publisher, or an idle session). */
  channel?: string;
  /** Log in first (roomcast's bot API), client i with logins[i % logins.length]. */
  logins?: LoginArgs[];
  concurrency?: number;
}

interface PublishArgs {
  channel: string;
  /** Publishes per second; 0 = closed loop with `window` in flight. */
  rate: number;
  window: number;
  durationMs: number;
  payloadBytes?: number;
  /** `string`: data is the stamp text; `content`: `{ contentData: stamp }` (bot API message body). */
  dataShape?: 'string' | 'content';
}

let pool: Pool | null = null;
const sessions: BayeuxSession[] = [];
const latency = new Histogram();
let received = 0;
let replies = 0;
let lastReceiveAt = 0;

async function connect(args: ConnectArgs): Promise<{ connected: number }> {
  pool ??= new Pool(args.origin, { connections: null, pipelining: 1, keepAliveTimeout: 60_000 });
  const concurrency = args.concurrency ?? 25;
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, args.count) }, async () => {
    while (next < args.count) {
      const index = next++;
      const session = new BayeuxSession(pool as Pool);
      const login = args.logins?.[index % args.logins.length];
      if (login !== undefined) await session.login(login);
      await session.handshake();
      if (args.channel !== undefined) await session.subscribe(args.channel);
      sessions.push(session);
      void session.connectLoop(onReply);
    }
  });
  await Promise.all(lanes);
  return { connected: sessions.length };
}

function onReply(text: string): void {
  replies++;
  const now = nowMs();
  const found = readStamps(text, (sentAt) => latency.record(now - sentAt));
  if (found > 0) {
    received += found;
    lastReceiveAt = now;
  }
}

async function publish(args: PublishArgs): Promise<unknown> {
  const session = sessions[0];
  if (session === undefined) throw new Error('connect a publisher session first');
  const payloadBytes = args.payloadBytes ?? 100;
  const statuses: Record<string, number> = {};
  const replyLatency = new Histogram();
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let inFlight = 0;
  let firstError = '';
  const start = nowMs();
  const end = start + args.durationMs;
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
      const stamp = stampedData(sentAt, payloadBytes);
      inFlight++;
      sent++;
      session
        .publish(args.channel, args.dataShape === 'content' ? { contentData: stamp } : stamp)
        .then((reply) => {
          statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
          if (reply.successful) ok++;
          else {
            failed++;
            if (firstError === '') firstError = `${reply.status} ${reply.text.slice(0, 300)}`;
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
      while (sent < due && inFlight < args.window) fire();
      if (timer === null) {
        timer = setTimeout(() => {
          timer = null;
          pump();
        }, Math.max(0, start + (sent * 1000) / args.rate - nowMs()));
      }
    };
    pump();
    setTimeout(finishIfDone, args.durationMs + 1).unref();
  });
  return { sent, ok, failed, statuses, firstError, elapsedMs: nowMs() - start, replyLatency: replyLatency.summary() };
}

serveWorker({
  connect: (args: ConnectArgs) => connect(args),
  publish: (args: PublishArgs) => publish(args),
  reset: () => {
    latency.reset();
    received = 0;
    replies = 0;
    lastReceiveAt = 0;
    return null;
  },
  snapshot: () => {
    let connectErrors = 0;
    let lastError = '';
    for (const session of sessions) {
      connectErrors += session.connectErrors;
      if (session.lastError !== '') lastError = session.lastError;
    }
    return { received, replies, open: sessions.length, lastReceiveAt, connectErrors, lastError, latency: latency.snapshot() };
  },
  close: async () => {
    for (const session of sessions) session.stop();
    sessions.length = 0;
    const closing = pool?.destroy();
    pool = null;
    await closing;
    return null;
  },
});
