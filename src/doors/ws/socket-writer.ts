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
 */
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { ChannelMessage } from '../../core/types.ts';
import { encodeChannelMessage } from './frames.ts';

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

/** Writes frames to one WebSocket's socket and reports when the client falls behind. */
export class SocketWriter {
  /** True between the first write of a tick and the flush at the end of it. */
  isCorked = false;

  constructor(
    private readonly ws: WebSocket,
    readonly socket: Duplex,
    private readonly maxBufferedBytes: number,
    /** Called once the unsent bytes exceed `maxBufferedBytes`; the owner closes the connection. */
    private readonly onOverflow: () => void,
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
    return true;
  }

  /** Reports the connection once its unsent bytes exceed the bound (see uncorkAll). */
  checkBacklog(): void {
    if (this.socket.writableLength > this.maxBufferedBytes) this.onOverflow();
  }

  /** Frames and writes a protocol text (not on the fan-out path). */
  writeText(text: string): boolean {
    return this.write(textFrame(text));
  }
}
