/**
 * WebSocket fuzz: frames on live connections (protocol-shaped JSON with hostile fields,
 * signed and unsigned subscribe and sign-in payloads, mutations, deep JSON, binary frames,
 * text frames that are not UTF-8, messages split into fragments, oversized frames), raw
 * frame bytes after a real upgrade (bad opcodes, reserved bits, unmasked, lying lengths)
 * and bad upgrade requests.
 *
 * Property: the server never answers with an internal error (`RC_ERR_INTERNAL`, a 5xx
 * subscription error, an HTTP 5xx upgrade reply), a connection it keeps still answers a
 * `pusher:ping` within a second, and a connection it closes is closed with a code that
 * names the client's fault (1002, 1007, 1009, 4xxx).
 */
import { createHmac } from 'node:crypto';
import { connect } from 'node:net';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { draw, hostileString, idLike, jsonish, mutatedText, deepJsonText, PROTO_KEYS } from './arbitraries.ts';
import { FUZZ_APP } from './server.ts';
import { DoorStats, laneInputs, runPool } from './stats.ts';

const sign = (text: string): string => `${FUZZ_APP.key}:${createHmac('sha256', FUZZ_APP.secret).update(text).digest('hex')}`;

/** A frame to send on a connection whose socket id is known only when it is sent. */
export type FrameInput =
  | { readonly kind: 'text'; readonly build: (socketId: string) => string }
  | { readonly kind: 'binary'; readonly bytes: Buffer }
  | { readonly kind: 'bad-utf8'; readonly bytes: Buffer }
  | { readonly kind: 'fragments'; readonly parts: string[] }
  | { readonly kind: 'oversized'; readonly size: number };

const channelName = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom('fuzz-0', 'presence-fuzz', 'private-fuzz', 'cache-fuzz', 'private-encrypted-fuzz', '#server-to-user-x') },
  { weight: 3, arbitrary: fc.oneof(idLike('presence-'), idLike('private-'), idLike('cache-'), idLike()) },
);

const subscribeFrame = fc
  .record({
    channel: channelName,
    userId: fc.oneof(idLike(), jsonish),
    userInfo: jsonish,
    signed: fc.constantFrom('channel_data', 'plain', 'bad', 'none'),
    lastSerial: fc.option(fc.oneof(fc.constantFrom('00000000001', '99999999999', '0', '-1', '1e9'), hostileString), { freq: 3 }),
    annotations: fc.option(jsonish, { freq: 4 }),
    asString: fc.boolean(),
    extra: fc.option(fc.tuple(fc.constantFrom(...PROTO_KEYS), jsonish), { freq: 5 }),
  })
  .map((spec) => (socketId: string) => {
    const data: Record<string, unknown> = { channel: spec.channel };
    if (spec.signed === 'channel_data') {
      const channelData = JSON.stringify({ user_id: spec.userId, user_info: spec.userInfo }) ?? '{}';
      data.channel_data = channelData;
      data.auth = sign(`${socketId}:${spec.channel}:${channelData}`);
    } else if (spec.signed === 'plain') {
      data.auth = sign(`${socketId}:${spec.channel}`);
    } else if (spec.signed === 'bad') {
      data.auth = `${FUZZ_APP.key}:${'0'.repeat(64)}`;
    }
    if (spec.lastSerial !== null) data.last_serial = spec.lastSerial;
    if (spec.annotations !== null) data.annotations = spec.annotations;
    if (spec.extra !== null) data[spec.extra[0]] = spec.extra[1];
    return JSON.stringify({ event: 'pusher:subscribe', data: spec.asString ? JSON.stringify(data) : data });
  });

