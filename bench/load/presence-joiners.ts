/**
 * Load generator: presence joins on a schedule, one WebSocket connection and one user
 * each (`u{index}`). The orchestrator hands every worker its share of the global join
 * indices and one schedule (`startAt + index × 1000 / rate`), so several workers together
 * keep one pace.
 *
 * Built to be cheap, so the machine's CPU goes to the servers: a minimal WebSocket client
 * over `net.Socket` read through `onread` (the upgrade request written by hand, the `101` and its
 * `Sec-WebSocket-Accept` checked, masked text frames out, server frames split by their
 * headers without copying), one scheduler timer and one timeout sweep per worker instead
 * of timers per join. Every joiner still completes the Pusher protocol:
 * `pusher:connection_established` (its socket id read), a presence subscribe signed for
 * that socket id, and `pusher_internal:subscription_succeeded`, which counts the join and
 * its latency. `pusher:ping` and WebSocket pings are answered.
 *
 * Checks of what clients see, in two depths:
 * - every client counts its members without parsing JSON: the snapshot's `count`, plus
 *   one per `member_added` frame, minus one per `member_removed` (the event name compared
 *   at its fixed place in the frame). `views` reports the clients whose count differs
 *   from the members that joined their channel;
 * - observers, two per channel (the channel's first joiner and the one halfway through
 *   its joins), parse every frame: the snapshot's ids and each member frame's `user_id`.
 *   `views` reports the members missing from their lists, members not expected there,
 *   and duplicates (an id twice in a snapshot, or a `member_added` for a user the
 *   observer already lists).
 *
 * Join `index` goes to channel `{channel}-{index % channels}`.
 *
 * Commands: warm · join {origins, channel, channels, indices, rate, startAt, total} ·
 * views {expected, channels} · snapshot · close.
 */
import { createHash, createHmac, randomFillSync } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import { serveWorker } from '../lib/worker.ts';

interface JoinArgs {
  /** Node origins; join `index` goes to `origins[index % origins.length]`. */
  origins: string[];
  /** Channel name stem: join `index` goes to `{channel}-{index % channels}`. */
  channel: string;
  channels: number;
  /** This worker's global join indices. */
  indices: number[];
  /** Joins per second over all workers. */
  rate: number;
  /** Wall-clock ms of join 0's slot. */
  startAt: number;
  /** Joins over all workers (user indices are below it). */
  total: number;
}

