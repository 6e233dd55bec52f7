/**
 * memory: versioned-message documents in a map. One process only; use redis so every
 * node sees the same versions and annotations. `commit` checks the revision and appends
 * to the log in one synchronous step, so it is atomic within the process.
 *
 * Memory stays bounded: each stream keeps at most as many documents as its retention
 * keeps messages (the oldest message's document is dropped first), and documents
 * expire `ttlMs` after their last commit.
 */
import type { LogEntry, MessageCommit, MessageDocument, MessageItem, MessageStore } from '../ports.ts';
import type { MemoryLog } from './log.ts';

interface StoredDocument {
  readonly epoch: string;
  revision: number;
  versions: MessageItem[];
  annotations: MessageItem[];
  summary: string | null;
  /** 0 = never expires */
  expiresAt: number;
}

/** Fewest documents a stream may keep, whatever its retention (so a tiny ring still allows edits). */
const MIN_DOCUMENTS_PER_STREAM = 100;

export class MemoryMessageStore implements MessageStore {
  /** stream → message seq → document (Map keeps insertion order: oldest message first). */
  private readonly streams = new Map<string, Map<number, StoredDocument>>();

  constructor(
    private readonly log: MemoryLog,
    private readonly now: () => number = Date.now,
  ) {}

  async load(stream: string, messageSeq: number): Promise<MessageDocument | null> {
    const document = this.live(stream, messageSeq);
    if (document === undefined) return null;
    // Copies, so a caller can never change the stored state in place.
    return {
      epoch: document.epoch,
      revision: document.revision,
      versions: [...document.versions],
      annotations: [...document.annotations],
      summary: document.summary,
    };
  }

  async commit(stream: string, messageSeq: number, change: MessageCommit): Promise<LogEntry[] | null> {
    // A change prepared in another epoch concerns another message: refuse it like a moved revision.
    if (this.log.epochNow(stream) !== change.epoch) return null;
    let existing = this.live(stream, messageSeq);
    if (existing !== undefined && existing.epoch !== change.epoch) existing = undefined;
    if ((existing?.revision ?? 0) !== change.expectedRevision) return null;
    let documents = this.streams.get(stream);
    if (documents === undefined) {
      documents = new Map();
      this.streams.set(stream, documents);
    }
    const document: StoredDocument = existing ?? {
      epoch: change.epoch,
      revision: 0,
      versions: change.original === undefined ? [] : [change.original],
      annotations: [],
      summary: null,
      expiresAt: 0,
    };
    const entries: LogEntry[] = [];
    for (const append of change.appends) {
      const entry = this.log.appendNow(stream, append.body, change.retention);
      entries.push(entry);
      const item: MessageItem = { seq: entry.seq, time: entry.time, body: entry.body };
      if (append.role === 'version') document.versions.push(item);
      else if (append.role === 'annotation') document.annotations.push(item);
    }
    if (change.removeAnnotations !== undefined && change.removeAnnotations.length > 0) {
      const removed = new Set(change.removeAnnotations);
      document.annotations = document.annotations.filter((item) => !removed.has(item.seq));
    }
    const excess = document.versions.length - Math.max(1, change.maxVersions);
    if (excess > 0) document.versions.splice(0, excess);
    if (change.summary !== undefined) document.summary = change.summary;
    document.revision += 1;
    document.expiresAt = change.ttlMs > 0 ? this.now() + change.ttlMs : 0;
    if (existing === undefined) {
      documents.set(messageSeq, document);
      this.bound(documents, change.retention.maxCount);
    }
    return entries;
  }

  async purge(stream: string): Promise<void> {
    this.streams.delete(stream);
  }

  async dropBefore(stream: string, messageSeq: number): Promise<void> {
    const documents = this.streams.get(stream);
    if (documents === undefined) return;
    for (const seq of [...documents.keys()]) if (seq < messageSeq) documents.delete(seq);
  }

  private live(stream: string, messageSeq: number): StoredDocument | undefined {
    const documents = this.streams.get(stream);
    const document = documents?.get(messageSeq);
    if (document === undefined) return undefined;
    if (document.expiresAt !== 0 && document.expiresAt <= this.now()) {
      documents!.delete(messageSeq);
      return undefined;
    }
    return document;
  }

  /** Drops the oldest messages' documents past the stream's bound. */
  private bound(documents: Map<number, StoredDocument>, maxCount: number): void {
    const limit = Math.max(MIN_DOCUMENTS_PER_STREAM, maxCount);
    if (documents.size <= limit) return;
    // Insertion order is first-commit order, close to message order and O(1) to trim.
    for (const seq of documents.keys()) {
      if (documents.size <= limit) break;
      documents.delete(seq);
    }
  }
}
