/**
 * The fan-out write path. A published message becomes one complete WebSocket text
 * frame (header + payload, built once per message on this node) and the very same
 * Buffer is written to every subscriber's TCP socket; writes are corked per tick, so
 * a burst of messages reaches each socket in one system call.
 *
 * Why not `ws.send()` per subscriber: it re-encodes strings, allocates a header and two
 * option objects per call and issues one write per message. Writing pre-framed bytes is
 * safe because this door creates its WebSocketServer with `perMessageDeflate: false`
 * and never sends Blobs: ws's sender then writes synchronously to the same socket, so
 * our frames and ws's own (close, pong) never interleave mid-frame. We write only while
 * the WebSocket is OPEN, so nothing follows a close frame.
 *
 * Slow consumers are bounded by what they cost the machine, not only by Node's queue:
 * the kernel takes megabytes per socket before Node queues a byte, so "unsent" is the
 * wrong measure. Each writer counts the bytes it wrote and, once `PROBE_AFTER_BYTES` are
 * unproven, sends a WebSocket ping behind them. The peer's pong can only come back after
 * it read everything before the ping, so it proves those bytes were read. A probe that
 * stays unanswered for `websocket.stallTimeoutMs` means the peer stopped reading: the door
 * cuts it (socket-writer's `stalledForMs`, checked by the door's sweeper). Kernel memory
 * per stalled socket is thereby bounded by PROBE_AFTER_BYTES plus what the channel sends
 * in the stall timeout. Node's own queue keeps its byte bound (`maxBufferedBytes`).
 *
 * Sockets are destroyed through `reapSoon`: in batches of at most `REAP_BUDGET_MS` of work
 * per event-loop turn, so cutting hundreds of stalled sockets at once (each with queued
 * writes to fail) never blocks the loop.
 */
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { ChannelMessage, PresenceChange } from '../../core/types.ts';
import { encodeChannelMessage, memberAdded, memberRemoved } from './frames.ts';

const FIN_TEXT = 0x81;

/** One unmasked, unfragmented text frame (server → client frames are never masked, RFC 6455 §5.1). */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = FIN_TEXT;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(length, 6);
  }
  frame.write(text, headerLength, 'utf8');
  return frame;
}

// The hub delivers one message to all of a channel's subscribers in one synchronous
// loop, so a one-entry cache hits for every subscriber after the first.
let lastMessage: ChannelMessage | null = null;
let lastFrame: Buffer | null = null;

/** The shared wire frame of a channel message (text via `message.encode`, framed once). */
export function frameOfMessage(message: ChannelMessage): Buffer {
  if (message !== lastMessage) {
    lastFrame = textFrame(message.encode(encodeChannelMessage));
    lastMessage = message;
  }
  return lastFrame!;
}

// Likewise for presence changes: the hub passes one change object to all of a channel's subscribers in one loop.
let lastChange: PresenceChange | null = null;
let lastChangeFrame: Buffer | null = null;

/** The shared wire frame of a presence change (`pusher_internal:member_added` / `member_removed`), framed once. */
export function frameOfPresenceChange(change: PresenceChange): Buffer {
  if (change !== lastChange) {
    lastChangeFrame = textFrame(change.kind === 'member_added' ? memberAdded(change.channel, change.member) : memberRemoved(change.channel, change.member.userId));
    lastChange = change;
  }
  return lastChangeFrame!;
}

// --- per-tick corking

const corked: SocketWriter[] = [];
let flushScheduled = false;

function uncorkAll(): void {
  flushScheduled = false;
  for (let i = 0; i < corked.length; i++) {
    const writer = corked[i]!;
    writer.isCorked = false;
    writer.socket.uncork();
    // Checked once the turn's frames were handed to the kernel: what is still queued is
    // what the client has not read (while corked, every frame of the turn would count).
    writer.checkBacklog();
  }
  corked.length = 0;
}

/** Unproven bytes after which a writer sends a probe (a WebSocket ping behind them). */
export const PROBE_AFTER_BYTES = 64 * 1024;

/** Writes frames to one WebSocket's socket and reports when the client falls behind. */
export class SocketWriter {
  /** True between the first write of a tick and the flush at the end of it. */
  isCorked = false;
  /** Bytes written to the socket so far (frames of this writer only). */
  private written = 0;
  /** Bytes the peer has been seen to read: `written` when the last answered probe was sent. */
  private proven = 0;
  /** Date.now() when the outstanding probe was sent; 0 when none is outstanding. */
  probeSentAt = 0;
  /** `written` when the outstanding probe was sent. */
  private probeMark = 0;