const JOIN_TIMEOUT_MS = 60_000;
/** One key for every upgrade of this worker: the server's accept for it is computed once. */
const WS_KEY = Buffer.from('presence-joiners').toString('base64');
const WS_ACCEPT = createHash('sha1').update(`${WS_KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
const HEADERS_END = Buffer.from('\r\n\r\n');
const MEMBER_PREFIX = Buffer.from('{"event":"pusher_internal:member_');
/** Offset of the letter after `member_`: `a`dded or `r`emoved. */
const MEMBER_KIND_AT = MEMBER_PREFIX.length;
const PING_PREFIX = Buffer.from('{"event":"pusher:ping"');
const COUNT_MARK = Buffer.from('"count\\":');
const PONG_TEXT = '{"event":"pusher:pong","data":"{}"}';
/** Where every socket of this worker reads into (see joinOne). */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

type Phase = 'upgrade' | 'connected' | 'subscribing' | 'joined' | 'failed';

class Joiner {
  phase: Phase = 'upgrade';
  /** Unparsed bytes (an incomplete frame, or the upgrade response so far). */
  rest: Buffer | null = null;
  subscribedAt = 0;
  /** Members by the cheap count: snapshot count + member_added − member_removed. */
  members = 0;
  /** Observers only: 1 for each user index listed. */
  view: Uint8Array | null;
  duplicates = 0;
  readonly channelData: string;

  constructor(
    readonly index: number,
    readonly channel: string,
    readonly socket: Socket,
    readonly startedAt: number,
    observer: boolean,
    total: number,
    readonly done: (error: Error | null, joinMs: number) => void,
  ) {
    this.view = observer ? new Uint8Array(total) : null;
    this.channelData = JSON.stringify({ user_id: `u${index}`, user_info: { n: index } });
  }
}

const joiners: Joiner[] = [];
const pending = new Set<Joiner>();
let frames = 0;
let errors = 0;
let firstError = '';

/** A masked client frame (RFC 6455 §5.3: every client frame is masked, with a fresh key). */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : 4;
  const frame = Buffer.allocUnsafe(headerLength + 4 + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) frame[1] = 0x80 | length;
  else {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  }
  randomFillSync(frame, headerLength, 4);
  const maskAt = headerLength;
  const at = headerLength + 4;
  for (let i = 0; i < length; i++) frame[at + i] = payload[i]! ^ frame[maskAt + (i & 3)]!;
  return frame;
}

function fail(joiner: Joiner, error: Error): void {
  if (joiner.phase === 'failed') return;
  const wasJoined = joiner.phase === 'joined';
  joiner.phase = 'failed';
  pending.delete(joiner);
  joiner.socket.destroy();
  if (wasJoined) {
    errors++;
    if (firstError === '') firstError = `u${joiner.index} after joining: ${error.message}`;
  } else joiner.done(error, 0);
}

/** One text frame from the server (payload `data[start, end)`). */
function onText(joiner: Joiner, data: Buffer, start: number, end: number): void {
  if (joiner.phase === 'joined') {
    frames++;
    if (joiner.view !== null) return observe(joiner, data.toString('utf8', start, end));
    if (data.compare(MEMBER_PREFIX, 0, MEMBER_PREFIX.length, start, start + MEMBER_PREFIX.length) === 0) {
      const kind = data[start + MEMBER_KIND_AT];
      if (kind === 0x61) joiner.members++;
      else if (kind === 0x72) joiner.members--;
    } else if (end - start < 64 && data.compare(PING_PREFIX, 0, PING_PREFIX.length, start, start + PING_PREFIX.length) === 0) {
      joiner.socket.write(clientFrame(1, Buffer.from(PONG_TEXT)));
    }
    return;
  }
  const text = data.toString('utf8', start, end);
  if (text.includes('pusher:connection_established') && joiner.phase === 'connected') {
    const socketId = (JSON.parse((JSON.parse(text) as { data: string }).data) as { socket_id: string }).socket_id;
    const auth = `${BENCH_APP.key}:${createHmac('sha256', BENCH_APP.secret).update(`${socketId}:${joiner.channel}:${joiner.channelData}`).digest('hex')}`;
    joiner.phase = 'subscribing';
    joiner.subscribedAt = Date.now();
    joiner.socket.write(clientFrame(1, Buffer.from(JSON.stringify({ event: 'pusher:subscribe', data: { channel: joiner.channel, auth, channel_data: joiner.channelData } }))));
  } else if (text.includes('pusher_internal:subscription_succeeded') && joiner.phase === 'subscribing') {
    if (joiner.view !== null) {
      const presence = (JSON.parse((JSON.parse(text) as { data: string }).data) as { presence?: { ids?: string[]; count?: number } }).presence;
      for (const id of presence?.ids ?? []) {
        const user = Number(id.slice(1));
        if (joiner.view[user] === 1) joiner.duplicates++;
        joiner.view[user] = 1;
      }
      joiner.members = presence?.count ?? 0;
    } else {
      const at = data.indexOf(COUNT_MARK, start);
      joiner.members = at < 0 || at >= end ? Number.NaN : Number.parseInt(data.toString('latin1', at + COUNT_MARK.length, Math.min(end, at + COUNT_MARK.length + 12)), 10);
    }
    joiner.phase = 'joined';
    pending.delete(joiner);
    joiners.push(joiner);
    joiner.done(null, Date.now() - joiner.subscribedAt);
  } else if (text.includes('pusher:error') || text.includes('subscription_error')) {
    fail(joiner, new Error(`u${joiner.index}: ${text.slice(0, 200)}`));
  }
}

/** An observer's member frame, fully parsed. */
function observe(joiner: Joiner, text: string): void {
  const frame = JSON.parse(text) as { event: string; data?: string };
  if (frame.event === 'pusher:ping') {
    joiner.socket.write(clientFrame(1, Buffer.from(PONG_TEXT)));
    return;
  }
  const added = frame.event === 'pusher_internal:member_added';
  if (!added && frame.event !== 'pusher_internal:member_removed') return;
  const user = Number((JSON.parse(frame.data ?? '{}') as { user_id: string }).user_id.slice(1));
  if (added) {
    if (joiner.view![user] === 1) joiner.duplicates++;
    joiner.view![user] = 1;
    joiner.members++;
  } else {
    joiner.view![user] = 0;
    joiner.members--;
  }
}

/** Splits the server's bytes into frames (server frames are never masked). */
function onData(joiner: Joiner, chunk: Buffer): void {
  let data = joiner.rest === null ? chunk : Buffer.concat([joiner.rest, chunk]);
  joiner.rest = null;
  let at = 0;
  if (joiner.phase === 'upgrade') {
    const end = data.indexOf(HEADERS_END);
    if (end < 0) {
      joiner.rest = Buffer.from(data);
      return;
    }
    const head = data.toString('latin1', 0, end);
    if (!head.startsWith('HTTP/1.1 101') || !head.includes(WS_ACCEPT)) return fail(joiner, new Error(`u${joiner.index}: upgrade refused: ${head.slice(0, 120)}`));
    joiner.phase = 'connected';
    at = end + HEADERS_END.length;
  }
  const length = data.length;
  while (at + 2 <= length) {
    const first = data[at]!;
    let size = data[at + 1]! & 0x7f;
    let header = 2;
    if (size === 126) {
      if (at + 4 > length) break;
      size = data.readUInt16BE(at + 2);
      header = 4;
    } else if (size === 127) {
      if (at + 10 > length) break;
      size = data.readUInt32BE(at + 6);
      header = 10;
    }
    if (at + header + size > length) break;
    const start = at + header;
    at = start + size;
    const opcode = first & 0x0f;
    if (opcode === 1 && (first & 0x80) !== 0) onText(joiner, data, start, at);
    else if (opcode === 9) joiner.socket.write(clientFrame(10, data.subarray(start, at)));
    else if (opcode === 8) return fail(joiner, new Error(`u${joiner.index}: closed by the server (${size >= 2 ? data.readUInt16BE(start) : 'no code'})`));
    else if (opcode !== 10) return fail(joiner, new Error(`u${joiner.index}: unexpected frame opcode ${opcode}, fin ${first >> 7}`));
    if (joiner.phase === 'failed') return;
  }
  // A copy: `data` may be the shared read buffer, which the next read overwrites.
  if (at < length) joiner.rest = Buffer.from(data.subarray(at));
}

function joinOne(origin: URL, channel: string, index: number, total: number, observer: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    let joiner: Joiner | undefined;
    // `onread`: the bytes land in one buffer shared by every socket of this worker and are
    // split right away, without a Readable stream per socket (what is left of a frame is copied).
    const socket = connect({
      port: Number(origin.port),
      host: origin.hostname,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (bytes: number, buffer: Uint8Array) => {
          onData(joiner!, (buffer as Buffer).subarray(0, bytes));
          return true;
        },
      },
    });
    joiner = new Joiner(index, channel, socket, Date.now(), observer, total, (error, joinMs) => (error === null ? resolve(joinMs) : reject(error)));
    pending.add(joiner);
    socket.write(
      `GET /app/${BENCH_APP.key}?protocol=7&client=bench&version=1.0 HTTP/1.1\r\nHost: ${origin.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    socket.on('error', (error) => fail(joiner!, error));
    socket.on('close', () => fail(joiner!, new Error(`u${index}: connection closed`)));
  });
}