const signinFrame = fc.record({ id: fc.oneof(idLike(), jsonish), info: jsonish, good: fc.boolean(), raw: fc.boolean() }).map((spec) => (socketId: string) => {
  const userData = spec.raw ? (typeof spec.id === 'string' ? spec.id : (JSON.stringify(spec.id) ?? '')) : (JSON.stringify({ id: spec.id, user_info: spec.info }) ?? '');
  return JSON.stringify({ event: 'pusher:signin', data: { user_data: userData, auth: spec.good ? sign(`${socketId}::user::${userData}`) : 'x:y' } });
});

const otherFrame = fc
  .record({
    event: fc.oneof(fc.constantFrom('pusher:ping', 'pusher:pong', 'pusher:unsubscribe', 'pusher_internal:member_added', '', 'client-x'), hostileString.map((text) => `client-${text}`), hostileString),
    channel: fc.option(channelName, { freq: 2 }),
    data: jsonish,
  })
  .map((spec) => () => JSON.stringify({ event: spec.event, channel: spec.channel ?? undefined, data: spec.data }));

export const frameInput: fc.Arbitrary<FrameInput> = fc.oneof(
  { weight: 5, arbitrary: subscribeFrame.map((build): FrameInput => ({ kind: 'text', build })) },
  { weight: 2, arbitrary: signinFrame.map((build): FrameInput => ({ kind: 'text', build })) },
  { weight: 4, arbitrary: otherFrame.map((build): FrameInput => ({ kind: 'text', build })) },
  { weight: 2, arbitrary: mutatedText('{"event":"pusher:subscribe","data":{"channel":"fuzz-0"}}').map((text): FrameInput => ({ kind: 'text', build: () => text })) },
  { weight: 1, arbitrary: deepJsonText.filter((text) => text.length < 60_000).map((text): FrameInput => ({ kind: 'text', build: () => text })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes): FrameInput => ({ kind: 'binary', bytes: Buffer.from(bytes) })) },
  { weight: 1, arbitrary: fc.constantFrom([0xc3, 0x28], [0xed, 0xa0, 0x80], [0xff], [0xe2, 0x82]).map((bytes): FrameInput => ({ kind: 'bad-utf8', bytes: Buffer.from([0x7b, ...bytes, 0x7d]) })) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 2, max: 6 }), subscribeFrame).map(([n, build]): FrameInput => {
    const text = build('1.1');
    const size = Math.ceil(text.length / n);
    return { kind: 'fragments', parts: Array.from({ length: n }, (_, i) => text.slice(i * size, (i + 1) * size)) };
  }) },
  { weight: 1, arbitrary: fc.integer({ min: 64 * 1024 + 1, max: 200 * 1024 }).map((size): FrameInput => ({ kind: 'oversized', size })) },
);

/** Frames sent between two `pusher:ping` round trips (FUZZ_WS_BATCH=1 pins a slow reply on one frame). */
const FRAMES_PER_PING = Number(process.env.FUZZ_WS_BATCH ?? 10);

