/**
 * redis: the per-stream message log. Use it for durable history shared by every node;
 * the memory log serves one process only.
 *
 * Each stream is a meta hash (seq, retained bytes, age policy) and a sorted set of
 * entries scored by seq (see keys.ts). `append` is one Lua script (log_append.lua) that
 * assigns the seq, stores the entry with retention applied, and PUBLISHes it on the
 * bus, so the serial, the history and the broadcast can never disagree. `appendMany`
 * sends one such script per item in a single pipeline: one round trip, each item atomic.
 *
 * Owed side effects: an item with `owed` runs the same script with the owner's
 * owed-effects hash of the stream's shard as a third key (`logAppendOwed`, same slot as
 * the stream), which writes one marker per kind beside the entry (owed.ts). An item
 * without `owed` sends exactly what it did before: no extra key, argument or command.
 *
 * Epochs: every append carries a freshly drawn epoch id, which the script keeps only
 * when the append starts the stream's counter (seq 1: a new stream, or one whose meta
 * hash was lost with the store's data). A candidate is drawn per call, never reused, so
 * two counter starts of one stream can never share an epoch, even when they race.
 */
import { createEpoch, LEGACY_EPOCH } from '../epoch.ts';
import type { LogBound, LogEntry, LogRange, MessageLog, OwedEffects, RetentionPolicy, StreamState } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard, toBackendError } from './faults.ts';
import { runAppendScript } from './durability.ts';
import { queueScript, runScript, type ScriptArg, type ScriptName } from './scripts.ts';

interface AppendItem {
  readonly stream: string;
  readonly body: string;
  readonly retention: RetentionPolicy;
  readonly owed?: OwedEffects;
}

export class RedisLog implements MessageLog {
  constructor(private readonly context: RedisContext) {}

  append(stream: string, body: string, retention: RetentionPolicy): Promise<LogEntry> {
    return this.appendItem({ stream, body, retention });
  }

  private appendItem(item: AppendItem): Promise<LogEntry> {
    return guard(this.context.commandTimeoutMs, async () => {
      const [name, keys, args] = this.appendCommand(item);
      const reply = await runAppendScript(this.context, name, keys, args);
      return appendedEntry(reply, item.body);
    });
  }

  async appendMany(items: readonly AppendItem[]): Promise<LogEntry[]> {
    if (items.length === 0) return [];
    if (items.length === 1) return [await this.appendItem(items[0]!)];
    // A cluster pipeline must stay in one slot, and WAIT must follow each append: one
    // command per item instead, all in flight at once (one stream's stay in order).
    if (this.context.cluster || this.context.waitReplicas > 0) return Promise.all(items.map((item) => this.appendItem(item)));
    const results = await guard(this.context.commandTimeoutMs, () => {
      const pipeline = this.context.client.pipeline();
      for (const item of items) queueScript(pipeline, ...this.appendCommand(item));
      return pipeline.exec();
    });
    if (results === null) throw toBackendError(new Error('Connection is closed.'), this.context.commandTimeoutMs);
    // Items before a failed one were appended (and broadcast); the caller gets the first
    // failure, as with any partial write, and may retry under an idempotency key.
    return results.map(([error, reply], index) => {
      if (error) throw toBackendError(error, this.context.commandTimeoutMs);
      return appendedEntry(reply, items[index]!.body);
    });
  }

  read(stream: string, range: LogRange): Promise<LogEntry[]> {
    const from = range.fromSeq === undefined ? '-inf' : range.fromSeq;
    const to = range.toSeq === undefined ? '+inf' : range.toSeq;
    const limit = Math.max(1, Math.floor(range.limit));
    return guard(this.context.commandTimeoutMs, async () => {
      const reply = (await runScript(this.context.client, 'logRead', this.streamKeys(stream), [from, to, range.newestFirst ? '1' : '0', limit])) as string[];
      return parseEntries(reply);
    });
  }

  get(stream: string, seq: number): Promise<LogEntry | null> {
    return guard(this.context.commandTimeoutMs, async () => {
      const reply = (await runScript(this.context.client, 'logRead', this.streamKeys(stream), [seq, seq, '0', 1])) as string[];
      return parseEntries(reply)[0] ?? null;
    });
  }

  state(stream: string): Promise<StreamState> {
    return guard(this.context.commandTimeoutMs, async () => {
      const [lastSeq, firstRetainedSeq, retainedCount, retainedBytes, epoch] = (await runScript(
        this.context.client,
        'logState',
        this.streamKeys(stream),
        [],
      )) as [number, number, number, number, string];
      return { epoch: epoch === '' ? null : epoch, lastSeq, firstRetainedSeq, retainedCount, retainedBytes };
    });
  }

  purge(stream: string): Promise<void> {
    return guard(this.context.commandTimeoutMs, async () => {
      await runScript(this.context.client, 'logPurge', this.streamKeys(stream), []);
    });
  }

  reset(stream: string): Promise<void> {
    return guard(this.context.commandTimeoutMs, async () => {
      await runScript(this.context.client, 'logReset', this.streamKeys(stream), []);
    });
  }

  dropBefore(stream: string, before: LogBound): Promise<number> {
    const args: ScriptArg[] = 'seq' in before ? ['seq', Math.floor(before.seq), before.epoch ?? ''] : ['time', Math.floor(before.timeMs), ''];
    return guard(this.context.commandTimeoutMs, async () => Number(await runScript(this.context.client, 'logDropBefore', this.streamKeys(stream), args)));
  }

  private streamKeys(stream: string): [string, string] {
    return [this.context.keys.logMeta(stream), this.context.keys.logEntries(stream)];
  }

  /** The append script, keys and arguments of an item: `logAppendOwed` with the owner's hash when it owes side effects. */
  private appendCommand(item: AppendItem): [ScriptName, ScriptArg[], ScriptArg[]] {
    const keys: ScriptArg[] = this.streamKeys(item.stream);
    const args = this.appendArgs(item);
    if (item.owed === undefined || item.owed.kinds.length === 0) return ['logAppend', keys, args];
    keys.push(this.context.keys.owed(item.owed.owner, item.stream));
    args.push(item.owed.kinds.join(' '));
    return ['logAppendOwed', keys, args];
  }

  private appendArgs(item: AppendItem): ScriptArg[] {
    return [
      this.context.busTopicOf(item.stream),
      item.stream,
      item.body,
      Math.max(0, Math.floor(item.retention.maxCount)),
      Math.max(0, Math.floor(item.retention.maxAgeMs)),
      createEpoch(),
    ];
  }
}

function appendedEntry(reply: unknown, body: string): LogEntry {
  const [seq, time, epoch] = reply as [number, number, string];
  return { epoch, seq, time, body };
}

/** Parses log_read.lua's reply: the stream's epoch, then members. */
function parseEntries(reply: readonly string[]): LogEntry[] {
  // Members exist only under a counter, so the epoch is set whenever there are any.
  const epoch = reply[0] || LEGACY_EPOCH;
  const out: LogEntry[] = [];
  for (let i = 1; i < reply.length; i++) out.push(parseEntry(reply[i]!, epoch));
  return out;
}

/** Parses a stored member "{seq}:{time}:{body}" of a stream in `epoch`. */
export function parseEntry(member: string, epoch: string): LogEntry {
  const first = member.indexOf(':');
  const second = member.indexOf(':', first + 1);
  return { epoch, seq: Number(member.slice(0, first)), time: Number(member.slice(first + 1, second)), body: member.slice(second + 1) };
}