/** Fails the joins still unanswered after JOIN_TIMEOUT_MS (one sweep per second, no timer per join). */
const sweeper = setInterval(() => {
  const now = Date.now();
  for (const joiner of pending) if (now - joiner.startedAt > JOIN_TIMEOUT_MS) fail(joiner, new Error(`join ${joiner.index} timed out (${JOIN_TIMEOUT_MS / 1000} s)`));
}, 1000);
sweeper.unref();

function join(args: JoinArgs): Promise<{ joinMs: number[]; lateMs: number[]; lastJoinedAt: number; failed: number; joined: number[] }> {
  const joined: number[] = [];
  const joinMs: number[] = [];
  const lateMs: number[] = [];
  let lastJoinedAt = 0;
  let failed = 0;
  let settled = 0;
  const origins = args.origins.map((origin) => new URL(origin));
  const rows = Math.ceil(args.total / args.channels);
  const isObserver = (index: number): boolean => {
    const row = Math.floor(index / args.channels);
    return row === 0 || row === Math.floor(rows / 2);
  };
  const indices = [...args.indices].sort((a, b) => a - b);
  const slotOf = (index: number): number => args.startAt + (index * 1000) / args.rate;
  return new Promise((resolve) => {
    const finish = (): void => {
      if (++settled === indices.length) resolve({ joinMs, lateMs, lastJoinedAt, failed, joined });
    };
    if (indices.length === 0) return resolve({ joinMs, lateMs, lastJoinedAt, failed, joined });
    let next = 0;
    // One timer: starts every join whose slot has come, then sleeps until the next slot.
    const tick = (): void => {
      const now = Date.now();
      while (next < indices.length && slotOf(indices[next]!) <= now) {
        const index = indices[next++]!;
        // How late this worker started the join against its slot (the generator's own lag).
        lateMs.push(now - slotOf(index));
        joinOne(origins[index % origins.length]!, `${args.channel}-${index % args.channels}`, index, args.total, isObserver(index)).then(
          (ms) => {
            joinMs.push(ms);
            joined.push(index);
            lastJoinedAt = Math.max(lastJoinedAt, Date.now());
            finish();
          },
          (error: unknown) => {
            failed++;
            errors++;
            if (firstError === '') firstError = error instanceof Error ? error.message : String(error);
            finish();
          },
        );
      }
      if (next < indices.length) setTimeout(tick, Math.max(0, slotOf(indices[next]!) - Date.now()));
    };
    tick();
  });
}

