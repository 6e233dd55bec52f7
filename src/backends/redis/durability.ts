/**
 * redis: appends that wait for replicas (`backend.redis.waitReplicas`). Redis replicates
 * asynchronously: a master that dies right after answering may take its last writes with
 * it when a replica is promoted. With `waitReplicas` = n, each append script is followed,
 * in the same pipeline (so on a cluster it reaches the same master), by `WAIT n timeout`,
 * and the append is answered only when n replicas acknowledged it. An append that is not
 * acknowledged in time fails with RC_ERR_BACKEND_UNAVAILABLE: it is stored on the master
 * and was broadcast, but could be lost by a failover, so the caller must not count on it
 * (a retry under an idempotency key is safe). WAIT makes the loss window small, not zero:
 * see docs/scaling.md.
 */
import { createError } from '../../errors.ts';
import type { RedisContext } from './connection.ts';
import { toBackendError } from './faults.ts';
import { queueScript, runScript, type ScriptArg, type ScriptName } from './scripts.ts';

/** Runs an append script, then (when configured) waits for its replica acknowledgements. */
export async function runAppendScript(context: RedisContext, name: ScriptName, keys: readonly ScriptArg[], args: readonly ScriptArg[]): Promise<unknown> {
  if (context.waitReplicas === 0) return runScript(context.client, name, keys, args);
  const pipeline = context.client.pipeline();
  queueScript(pipeline, name, keys, args);
  pipeline.call('WAIT', context.waitReplicas, context.waitTimeoutMs);
  // A cluster pipeline whose node died can wait for a slot refresh that never names it
  // again: bound it like any command (the script's timeout plus the WAIT's).
  let timer: NodeJS.Timeout | undefined;
  const limit = context.commandTimeoutMs + context.waitTimeoutMs;
  const results = await Promise.race([
    pipeline.exec(),
    new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error('Command timed out')), limit))),
  ]).finally(() => clearTimeout(timer));
  if (results === null) throw toBackendError(new Error('Connection is closed.'), context.commandTimeoutMs);
  const [[scriptError, reply], [waitError, acknowledged]] = results as [[Error | null, unknown], [Error | null, unknown]];
  if (scriptError) throw scriptError;
  if (waitError) throw waitError;
  if (Number(acknowledged) < context.waitReplicas) {
    throw createError(
      'RC_ERR_BACKEND_UNAVAILABLE',
      'redis',
      `the write reached ${Number(acknowledged)} of the ${context.waitReplicas} replicas required within ${context.waitTimeoutMs} ms`,
    );
  }
  return reply;
}
