/**
 * The Bayeux subscriber of the chaos run: the npm `faye` client, logged in as the room's
 * bot on one node (test/helpers/bots `login`), following `/service/stream`. An extension
 * watches the wire: each stream event (its `id` is the serial) goes into the track, a
 * `RecoveryFailed` event counts as told, a successful `/meta/subscribe` opens a session
 * and any later `/meta/handshake` closes it and counts as told (Bayeux's way of saying the
 * session and its queue are gone is the advice to handshake again). A
 * watchdog logs in again when no `/meta/connect` succeeded for a while (a login the
 * backend forgot answers 403 forever); the login tries are bounded. With `ack`, it speaks
 * the Bayeux ack extension through a faye extension, as CometD's AckExtension does: each
 * connect acknowledges the batch id of the last connect reply it received.
 */
import faye from 'faye';
import { login } from '../helpers/bots.ts';
import { BOT, ROOM } from './cluster.ts';
import { closeInterval, newTrack, openInterval, seqOf, type Track } from './tracks.ts';

const STREAM = '/service/stream';
/** A bot polls successfully when its last connect reply came this recently (the chaos config holds a connect 2 s). */
const POLLING_MS = 3000;

export class BotWatcher {
  readonly track: Track;
  relogins = 0;
  private client: InstanceType<typeof faye.Client> | null = null;
  private lastConnectOk = Date.now();
  private handshakes = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private relogging = false;

  /** With `ack`: the batch id of the last connect reply received (what the next connect acknowledges). */
  private lastBatch = 0;

  constructor(
    readonly node: string,
    private readonly url: string,
    private readonly staleMs: number,
    /** Speak the Bayeux ack extension (as CometD's AckExtension does): delivery survives a reply lost with its node. */
    private readonly ack = false,
  ) {
    this.track = newTrack(`faye bot${ack ? ' (ack)' : ''}@${node}`, 'bayeux', node, ROOM.channel);
  }

  /** The login's cookies (a relogin replaces them). */
  private cookie = '';

  async start(): Promise<void> {
    const { cookie, status } = await login(this.url, { room: ROOM.code, token: BOT.token });
    if (status !== 200) throw new Error(`bot login answered ${status}`);
    this.cookie = cookie;
    await this.open();
    this.watchdog = setInterval(() => void this.checkStale(), 500);
  }

  /**
   * Ends this bot's faye client and starts another on the same login, once `route` has set
   * where its handshake goes (the node that becomes its home: the one about to be faulted).
   * Not a gap told to the bot: what is published between the two clients is not expected.
   * Skipped (false) while the bot is not polling successfully (its login or client was lost,
   * e.g. with Redis's data): the new login and the handshake the watchdog leads to tell the
   * bot of that gap, which a new client here would hide.
   */
  async rehome(route: () => void): Promise<boolean> {
    if (this.relogging || Date.now() - this.lastConnectOk > POLLING_MS) return false;
    closeInterval(this.track);
    const old = this.client;
    this.client = null;
    old?.disconnect();
    this.handshakes = 0;
    route();
    await this.open();
    return true;
  }

  /** A faye client on the login: handshake, then `/service/stream`. */
  private async open(): Promise<void> {
    const client = new faye.Client(`${this.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
    this.client = client;
    client.disable('websocket');
    client.disable('eventsource');
    client.setHeader('Cookie', this.cookie);
    client.addExtension({
      outgoing: (message, callback) => {
        if (message.channel === '/meta/handshake') {
          this.handshakes += 1;
          if (this.handshakes > 1) {
            closeInterval(this.track);
            this.track.told.push(Date.now());
          }
          if (this.ack) {
            this.lastBatch = 0;
            message.ext = { ...(message.ext as object | undefined), ack: true };
          }
        }
        if (this.ack && message.channel === '/meta/connect') message.ext = { ...(message.ext as object | undefined), ack: this.lastBatch };
        callback(message);
      },
      incoming: (message, callback) => {
        // A client replaced by `rehome` is not this bot any more.
        if (this.client === client) this.onIncoming(message);
        callback(message);
      },
    });
    await client.subscribe(STREAM, () => undefined);
    openInterval(this.track);
    this.lastConnectOk = Date.now();
  }

  private onIncoming(message: Record<string, unknown>): void {
    if (message.channel === '/meta/connect' && message.successful === true) {
      this.lastConnectOk = Date.now();
      const batch = (message.ext as { ack?: unknown } | undefined)?.ack;
      if (this.ack && typeof batch === 'number') this.lastBatch = batch;
    }
    if (message.channel === '/meta/subscribe' && message.successful === true && message.subscription === STREAM) openInterval(this.track);
    if (message.channel !== STREAM || message.data === null || typeof message.data !== 'object') return;
    const data = message.data as { messageType?: string; contentData?: string };
    if (data.messageType === 'RecoveryFailed') {
      this.track.told.push(Date.now());
      return;
    }
    // Room events of any name (Message, Event, …); not presence or message-change events.
    if (data.messageType === 'Join' || data.messageType === 'Exit' || data.messageType?.startsWith('Message') === true && data.messageType !== 'Message') return;
    const seq = seqOf(data.contentData);
    if (seq !== null) this.track.received.push({ seq, at: Date.now(), serial: typeof message.id === 'string' ? message.id : null, epoch: null });
  }

  private async checkStale(): Promise<void> {
    if (this.relogging || this.client === null || Date.now() - this.lastConnectOk < this.staleMs || this.relogins >= 200) return;
    this.relogging = true;
    closeInterval(this.track);
    try {
      this.relogins += 1;
      const { cookie, status } = await login(this.url, { room: ROOM.code, token: BOT.token });
      if (status === 200) {
        this.cookie = cookie;
        this.client.setHeader('Cookie', cookie);
        this.lastConnectOk = Date.now();
      }
    } catch {
      // the node is not answering: try again on the next tick
    } finally {
      this.relogging = false;
    }
  }

  close(): void {
    if (this.watchdog !== null) clearInterval(this.watchdog);
    closeInterval(this.track);
    this.client?.disconnect();
  }
}