/** Runs `count` frames over `lanes` connections (one connection per lane, replaced when the server closes it). */
export async function fuzzWsFrames(port: number, seed: number, count: number, lanes: number, stats: DoorStats, isAlive: () => boolean): Promise<void> {
  const perLane = Math.ceil(count / lanes);
  await runPool(
    Array.from({ length: lanes }, (_, lane) => laneInputs((at, n) => draw(frameInput, at, n), seed, lane, Math.min(perLane, count - lane * perLane))),
    lanes,
    async (slice, lane) => {
      let client = await Lane.open(port, lane % 2 === 0 ? '7' : '2');
      let batch: FrameInput[] = [];
      for (const input of slice) {
        if (!isAlive()) break;
        if (!client.open) {
          for (const frameInput of batch) stats.record(`closed ${client.closeCode}`, 0, () => describe(frameInput));
          if (![1002, 1007, 1009, 4009, 4201].includes(client.closeCode)) stats.fault(`closed with ${client.closeCode} after ${batch.map(describe).join(' | ').slice(0, 400)}`);
          batch = [];
          client = await Lane.open(port, lane % 2 === 0 ? '7' : '2');
        }
        // A frame the server answers by closing (bad UTF-8, oversized) goes alone, after the
        // batch before it was proven handled, so it does not hide the frames around it.
        const closing = input.kind === 'bad-utf8' || input.kind === 'oversized';
        if (closing && batch.length > 0) {
          const ms = await client.roundTrip();
          for (const frameInput of batch) stats.record(ms === null ? `closed ${client.closeCode}` : 'ok', ms ?? 0, () => describe(frameInput));
          batch = [];
          if (!client.open) client = await Lane.open(port, lane % 2 === 0 ? '7' : '2');
        }
        client.send(input);
        batch.push(input);
        if (batch.length >= FRAMES_PER_PING || closing) {
          const ms = await client.roundTrip();
          if (ms !== null) for (const frameInput of batch) stats.record('ok', ms, () => describe(frameInput));
          if (ms !== null) batch = [];
        }
        for (const fault of client.takeFaults()) stats.fault(`${fault} ← ${batch.map(describe).join(' | ').slice(0, 300)}`);
      }
      const ms = client.open ? await client.roundTrip() : null;
      for (const frameInput of batch) stats.record(ms === null ? `closed ${client.closeCode}` : 'ok', ms ?? 0, () => describe(frameInput));
      client.close();
    },
  );
}

function describe(input: FrameInput): string {
  switch (input.kind) {
    case 'text':
      return input.build('1.1').slice(0, 200);
    case 'fragments':
      return `fragments(${input.parts.length}) ${input.parts.join('').slice(0, 150)}`;
    case 'oversized':
      return `oversized ${input.size}`;
    default:
      return `${input.kind} ${input.bytes.toString('hex').slice(0, 60)}`;
  }
}