  constructor(
    private readonly ws: WebSocket,
    readonly socket: Duplex,
    private readonly maxBufferedBytes: number,
    /**
     * Called with this writer's WebSocket once the unsent bytes exceed `maxBufferedBytes`;
     * the owner closes the connection. One function may serve every writer.
     */
    private readonly onOverflow: (ws: WebSocket) => void,
  ) {}

  /** Unsent bytes queued on this socket (what `ws.bufferedAmount` reports). */
  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  /** Writes a frame; returns false (and writes nothing) when the connection is not open. */
  write(frame: Buffer): boolean {
    // readyState alone: `socket.destroyed` is a getter that costs more than it saves on the
    // fan-out path (bench ws-fanout profile), and a frame written in the moment between a
    // socket's destruction and ws's close event is dropped by the stream without a throw.
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    if (!this.isCorked) {
      this.isCorked = true;
      this.socket.cork();
      corked.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        // setImmediate, not nextTick: every publish handled in this event-loop turn (each is
        // its own HTTP request or bus message) then leaves in ONE write per socket. With
        // nextTick each publish cost one syscall per subscriber (bench ws-fanout: ~4x fewer
        // deliveries per CPU-second).
        setImmediate(uncorkAll);
      }
    }
    this.socket.write(frame);
    this.written += frame.length;
    return true;
  }

  /**
   * Reports the connection once its unsent bytes exceed the bound, and sends a probe once
   * enough bytes are unproven (see uncorkAll and the header).
   */
  checkBacklog(): void {
    if (this.socket.writableLength > this.maxBufferedBytes) {
      this.onOverflow(this.ws);
      return;
    }
    if (this.probeSentAt === 0 && this.written - this.proven >= PROBE_AFTER_BYTES && this.ws.readyState === WebSocket.OPEN) {
      this.probeSentAt = Date.now();
      this.probeMark = this.written;
      this.ws.ping();
    }
  }

  /** A pong arrived: everything written before the outstanding probe was read. */
  onPong(): void {
    if (this.probeSentAt === 0) return;
    this.proven = this.probeMark;
    this.probeSentAt = 0;
  }

  /** Bytes written that the peer has not been seen to read (kernel buffers and Node's queue alike). */
  get unprovenBytes(): number {
    return this.written - this.proven;
  }

  /** How long the outstanding probe has gone unanswered at `now`, in milliseconds (0: none outstanding). */
  stalledForMs(now: number): number {
    return this.probeSentAt === 0 ? 0 : now - this.probeSentAt;
  }

  /** Moves an outstanding probe's clock forward by `ms` (the event loop itself was stalled that long). */
  excuse(ms: number): void {
    if (this.probeSentAt !== 0) this.probeSentAt += ms;
  }

  /** Frames and writes a protocol text (not on the fan-out path). */
  writeText(text: string): boolean {
    return this.write(textFrame(text));
  }
}

// --- spread-out socket destruction

/** Work spent destroying sockets per event-loop turn, at most, in milliseconds. */
export const REAP_BUDGET_MS = 5;
const reapQueue: WebSocket[] = [];
let reapScheduled = false;

function reapSome(): void {
  reapScheduled = false;
  const until = performance.now() + REAP_BUDGET_MS;
  let index = 0;
  // At least one per turn, so the queue always drains.
  do {
    reapQueue[index++]!.terminate();
  } while (index < reapQueue.length && performance.now() < until);
  reapQueue.splice(0, index);
  if (reapQueue.length > 0) {
    reapScheduled = true;
    setImmediate(reapSome);
  }
}

/**
 * Destroys a WebSocket's connection soon (ws `terminate`), a few per event-loop turn:
 * destroying a socket fails every write still queued on it, which for hundreds of stalled
 * sockets at once would block the loop for a second or more.
 */
export function reapSoon(ws: WebSocket): void {
  reapQueue.push(ws);
  if (!reapScheduled) {
    reapScheduled = true;
    setImmediate(reapSome);
  }
}

/** Sockets waiting to be destroyed (for tests and the slow-consumer benchmark). */
export function reapBacklog(): number {
  return reapQueue.length;
}
