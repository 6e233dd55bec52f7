/**
 * Publish load from the official `pusher` server SDK: signed `trigger` calls at a steady
 * rate, round-robin over the nodes that are up, each carrying a unique sequence number
 * (`{"seq":n}`). A publish answered 200 is *acknowledged*: its channel, serial (from
 * `message_serials`), send and answer times and the phase it belongs to go into `acks`,
 * the ledger every checker reads. Failed or timed-out publishes are only counted.
 */
import { Agent } from 'node:http';
import Pusher from 'pusher';
import { TEST_APP } from '../helpers/app.ts';

/** One acknowledged publish. */
export interface Ack {
  readonly seq: number;
  readonly channel: string;
  /** The serial the publish reply named (null when the reply had none). */
  readonly serial: string | null;
  /** Any epoch the reply carried beside the serial (`message_epochs` or `epoch`), else null. */
  readonly epoch: string | null;
  readonly node: string;
  readonly sentAt: number;
  readonly ackAt: number;
  /** The phase (scenario) running when it was sent. */
  readonly phase: string;
  /** How many data-losing faults (Redis emptied, memory node restarted) had happened when it was sent. */
  readonly era: number;
}

export interface PublishTarget {
  readonly name: string;
  readonly port: number;
}

export interface PublisherOptions {
  /** The channels to publish to now (round-robin; called for every publish). */
  readonly channels: () => readonly string[];
  /** Publishes per second. */
  readonly rate: number;
  /** At most this many publishes in flight (more are skipped, and counted). */
  readonly maxInFlight: number;
  /** Per-request timeout (ms). */
  readonly timeoutMs: number;
  /** The nodes to publish to now (called for every publish). */
  readonly targets: () => readonly PublishTarget[];
  /** Phase label and era for each publish. */
  readonly phase: () => { phase: string; era: number };
}

export class Publisher {
  readonly acks: Ack[] = [];
  failed = 0;
  skipped = 0;
  private seq = 0;
  private inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private readonly sdks = new Map<number, Pusher>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private round = 0;

  constructor(private readonly options: PublisherOptions) {}

  private sdk(port: number): Pusher {
    let sdk = this.sdks.get(port);
    if (sdk === undefined) {
      sdk = new Pusher({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret, host: '127.0.0.1', port: String(port), useTLS: false, timeout: this.options.timeoutMs, agent: this.agent });
      this.sdks.set(port, sdk);
    }
    return sdk;
  }

  start(): void {
    if (this.timer !== null) return;
    const startedAt = Date.now();
    let sent = 0;
    this.timer = setInterval(() => {
      const due = Math.floor(((Date.now() - startedAt) * this.options.rate) / 1000) - sent;
      // A stalled harness does not burst: at most 50 ms worth of publishes per tick.
      const count = Math.min(due, Math.ceil(this.options.rate / 20));
      for (let i = 0; i < count; i++) {
        sent += 1;
        if (this.inFlight.size >= this.options.maxInFlight) {
          this.skipped += 1;
          continue;
        }
        this.publishOne();
      }
      if (due > count) sent += due - count;
    }, 10);
  }

  private publishOne(): void {
    const targets = this.options.targets();
    if (targets.length === 0) {
      this.skipped += 1;
      return;
    }
    const target = targets[this.round % targets.length]!;
    const channels = this.options.channels();
    const channel = channels[this.round % channels.length]!;
    this.round += 1;
    const seq = ++this.seq;
    const { phase, era } = this.options.phase();
    const sentAt = Date.now();
    const work = (async () => {
      try {
        const response = await this.sdk(target.port).trigger(channel, 'tick', { seq });
        const body = (await response.json()) as { message_serials?: Record<string, string>; message_epochs?: Record<string, string>; epoch?: string };
        this.acks.push({
          seq,
          channel,
          serial: body.message_serials?.[channel] ?? null,
          epoch: body.message_epochs?.[channel] ?? body.epoch ?? null,
          node: target.name,
          sentAt,
          ackAt: Date.now(),
          phase,
          era,
        });
      } catch {
        this.failed += 1;
      }
    })();
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /** Publishes exactly one event now and waits for its answer (used to seed serials). */
  async publishNow(): Promise<void> {
    this.publishOne();
    await Promise.all([...this.inFlight]);
  }

  /** Stops sending and waits for every publish in flight. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await Promise.all([...this.inFlight]);
  }

  close(): void {
    this.agent.destroy();
  }

  get sentCount(): number {
    return this.seq;
  }
}