/** The clients' member lists against `expected` (the user indices that joined), per channel. */
function countViews(args: { expected: number[]; channels: number }): {
  clients: number;
  wrongCount: number;
  countSample: string;
  observers: number;
  incomplete: number;
  missing: number;
  extra: number;
  duplicates: number;
  sample: string;
} {
  const perChannel = new Map<number, number>();
  const total = joiners[0]?.view?.length ?? Math.max(0, ...args.expected) + 1;
  const wanted = new Uint8Array(total);
  for (const index of args.expected) {
    wanted[index] = 1;
    perChannel.set(index % args.channels, (perChannel.get(index % args.channels) ?? 0) + 1);
  }
  let wrongCount = 0;
  let countSample = '';
  let observers = 0;
  let incomplete = 0;
  let missing = 0;
  let extra = 0;
  let duplicates = 0;
  let sample = '';
  for (const joiner of joiners) {
    if (joiner.phase !== 'joined') continue;
    const expected = perChannel.get(joiner.index % args.channels) ?? 0;
    if (joiner.members !== expected) {
      wrongCount++;
      if (countSample === '') countSample = `u${joiner.index} counts ${joiner.members} of ${expected}`;
    }
    const view = joiner.view;
    if (view === null) continue;
    observers++;
    duplicates += joiner.duplicates;
    const lacking: number[] = [];
    // Same channel: the indices congruent to the client's own modulo the channel count.
    for (let index = joiner.index % args.channels; index < view.length; index += args.channels) {
      if (wanted[index] === 1 && view[index] === 0) lacking.push(index);
      else if (wanted[index] === 0 && view[index] === 1) extra++;
    }
    missing += lacking.length;
    if (lacking.length > 0) {
      incomplete++;
      if (sample === '') sample = `u${joiner.index} lacks ${lacking.length}: ${lacking.slice(0, 8).map((index) => `u${index}`).join(' ')}`;
    }
  }
  return { clients: joiners.length, wrongCount, countSample, observers, incomplete, missing, extra, duplicates, sample };
}

/**
 * Runs the frame splitter and both member paths over synthetic bytes (no server), so the
 * timed phase does not pay for their first, unoptimized runs.
 */
function warm(): null {
  const socket = { write: () => true, destroy: () => undefined } as unknown as Socket;
  const frame = (text: string): Buffer => {
    const payload = Buffer.from(text);
    const header = payload.length < 126 ? Buffer.from([0x81, payload.length]) : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff]);
    return Buffer.concat([header, payload]);
  };
  const added = (user: number): Buffer => frame(JSON.stringify({ event: 'pusher_internal:member_added', channel: 'warm', data: JSON.stringify({ user_id: `u${user}`, user_info: { n: user } }) }));
  const stream = Buffer.concat(Array.from({ length: 200 }, (_, user) => added(user)));
  for (const observer of [false, true]) {
    for (let round = 0; round < 20; round++) {
      const joiner = new Joiner(0, 'warm', socket, Date.now(), observer, 200, () => undefined);
      joiner.phase = 'joined';
      onData(joiner, stream.subarray(0, 1000));
      onData(joiner, stream.subarray(1000));
    }
  }
  for (let round = 0; round < 200; round++) clientFrame(1, Buffer.from(PONG_TEXT));
  frames = 0;
  return null;
}

serveWorker({
  warm: () => warm(),
  join: (args: JoinArgs) => join(args),
  views: (args: { expected: number[]; channels: number }) => countViews(args),
  snapshot: () => ({ frames, errors, firstError, open: joiners.filter((joiner) => joiner.phase === 'joined').length }),
  close: () => {
    for (const joiner of joiners) joiner.socket.destroy();
    joiners.length = 0;
    return null;
  },
});
