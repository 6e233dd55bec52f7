/**
 * Load generator for the REST publish benchmark: autocannon in its own process, firing
 * signed `POST /apps/{id}/events`. Requests are PRE-SIGNED: a pool of `poolSize`
 * distinct bodies (each its own body_md5 and signature, timestamped at start, valid for
 * the 600 s window) that every connection cycles through, so the generator spends its
 * CPU on HTTP, not on hashing. Commands: run {baseUrl, channel, connections, durationSec, poolSize, channels}.
 */
import autocannon from 'autocannon';
import { BENCH_APP, signedEvent } from '../lib/pusher-sign.ts';
import { serveWorker } from '../lib/worker.ts';

interface RunArgs {
  baseUrl: string;
  channel: string;
  connections: number;
  durationSec: number;
  poolSize?: number;
  payloadBytes?: number;
  /** Spread the pool over this many channels (`{channel}-{i}`); default 1 (`channel` itself). */
  channels?: number;
}

async function run(args: RunArgs): Promise<unknown> {
  const poolSize = args.poolSize ?? 1000;
  const payloadBytes = args.payloadBytes ?? 100;
  const requests = Array.from({ length: poolSize }, (_, index) => {
    const head = `n:${index}:`;
    const channel = (args.channels ?? 1) > 1 ? `${args.channel}-${index % args.channels!}` : args.channel;
    const { path, body } = signedEvent(BENCH_APP, channel, 'bench', head + 'x'.repeat(Math.max(0, payloadBytes - head.length)));
    return { method: 'POST', path, body, headers: { 'content-type': 'application/json' } };
  });
  const result = await autocannon({ url: args.baseUrl, connections: args.connections, duration: args.durationSec, requests });
  return {
    requestsPerSec: result.requests.average,
    total: result.requests.total,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    latencyMean: result.latency.average,
    statusCodeStats: result.statusCodeStats ?? {},
  };
}

serveWorker({ run: (args: RunArgs) => run(args) });