/** One fuzzing connection: sends inputs, watches replies for internal errors, times ping round trips. */
class Lane {
  open = true;
  closeCode = 0;
  socketId = '1.1';
  private readonly faults: string[] = [];
  private pongWaiter: (() => void) | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let frame: { event?: string; data?: unknown };
      try {
        frame = JSON.parse(data.toString()) as typeof frame;
      } catch {
        this.faults.push(`server sent a frame that is not JSON: ${data.toString().slice(0, 100)}`);
        return;
      }
      if (frame.event === 'pusher:pong') this.pongWaiter?.();
      if (frame.event === 'pusher:connection_established') this.socketId = (JSON.parse(String(frame.data)) as { socket_id: string }).socket_id;
      const payload = (typeof frame.data === 'string' && frame.event?.startsWith('pusher') ? safeParse(frame.data) : frame.data) as { rc_code?: string; status?: number } | undefined;
      if (frame.event === 'pusher:error' && payload?.rc_code === 'RC_ERR_INTERNAL') this.faults.push(`pusher:error RC_ERR_INTERNAL ${JSON.stringify(frame).slice(0, 200)}`);
      if (frame.event === 'pusher:subscription_error' && (payload?.status ?? 0) >= 500) this.faults.push(`subscription_error ${JSON.stringify(frame).slice(0, 200)}`);
    });
    ws.on('close', (code) => {
      this.open = false;
      this.closeCode = code;
      this.pongWaiter?.();
    });
    ws.on('error', () => {});
  }

  static async open(port: number, protocol: string): Promise<Lane> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${FUZZ_APP.key}?protocol=${protocol}&client=fuzz&version=1`, { perMessageDeflate: false });
    const lane = new Lane(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return lane;
  }

  send(input: FrameInput): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    switch (input.kind) {
      case 'text':
        this.ws.send(input.build(this.socketId));
        return;
      case 'binary':
        this.ws.send(input.bytes, { binary: true });
        return;
      case 'bad-utf8':
        this.ws.send(input.bytes, { binary: false });
        return;
      case 'fragments':
        input.parts.forEach((part, index) => this.ws.send(part, { fin: index === input.parts.length - 1 }));
        return;
      case 'oversized':
        this.ws.send('z'.repeat(input.size));
        return;
    }
  }

  /** ms for a pusher:ping → pusher:pong round trip, or null when the connection closed meanwhile. */
  async roundTrip(): Promise<number | null> {
    if (!this.open) return null;
    const started = performance.now();
    const answered = new Promise<void>((resolve) => (this.pongWaiter = resolve));
    this.ws.send('{"event":"pusher:ping","data":{}}');
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 10_000).unref());
    const outcome = await Promise.race([answered, timeout]);
    this.pongWaiter = null;
    if (outcome === 'timeout') this.faults.push('no pusher:pong within 10 s');
    return this.open ? performance.now() - started : null;
  }

  takeFaults(): string[] {
    return this.faults.splice(0);
  }

  close(): void {
    this.ws.terminate();
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// --- raw frames and bad upgrades

const UPGRADE = (path: string, extra = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

export const rawWsInput: fc.Arbitrary<{ request: string; frame: Buffer | null }> = fc.oneof(
  // A real upgrade followed by raw frame bytes.
  fc
    .record({ opcode: fc.integer({ min: 0, max: 15 }), fin: fc.boolean(), rsv: fc.integer({ min: 0, max: 7 }), masked: fc.boolean(), payload: fc.uint8Array({ maxLength: 200 }), lie: fc.constantFrom(0, 126, 127) })
    .map(({ opcode, fin, rsv, masked, payload, lie }) => {
      const length = lie === 0 ? Math.min(payload.length, 125) : lie;
      const header = [(fin ? 0x80 : 0) | (rsv << 4) | opcode, (masked ? 0x80 : 0) | length];
      if (lie === 126) header.push(0xff, 0xff);
      if (lie === 127) header.push(0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
      const mask = masked ? [1, 2, 3, 4] : [];
      return { request: UPGRADE(`/app/${FUZZ_APP.key}?protocol=7`), frame: Buffer.from([...header, ...mask, ...payload]) };
    }),
  // A bad upgrade request.
  fc
    .record({ path: fc.oneof(fc.constantFrom('//', '/\\', `/app/${FUZZ_APP.key}`, '/app/', '/app/%zz?protocol=7', '/api/v1/bayeux'), hostileString.map((text) => `/app/${encodeURIComponent(text.replace(/[\uD800-\uDFFF]/g, ''))}?protocol=${encodeURIComponent(text.replace(/[\uD800-\uDFFF]/g, ''))}`)), header: fc.constantFrom('', 'Sec-WebSocket-Version: 8\r\n', 'Sec-WebSocket-Extensions: permessage-deflate\r\n', 'Sec-WebSocket-Protocol: ,,\r\n') })
    .map(({ path, header }) => ({ request: UPGRADE(path, header).replace(/Sec-WebSocket-Version: 13\r\n(?=.*Sec-WebSocket-Version)/s, ''), frame: null })),
);

/** Raw upgrade inputs: each on its own TCP connection; an HTTP 5xx answer is a fault. */
export async function fuzzWsRaw(port: number, seed: number, count: number, concurrency: number, stats: DoorStats, isAlive: () => boolean): Promise<void> {
  const inputs = draw(rawWsInput, seed, count);
  await runPool(inputs, concurrency, async (input) => {
    if (!isAlive()) return;
    const started = performance.now();
    const reply = await new Promise<string>((resolve) => {
      let text = '';
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(input.request);
        if (input.frame !== null) setTimeout(() => socket.write(input.frame!), 5);
        setTimeout(() => socket.end(), 50);
      });
      socket.setTimeout(5000, () => socket.destroy());
      socket.on('data', (chunk) => (text += chunk.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', () => {});
    });
    const status = /^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 'no reply';
    stats.record(status, performance.now() - started - 50, () => input.request.split('\r\n')[0]!);
    if (status.startsWith('5')) stats.fault(`upgrade answered ${status}: ${input.request.split('\r\n')[0]}`);
  });
}
