/**
 * Annotations: secondary state attached to a message (reactions, read receipts,
 * moderation flags) without rewriting it. Each annotation is published on the
 * channel's stream (`annotation.create`, with its own serial) followed by the
 * message's new summary (`message.summary`), both in one atomic commit of the message
 * document, so the summary is exact under concurrent annotations from any node.
 * See `summary.ts` for the aggregations. Deleting an annotation twice is harmless.
 */
import type { AppConfig } from '../config/schema.ts';
import type { Backend } from '../backends/ports.ts';
import { createError } from '../errors.ts';
import { epochMismatch, loadMessage, requirePosition, requireStore, withRetries, type LoadedMessage } from './message-documents.ts';
import { annotationView, type AnnotationView } from './message-views.ts';
import { retentionOf } from './publish.ts';
import { inEpoch, serialOf } from './serials.ts';
import { aggregationOf, replaces, requirementsOf, summarise } from './summary.ts';
import type { AnnotationRecord, MessageRecord } from './types.ts';

/** An annotation request as a door decoded it. */
export interface AnnotationInput {
  readonly type?: unknown;
  readonly name?: unknown;
  readonly client_id?: unknown;
  readonly clientId?: unknown;
  readonly count?: unknown;
  readonly data?: unknown;
}

export interface AnnotationFilter {
  readonly type?: string;
  readonly name?: string;
  readonly clientId?: string;
}

export interface AnnotationResult {
  readonly annotation: AnnotationView;
  readonly summary: Record<string, unknown>;
}

export interface AnnotationDeleteResult {
  /** False when the annotation was already gone (a repeated delete). */
  readonly deleted: boolean;
  readonly annotation_serial: string;
  readonly summary: Record<string, unknown>;
}

const MAX_NAME_LENGTH = 200;
const MAX_COUNT = 1_000_000;

export class Annotations {
  constructor(private readonly backend: Backend) {}

  async create(app: AppConfig, channel: string, serial: string, input: AnnotationInput): Promise<AnnotationResult> {
    const annotation = normalise(app, input);
    const store = requireStore(this.backend);
    return withRetries(serial, async () => {
      const message = await loadMessage(this.backend, app, channel, serial);
      if (message.latest.record.action === 'message.delete') throw createError('RC_ERR_MESSAGE_DELETED', serial, 'annotated');
      const live = liveAnnotations(message);
      const replaced = live.filter((item) => replaces(annotation, item.annotation)).map((item) => item.seq);
      if (live.length - replaced.length >= app.history.maxAnnotationsPerMessage) {
        throw createError('RC_ERR_ANNOTATION_LIMIT', serial, app.history.maxAnnotationsPerMessage);
      }
      const gone = new Set(replaced);
      const summary = summarise([...live.filter((item) => !gone.has(item.seq)).map((item) => item.annotation), annotation]);
      const record: MessageRecord = { action: 'annotation.create', name: 'annotation.create', data: '', origin: 'rest', messageSerial: message.serial, annotation };
      const entries = await store.commit(message.stream, message.seq, {
        ...commitBase(app, message),
        appends: [
          { body: JSON.stringify(record), role: 'annotation' },
          { body: JSON.stringify(summaryRecord(message.serial, summary, message.latest.record.data)), role: 'event' },
        ],
        removeAnnotations: replaced,
        summary: JSON.stringify(summary),
      });
      const entry = entries?.[0];
      if (entry === undefined) return undefined;
      return { annotation: annotationView(serialOf(entry.epoch, entry.seq), entry.time, record), summary };
    });
  }

  async list(app: AppConfig, channel: string, serial: string, filter: AnnotationFilter = {}): Promise<{ message_serial: string; items: AnnotationView[] }> {
    const message = await loadMessage(this.backend, app, channel, serial);
    const items = message.annotations
      .filter(({ record }) => {
        const annotation = record.annotation;
        if (annotation === undefined) return false;
        if (filter.type !== undefined && annotation.type !== filter.type) return false;
        if (filter.name !== undefined && annotation.name !== filter.name) return false;
        return filter.clientId === undefined || annotation.clientId === filter.clientId;
      })
      .map(({ serial: itemSerial, time, record }) => annotationView(itemSerial, time, record));
    return { message_serial: message.serial, items };
  }

