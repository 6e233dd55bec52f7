/**
 * redis: versioned-message documents. Use it so every node sees the same versions,
 * annotations and summaries; the memory store serves one process only.
 *
 * Per stream: a hash `{p}msg:docs:{stream}` (message seq → document JSON) and an index
 * zset bounding how many documents are kept. `commit` is one Lua script
 * (message_commit.lua) that checks the revision, appends to the log like
 * log_append.lua and updates the document atomically, so concurrent changes from
 * several nodes are linear and none is lost. A commit whose appends owe side effects
 * runs the same script with the owner's owed-effects hash as a fifth key
 * (`messageCommitOwed`, the stream's slot), which stores their markers (owed.ts).
 */
import { LEGACY_EPOCH } from '../epoch.ts';
import type { LogEntry, MessageCommit, MessageDocument, MessageItem, MessageStore } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard } from './faults.ts';
import { runAppendScript } from './durability.ts';
import { runScript } from './scripts.ts';

type StoredItem = [number, number, string];

interface StoredDocument {
  /** Absent in documents written before epochs. */
  e?: string;
  r: number;
  v?: StoredItem[] | Record<string, never>;
  a?: StoredItem[] | Record<string, never>;
  s?: string;
}

export class RedisMessageStore implements MessageStore {
  constructor(private readonly context: RedisContext) {}

  load(stream: string, messageSeq: number): Promise<MessageDocument | null> {
    return guard(this.context.commandTimeoutMs, async () => {
      const reply = (await runScript(this.context.client, 'messageLoad', [this.context.keys.messageDocs(stream)], [messageSeq])) as string | null;
      if (reply === null) return null;
      const stored = JSON.parse(reply) as StoredDocument;
      return { epoch: stored.e ?? LEGACY_EPOCH, revision: stored.r, versions: items(stored.v), annotations: items(stored.a), summary: stored.s ?? null };
    });
  }

  commit(stream: string, messageSeq: number, change: MessageCommit): Promise<LogEntry[] | null> {
    const { keys } = this.context;
    const payload = JSON.stringify({
      ...(change.original !== undefined ? { o: [change.original.seq, change.original.time, change.original.body] } : {}),
      p: change.appends.map((append) => (append.owed === undefined || append.owed.kinds.length === 0 ? [append.body, append.role] : [append.body, append.role, append.owed.kinds.join(' ')])),
      d: change.removeAnnotations ?? [],
      ...(change.summary !== undefined ? { s: change.summary } : {}),
    });
    // Appends that owe side effects: the owner's owed-effects hash (same slot) as a fifth key.
    const owner = change.appends.find((append) => append.owed !== undefined && append.owed.kinds.length > 0)?.owed?.owner;
    const streamKeys = [keys.logMeta(stream), keys.logEntries(stream), keys.messageDocs(stream), keys.messageIndex(stream)];
    if (owner !== undefined) streamKeys.push(keys.owed(owner, stream));
    return guard(this.context.commandTimeoutMs, async () => {
      const reply = (await runAppendScript(
        this.context,
        owner === undefined ? 'messageCommit' : 'messageCommitOwed',
        streamKeys,
        [
          this.context.busTopicOf(stream),
          stream,
          messageSeq,
          change.expectedRevision,
          Math.max(0, Math.floor(change.retention.maxCount)),
          Math.max(0, Math.floor(change.retention.maxAgeMs)),
          Math.max(1, Math.floor(change.maxVersions)),
          Math.max(0, Math.floor(change.ttlMs)),
          payload,
          change.epoch,
        ],
      )) as number[] | null;
      if (reply === null) return null;
      return change.appends.map((append, i) => ({ epoch: change.epoch, seq: Number(reply[2 * i]), time: Number(reply[2 * i + 1]), body: append.body }));
    });
  }

  purge(stream: string): Promise<void> {
    return guard(this.context.commandTimeoutMs, async () => {
      await this.context.client.del(this.context.keys.messageDocs(stream), this.context.keys.messageIndex(stream));
    });
  }

  dropBefore(stream: string, messageSeq: number): Promise<void> {
    return guard(this.context.commandTimeoutMs, async () => {
      await runScript(this.context.client, 'messageDropBefore', [this.context.keys.messageDocs(stream), this.context.keys.messageIndex(stream)], [messageSeq]);
    });
  }
}

/** cjson writes an empty array as `{}`; either way it is no items. */
function items(stored: StoredDocument['v']): MessageItem[] {
  if (!Array.isArray(stored)) return [];
  return stored.map(([seq, time, body]) => ({ seq: Number(seq), time: Number(time), body }));
}
