/**
 * Load generator for the cluster benchmark's Redis-bound phase: drives the Redis
 * backend's channel log directly (the real RedisLog and its Lua append script, the same
 * connection settings as a node's), with no HTTP and no node in between, so that Redis,
 * not a node's REST ingest, is the limit. Appends 100-byte bodies to `channels` channels
 * (spread over the shards, so over a cluster's masters), `inFlight` outstanding, for
 * `durationSec`. Commands: prepare {redis: RedisConfig fields, channels, inFlight, warmupSec}, run {durationSec}, close.
 */
import type { Cluster } from 'ioredis';
import pino from 'pino';
import { createConnection, type RedisContext } from '../../src/backends/redis/connection.ts';
import { createKeys } from '../../src/backends/redis/keys.ts';
import { RedisLog } from '../../src/backends/redis/log.ts';
import { defineScripts } from '../../src/backends/redis/scripts.ts';
import type { RedisConfig } from '../../src/config/types.ts';
import { serveWorker } from '../lib/worker.ts';

interface PrepareArgs {
  redis: { url?: string; cluster?: { nodes: string[] }; keyPrefix: string };
  channels: number;
  inFlight: number;
  /** Seconds of appends before the measured window (connections, script cache, JIT). */
  warmupSec: number;
}

interface PhaseResult {
  appends: number;
  errors: number;
  seconds: number;
  firstError: string | null;
}

let driver: { phase(seconds: number): Promise<PhaseResult>; close(): void } | null = null;

/** Connects, loads the scripts and appends for `warmupSec`. */
async function prepare(args: PrepareArgs): Promise<PhaseResult> {
  const config = { shards: 128, commandTimeoutMs: 10_000, routing: 'broadcast', ...args.redis } as RedisConfig;
  const client = createConnection(config, 'commands', pino({ level: 'silent' }));
  // A cluster's connect() may stay pending while it retries (a slot map still settling):
  // wait for readiness instead, bounded.
  client.connect().catch(() => undefined);
  const cluster = config.cluster !== undefined;
  const deadline = Date.now() + 30_000;
  while (client.status !== 'ready' || (cluster && (client as Cluster).nodes('all').some((node) => node.status !== 'ready'))) {
    if (Date.now() > deadline) throw new Error(`redis not ready after 30 s (${client.status})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  defineScripts(client, cluster);
  const keys = createKeys(config.keyPrefix, config.shards);
  const context: RedisContext = { client, keys, commandTimeoutMs: config.commandTimeoutMs, busTopicOf: (stream) => keys.busTopic(keys.shardOf(stream)), cluster, waitReplicas: 0, waitTimeoutMs: 500 };
  const log = new RedisLog(context);
  const body = JSON.stringify({ name: 'bench', data: 'x'.repeat(100) });
  const retention = { maxCount: 1000, maxAgeMs: 0 };
  let next = 0;
  driver = {
    async phase(seconds) {
      const began = performance.now();
      const until = began + seconds * 1000;
      let appends = 0;
      let errors = 0;
      let firstError: string | null = null;
      await Promise.all(
        Array.from({ length: args.inFlight }, async () => {
          while (performance.now() < until) {
            try {
              await log.append(`bench:cluster-${next++ % args.channels}`, body, retention);
              appends++;
            } catch (error) {
              errors++;
              firstError ??= error instanceof Error ? error.message : String(error);
            }
          }
        }),
      );
      return { appends, errors, seconds: (performance.now() - began) / 1000, firstError };
    },
    close: () => client.disconnect(),
  };
  return driver.phase(args.warmupSec);
}

serveWorker({
  prepare: (args: PrepareArgs) => prepare(args),
  run: (args: { durationSec: number }) => {
    if (driver === null) throw new Error('prepare first');
    return driver.phase(args.durationSec);
  },
  close: () => driver?.close(),
});