  async delete(app: AppConfig, channel: string, serial: string, annotationSerial: string): Promise<AnnotationDeleteResult> {
    const annotationPosition = requirePosition(annotationSerial);
    const annotationSeq = annotationPosition.seq;
    const store = requireStore(this.backend);
    return withRetries(serial, async () => {
      const message = await loadMessage(this.backend, app, channel, serial);
      // An annotation serial of another epoch names nothing on this message: say so, never match its seq.
      if (!inEpoch(annotationPosition, message.epoch)) throw epochMismatch(annotationSerial, annotationPosition, message.epoch);
      const target = message.annotations.find((item) => item.seq === annotationSeq);
      if (target === undefined) return { deleted: false, annotation_serial: annotationSerial, summary: message.summary ?? {} };
      const summary = summarise(liveAnnotations(message).filter((item) => item.seq !== annotationSeq).map((item) => item.annotation));
      const record: MessageRecord = {
        action: 'annotation.delete',
        name: 'annotation.delete',
        data: '',
        origin: 'rest',
        messageSerial: message.serial,
        annotation: { ...target.record.annotation!, annotationSerial },
      };
      const entries = await store.commit(message.stream, message.seq, {
        ...commitBase(app, message),
        appends: [
          { body: JSON.stringify(record), role: 'event' },
          { body: JSON.stringify(summaryRecord(message.serial, summary, message.latest.record.data)), role: 'event' },
        ],
        removeAnnotations: [annotationSeq],
        summary: JSON.stringify(summary),
      });
      return entries === null ? undefined : { deleted: true, annotation_serial: annotationSerial, summary };
    });
  }
}

/** The live annotations of a message (records without an annotation are skipped, never trusted). */
function liveAnnotations(message: LoadedMessage): { seq: number; annotation: AnnotationRecord }[] {
  const out: { seq: number; annotation: AnnotationRecord }[] = [];
  for (const item of message.annotations) if (item.record.annotation !== undefined) out.push({ seq: item.seq, annotation: item.record.annotation });
  return out;
}

function commitBase(app: AppConfig, message: LoadedMessage) {
  return {
    epoch: message.epoch,
    expectedRevision: message.revision,
    ...(message.original !== undefined ? { original: message.original } : {}),
    retention: retentionOf(app),
    maxVersions: app.history.maxVersionsPerMessage,
    ttlMs: app.history.maxAgeSec * 1000,
  };
}

function summaryRecord(messageSerial: string, summary: Record<string, unknown>, text: string): MessageRecord {
  return { action: 'message.summary', name: 'message.summary', data: '', origin: 'rest', messageSerial, summary, text };
}

/** Validates an annotation request against its aggregation's needs. */
function normalise(app: AppConfig, input: AnnotationInput): AnnotationRecord {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw createError('RC_ERR_ANNOTATION_INVALID', 'the body must be a JSON object');
  }
  const aggregation = aggregationOf(input.type);
  const needs = requirementsOf(aggregation);
  const clientId = optionalString('client_id', input.client_id ?? input.clientId);
  const name = optionalString('name', input.name);
  if (needs.clientId && clientId === undefined) throw createError('RC_ERR_ANNOTATION_INVALID', `${aggregation} annotations need client_id`);
  if (needs.name && name === undefined) throw createError('RC_ERR_ANNOTATION_INVALID', `${aggregation} annotations need name`);
  let count: number | undefined;
  if (input.count !== undefined && input.count !== null) {
    if (!Number.isSafeInteger(input.count) || (input.count as number) < 1 || (input.count as number) > MAX_COUNT) {
      throw createError('RC_ERR_ANNOTATION_INVALID', `count must be an integer 1–${MAX_COUNT}`);
    }
    // Only `multiple` sums counts; elsewhere a count would be stored but mean nothing.
    if (aggregation === 'multiple') count = input.count as number;
  }
  if (input.data !== undefined) {
    const text = JSON.stringify(input.data);
    if (text === undefined) throw createError('RC_ERR_ANNOTATION_INVALID', 'data must be a JSON value');
    if (Buffer.byteLength(text) > app.limits.maxEventDataBytes) {
      throw createError('RC_ERR_EVENT_DATA_TOO_LARGE', Buffer.byteLength(text), app.limits.maxEventDataBytes);
    }
  }
  return {
    type: input.type as string,
    ...(name !== undefined ? { name } : {}),
    ...(clientId !== undefined ? { clientId } : {}),
    ...(aggregation === 'multiple' ? { count: count ?? 1 } : {}),
    ...(input.data !== undefined ? { data: input.data } : {}),
  };
}

function optionalString(field: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw createError('RC_ERR_ANNOTATION_INVALID', `${field} must be a string of 1–${MAX_NAME_LENGTH} characters`);
  }
  return value;
}
