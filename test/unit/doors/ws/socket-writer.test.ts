/** Pre-built text frames: RFC 6455 headers for each payload-length class, parsed back by ws's own receiver. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventEmitter } from 'node:events';
import * as wsModule from 'ws';
import { textFrame } from '../../../../src/doors/ws/socket-writer.ts';

// ws exports its frame parser at runtime; @types/ws does not declare it.
type FrameReceiver = EventEmitter & { write(chunk: Buffer): void };
const { Receiver } = wsModule as unknown as { Receiver: new (options: { isServer: boolean }) => FrameReceiver };

test('text frames of 0, 125, 126, 65535 and 65536 bytes decode to the same text', async () => {
  for (const length of [0, 1, 125, 126, 1000, 65535, 65536, 70000]) {
    const text = 'é'.repeat(Math.floor(length / 2)) + 'x'.repeat(length % 2);
    const receiver = new Receiver({ isServer: false });
    const got = new Promise<string>((resolve) => receiver.on('message', (data: Buffer) => resolve(data.toString())));
    receiver.write(textFrame(text));
    assert.equal(await got, text, `length ${length}`);
  }
});
