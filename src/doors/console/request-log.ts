/**
 * Recent error replies (status ≥ 400) of every door, so an operator can paste the
 * `request_id` a client got and see what happened: method, path (never the query, which
 * carries signatures), status, error code and message, node and time.
 *
 * Each node keeps its last RING_SIZE in memory (the errors page lists them) and writes
 * each one to the backend KV under its request id for RETAIN_MS, so a lookup on any node
 * finds a reply any node sent. The backend writes are capped at MAX_WRITES_PER_SECOND per
 * node (at most 36,000 small keys per node live at once): a flood of bad requests costs
 * the backend a bounded amount, and past the cap a reply is only in its node's ring
 * ("where available").
 */
import type { FastifyInstance } from 'fastify';
import type { Core } from '../../core/core.ts';

const RING_SIZE = 500;
const RETAIN_MS = 3600_000;
const MAX_WRITES_PER_SECOND = 10;
const CODE_PATTERN = /"code"\s*:\s*"(RC_ERR_[A-Z0-9_]+)"/;
const MESSAGE_PATTERN = /"message"\s*:\s*"((?:[^"\\]|\\.){0,300})/;

export interface RequestRecord {
  readonly requestId: string;
  readonly node: string;
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly code: string | null;
  readonly message: string | null;
}

const keyOf = (requestId: string): string => `console:request:${requestId}`;

export class RequestLog {
  private readonly ring: RequestRecord[] = [];
  private next = 0;
  private windowStart = 0;
  private writes = 0;

  constructor(
    http: FastifyInstance,
    private readonly core: Core,
  ) {
    // Callback style: this runs on every reply; only error replies do any work.
    http.addHook('onSend', (request, reply, payload, done) => {
      if (reply.statusCode >= 400) this.record(request.id, request.method, request.url, reply.statusCode, payload);
      done(null, payload);
    });
  }

  /** This node's recent error replies, newest first. */
  recent(limit = 100): RequestRecord[] {
    const out: RequestRecord[] = [];
    for (let i = 1; i <= this.ring.length && out.length < limit; i++) {
      out.push(this.ring[(this.next - i + RING_SIZE) % RING_SIZE]!);
    }
    return out;
  }

  /** The error reply with that request id, from this node's memory or any node's record. */
  async find(requestId: string): Promise<RequestRecord | null> {
    const local = this.ring.find((record) => record.requestId === requestId);
    if (local !== undefined) return local;
    const text = await this.core.backend.kv.get(keyOf(requestId));
    return text === null ? null : (JSON.parse(text) as RequestRecord);
  }

  private record(requestId: string, method: string, url: string, status: number, payload: unknown): void {
    const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) && payload.length < 8192 ? payload.toString('utf8') : '';
    const message = MESSAGE_PATTERN.exec(text)?.[1];
    const record: RequestRecord = {
      requestId,
      node: this.core.nodeId,
      time: Date.now(),
      method,
      path: url.split('?')[0]!.slice(0, 300),
      status,
      code: CODE_PATTERN.exec(text)?.[1] ?? null,
      message: message === undefined ? null : safeUnescape(message),
    };
    if (this.ring.length < RING_SIZE) this.ring.push(record);
    else this.ring[this.next] = record;
    this.next = (this.next + 1) % RING_SIZE;
    const second = Math.floor(record.time / 1000);
    if (second !== this.windowStart) {
      this.windowStart = second;
      this.writes = 0;
    }
    if (this.writes++ < MAX_WRITES_PER_SECOND) {
      void this.core.backend.kv.set(keyOf(requestId), JSON.stringify(record), RETAIN_MS).catch(() => undefined);
    }
  }
}

function safeUnescape(jsonFragment: string): string {
  try {
    return JSON.parse(`"${jsonFragment.replace(/\\$/, '')}"`) as string;
  } catch {
    return jsonFragment;
  }
}
