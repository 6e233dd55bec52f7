/**
 * WebSocket subscribers of the chaos run.
 *
 * - `PusherJsWatcher`: an unmodified `pusher-js` client (through test/helpers/pusher-peers)
 *   on one node, subscribed to a public channel and the presence channel under its own
 *   user id. It records every `tick`, its sessions and `roomcast:recovery_failed`, and
 *   answers "am I live" and "whom do I see" for the presence checks.
 * - `ResumeWatcher`: a raw protocol 2 client (test/helpers/ws-client) that sees serials and,
 *   after each fault, drops its socket and subscribes again with `last_serial`, as a
 *   client recovering by serial does. Each resume is recorded with the last sequence it
 *   had seen and whether the server flagged it (`recovery_failed`) or replayed cleanly.
 */
import type { PresenceChannel } from 'pusher-js';
import { pusherJsClient, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { RawPusherClient, type PusherFrame } from '../helpers/ws-client.ts';
import { closeInterval, newTrack, openInterval, seqOf, type Track } from './tracks.ts';

export class PusherJsWatcher {
  readonly tracks: Track[];
  /** The presence channel among its channels. */
  readonly presenceChannel: string;
  private closedByHarness = false;

  private constructor(
    readonly node: string,
    readonly userId: string,
    readonly client: PusherJs,
    channels: readonly string[],
  ) {
    this.tracks = channels.map((channel) => newTrack(`pusher-js ${userId}@${node}`, 'pusher-js', node, channel));
    this.presenceChannel = channels.find((channel) => channel.startsWith('presence-')) ?? '';
    client.connection.bind('state_change', ({ current }: { current: string }) => {
      if (current !== 'connected') for (const track of this.tracks) closeInterval(track);
    });
    for (const track of this.tracks) {
      const channel = client.channel(track.channel) ?? client.subscribe(track.channel);
      channel.bind('pusher:subscription_succeeded', () => openInterval(track));
      channel.bind('tick', (data: unknown) => {
        const seq = seqOf(data);
        if (seq !== null) track.received.push({ seq, at: Date.now(), serial: null, epoch: null });
      });
      channel.bind('roomcast:recovery_failed', () => track.told.push(Date.now()));
    }
  }

  /** Connects to `port` as `userId` and subscribes to every channel (the presence channel last). */
  static async open(node: string, port: number, userId: string, channels: readonly string[]): Promise<PusherJsWatcher> {
    // A node that just started may be slow to answer on a loaded machine: a few tries.
    for (let attempt = 1; ; attempt++) {
      try {
        return await PusherJsWatcher.openOnce(node, port, userId, channels);
      } catch (error) {
        if (attempt >= 4) throw error;
      }
    }
  }

  private static async openOnce(node: string, port: number, userId: string, channels: readonly string[]): Promise<PusherJsWatcher> {
    const client = await pusherJsClient(port, { presence: { user_id: userId }, connectTimeoutMs: 10_000 });
    try {
      // Subscribing first, then binding: the watcher's handlers are on the channel objects
      // before any tick can arrive, and `subscribed()` waits for the server's answer.
      const waits = channels.map((channel) => subscribed(client, channel));
      const watcher = new PusherJsWatcher(node, userId, client, channels);
      await Promise.all(waits);
      for (const track of watcher.tracks) openInterval(track);
      return watcher;
    } catch (error) {
      client.disconnect();
      throw error;
    }
  }

  /** Connected, and subscribed to the presence channel: the server should list this user. */
  live(): boolean {
    if (this.closedByHarness || this.client.connection.state !== 'connected') return false;
    return this.client.channel(this.presenceChannel)?.subscribed === true;
  }

  /** The presence members this client sees (pusher-js's member list), or null when not subscribed. */
  members(): string[] | null {
    const channel = this.client.channel(this.presenceChannel) as PresenceChannel | undefined;
    if (channel === undefined || !channel.subscribed) return null;
    const ids: string[] = [];
    channel.members.each((member: { id: string }) => ids.push(member.id));
    return ids;
  }

  /** Leaves for good (its node died: a replacement client comes with a new user id). */
  disconnect(): void {
    this.closedByHarness = true;
    for (const track of this.tracks) closeInterval(track);
    this.client.disconnect();
  }
}

/** One resume: what the client had, and what the server answered. */
export interface ResumeRecord {
  readonly track: string;
  readonly at: number;
  /** The last sequence number it had seen (null: nothing yet, subscribed fresh). */
  readonly lastSeq: number | null;
  readonly lastSerial: string | null;
  /** 'flagged': recovery_failed; 'clean': subscription succeeded without it; 'error': no subscription. */
  outcome: 'flagged' | 'clean' | 'error';
  /** Ticks received in the first second after the subscribe (the replay, and some live ones). */
  replayed: number;
}

export class ResumeWatcher {
  readonly track: Track;
  readonly resumes: ResumeRecord[] = [];
  private client: RawPusherClient | null = null;
  private lastSerial: string | null = null;
  private lastSeq: number | null = null;
  /** When the current socket closed (null while open). */
  private closedAt: number | null = null;

  constructor(
    readonly node: string,
    private readonly port: number,
    readonly channel: string,
  ) {
    this.track = newTrack(`resume@${node}`, 'resume', node, channel);
  }

  private onFrame(frame: PusherFrame & { serial?: string; epoch?: string }): void {
    if (frame.channel !== this.channel) return;
    if (frame.event === 'roomcast:recovery_failed') {
      this.track.told.push(Date.now());
      return;
    }
    if (frame.event !== 'tick') return;
    const seq = seqOf(frame.data);
    if (seq === null) return;
    const serial = typeof frame.serial === 'string' ? frame.serial : null;
    this.track.received.push({ seq, at: Date.now(), serial, epoch: typeof frame.epoch === 'string' ? frame.epoch : null });
    this.lastSeq = seq;
    if (serial !== null) this.lastSerial = serial;
  }

  /** Connects and subscribes, with `last_serial` when it has one. Resolves with the server's first answer. */
  private async connect(): Promise<'ok' | 'error'> {
    const client = await RawPusherClient.connect(this.port, undefined, 'protocol=2&client=chaos&version=1.0');
    this.client = client;
    this.closedAt = null;
    void client.closed.then(() => (this.closedAt ??= Date.now()));
    client.ws.on('message', (data, isBinary) => {
      // A socket this client gave up on (closed after a failed try) is no longer read: a
      // frame still arriving there would be counted beside the resubscribed socket's copy.
      if (isBinary || this.client !== client) return;
      try {
        this.onFrame(JSON.parse(data.toString()) as PusherFrame);
      } catch {
        // not JSON: nothing to record
      }
    });
    const subscribe: Record<string, string> = { channel: this.channel };
    if (this.lastSerial !== null) subscribe.last_serial = this.lastSerial;
    client.send({ event: 'pusher:subscribe', data: subscribe });
    const answer = await client.next((frame) => frame.channel === this.channel && /subscription_(succeeded|error)$/.test(frame.event), 5000);
    // The helper keeps every frame for `next`; this watcher reads them itself.
    client.frames.length = 0;
    return answer.event.endsWith('succeeded') ? 'ok' : 'error';
  }

  async start(): Promise<void> {
    if ((await this.connect()) !== 'ok') throw new Error(`resume watcher on ${this.node} could not subscribe`);
    openInterval(this.track);
    // The helper's own frame list would grow for the whole run: drop it every second.
    const client = this.client!;
    const timer = setInterval(() => (client.frames.length = 0), 1000);
    void client.closed.then(() => clearInterval(timer));
  }

  /**
   * Drops the socket and subscribes again with the last serial seen (a few tries, a fault
   * may still be settling). Coverage continues across a resume: whatever was acknowledged
   * meanwhile must arrive, or `recovery_failed` must say it cannot.
   */
  async resume(): Promise<void> {
    this.client?.close();
    await this.client?.closed;
    // Without a serial there is nothing to resume from: what was published while the socket
    // was down is owed to nobody (coverage ends when the socket closed).
    if (this.lastSerial === null) closeInterval(this.track, this.closedAt ?? Date.now());
    const record: ResumeRecord = { track: this.track.name, at: Date.now(), lastSeq: this.lastSeq, lastSerial: this.lastSerial, outcome: 'error', replayed: 0 };
    this.resumes.push(record);
    const toldBefore = this.track.told.length;
    const receivedBefore = this.track.received.length;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        if ((await this.connect()) === 'ok') {
          record.outcome = 'clean';
          break;
        }
      } catch {
        // not reachable yet
      }
      this.client?.close();
      await new Promise((done) => setTimeout(done, 500));
    }
    if (record.outcome === 'error') {
      // Never subscribed again: nothing is owed from the moment its socket went.
      closeInterval(this.track, this.closedAt ?? record.at);
      return;
    }
    const client = this.client!;
    const timer = setInterval(() => (client.frames.length = 0), 1000);
    void client.closed.then(() => clearInterval(timer));
    await new Promise((done) => setTimeout(done, 1000));
    if (this.track.told.length > toldBefore) record.outcome = 'flagged';
    record.replayed = this.track.received.length - receivedBefore;
    // A failed resume leaves coverage broken until now; a fresh interval continues it.
    openInterval(this.track);
  }

  close(): void {
    closeInterval(this.track);
    this.client?.close();
  }
}
