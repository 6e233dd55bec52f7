/**
 * redis: the Lua scripts, one per atomic operation (`scripts/*.lua`, each with its
 * KEYS/ARGV header). They are read from disk once, when this module loads, and
 * registered on a connection with ioredis `defineCommand`, which sends EVALSHA and
 * falls back to EVAL when Redis does not know the script (after a restart, say).
 *
 * A script may start with `--! include lib/<name>.lua` lines: the named prelude
 * (shared helper functions) is inlined in their place, so each registered script is
 * still one self-contained atomic unit.
 */
import { readFileSync } from 'node:fs';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './connection.ts';

/** Every script, with how many of its arguments are keys. */
const SCRIPTS = {
  logAppend: { file: 'log_append.lua', keys: 2 },
  /** The same script with the owner's owed-effects hash as a third key (an append that owes side effects). */
  logAppendOwed: { file: 'log_append.lua', keys: 3 },
  logRead: { file: 'log_read.lua', keys: 2 },
  logState: { file: 'log_state.lua', keys: 2 },
  logPurge: { file: 'log_purge.lua', keys: 2 },
  logReset: { file: 'log_reset.lua', keys: 2 },
  logDropBefore: { file: 'log_drop_before.lua', keys: 2 },
  presenceJoin: { file: 'presence_join.lua', keys: 6 },
  presenceLeave: { file: 'presence_leave.lua', keys: 6 },
  presenceRemoveNode: { file: 'presence_remove_node.lua', keys: 6 },
  occupancyAdjust: { file: 'occupancy_adjust.lua', keys: 2 },
  occupancyDropNode: { file: 'occupancy_drop_node.lua', keys: 2 },
  nodesHeartbeat: { file: 'nodes_heartbeat.lua', keys: 1 },
  nodesDead: { file: 'nodes_dead.lua', keys: 1 },
  nodesClaim: { file: 'nodes_claim.lua', keys: 1 },
  messageCommit: { file: 'message_commit.lua', keys: 4 },
  /** The same script with the owner's owed-effects hash as a fifth key (a commit whose appends owe side effects). */
  messageCommitOwed: { file: 'message_commit.lua', keys: 5 },
  messageLoad: { file: 'message_load.lua', keys: 1 },
  messageDropBefore: { file: 'message_drop_before.lua', keys: 2 },
  outboxReconcile: { file: 'outbox_reconcile.lua', keys: 5 },
  outboxAppend: { file: 'outbox_append.lua', keys: 2 },
  outboxPeek: { file: 'outbox_peek.lua', keys: 2 },
  outboxAck: { file: 'outbox_ack.lua', keys: 3 },
  outboxFail: { file: 'outbox_fail.lua', keys: 1 },
  outboxFinish: { file: 'outbox_finish.lua', keys: 2 },
  outboxActive: { file: 'outbox_active.lua', keys: 1 },
  kvWriteIfOwned: { file: 'kv_write_if_owned.lua', keys: 1 },
} as const;

export type ScriptName = keyof typeof SCRIPTS;

/** A script argument: keys and values as Redis sees them. */
export type ScriptArg = string | number | Buffer;

const INCLUDE = /^--! include (lib\/[a-z0-9-]+\.lua)\s*$/gm;

function readScript(file: string): string {
  const text = readFileSync(new URL(`./scripts/${file}`, import.meta.url), 'utf8');
  return text.replace(INCLUDE, (_line, lib: string) => readFileSync(new URL(`./scripts/${lib}`, import.meta.url), 'utf8'));
}

/** Script sources, read once per process. */
const SOURCES = new Map<ScriptName, string>(
  (Object.keys(SCRIPTS) as ScriptName[]).map((name) => [name, readScript(SCRIPTS[name].file)]),
);

/**
 * Registers every script as a command on the connection. On a cluster (`sharded`), the
 * scripts' bus publishes become SPUBLISH: a shard channel of the script's own slot (see
 * keys.ts), so a publish reaches only the subscribers of that slot's master.
 */
export function defineScripts(client: RedisClient, sharded = false): void {
  for (const [name, source] of SOURCES) {
    const lua = sharded ? source.replaceAll("redis.call('PUBLISH',", "redis.call('SPUBLISH',") : source;
    client.defineCommand(name, { numberOfKeys: SCRIPTS[name].keys, lua });
  }
}

type ScriptMethod<R> = (...args: ScriptArg[]) => R;

/** Runs a script on a connection (defined by `defineScripts`). */
export function runScript(client: RedisClient, name: ScriptName, keys: readonly ScriptArg[], args: readonly ScriptArg[]): Promise<unknown> {
  checkKeyCount(name, keys);
  const method = (client as unknown as Record<ScriptName, ScriptMethod<Promise<unknown>>>)[name];
  return method.call(client, ...keys, ...args);
}

/** Queues a script on a pipeline (of a connection that has the scripts defined). */
export function queueScript(pipeline: ChainableCommander, name: ScriptName, keys: readonly ScriptArg[], args: readonly ScriptArg[]): void {
  checkKeyCount(name, keys);
  const method = (pipeline as unknown as Record<ScriptName, ScriptMethod<ChainableCommander>>)[name];
  method.call(pipeline, ...keys, ...args);
}

function checkKeyCount(name: ScriptName, keys: readonly ScriptArg[]): void {
  // A wrong count would silently shift keys into ARGV: fail loudly in development instead.
  if (keys.length !== SCRIPTS[name].keys) throw new TypeError(`script ${name} takes ${SCRIPTS[name].keys} keys, got ${keys.length}`);
}
