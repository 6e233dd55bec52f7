/**
 * Bus turns (core/bus-turns.ts): messages are handled in bus order whatever the slices;
 * a run of slow messages yields to the event loop between slices (a timer runs); the
 * end of each turn reports the oldest append it handled, after the flushes queued by it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { BusMessage } from '../../../src/backends/ports.ts';
import { BusTurns, type TurnFigures } from '../../../src/core/bus-turns.ts';

const logger = pino({ level: 'silent' });
const append = (stream: string, seq: number, time = Date.now()): BusMessage => ({ kind: 'append', stream, entry: { epoch: 'e1', seq, time, body: '{}' } });

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('a run of slow messages is handled in slices, in bus order, with timers running between slices', async () => {
  const handled: string[] = [];
  const turns = new BusTurns((message) => {
    busy(4);
    handled.push(message.kind === 'append' ? `${message.stream}:${message.entry.seq}` : message.kind);
  }, logger, 10);
  let timerRanAfter = -1;
  setTimeout(() => (timerRanAfter = handled.length), 0);
  // One read of the bus connection: 40 messages of two streams, a signal and lost/resumed among them.
  const sent: BusMessage[] = [];
  for (let seq = 1; seq <= 20; seq++) sent.push(append('a', seq), append('b', seq));
  sent.splice(10, 0, { kind: 'signal', body: 'x' });
  sent.splice(25, 0, { kind: 'lost' }, { kind: 'resumed' });
  for (const message of sent) turns.onBusMessage(message);
  assert.ok(handled.length < sent.length, 'the rest waits for later turns');
  assert.ok(turns.waiting > 0);
  const deadline = Date.now() + 10_000;
  while (turns.waiting > 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(handled, sent.map((message) => (message.kind === 'append' ? `${message.stream}:${message.entry.seq}` : message.kind)));
  assert.ok(timerRanAfter > 0 && timerRanAfter < sent.length, `the timer ran after ${timerRanAfter} messages`);
});

test('each turn reports its oldest append after the flushes its first message queued', async () => {
  const events: string[] = [];
  const figures: TurnFigures[] = [];
  const turns = new BusTurns(() => {
    // A door corking its sockets until a setImmediate, as the WebSocket door does.
    setImmediate(() => events.push('flush'));
  }, logger);
  turns.onTurnEnd((turn) => {
    events.push('turn end');
    figures.push(turn);
  });
  const time = Date.now() - 500;
  turns.onBusMessage(append('a', 1, time));
  turns.onBusMessage(append('a', 2, time + 100));
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(events.slice(0, 2), ['flush', 'turn end']);
  assert.equal(figures[0]!.oldestAppend, time);
  assert.ok(figures[0]!.at - time >= 500);
  assert.ok(figures[0]!.minTransit >= 400);
});

test('past the byte bound the queue is drained in the arriving turn', () => {
  let handled = 0;
  const turns = new BusTurns(() => {
    handled++;
    busy(2);
  }, logger, 1, 1000);
  const big = (seq: number): BusMessage => ({ kind: 'append', stream: 's', entry: { epoch: 'e1', seq, time: Date.now(), body: 'x'.repeat(300) } });
  for (let seq = 1; seq <= 5; seq++) turns.onBusMessage(big(seq));
  assert.equal(handled, 5, 'the fifth message took the queue past 1000 bytes');
  assert.equal(turns.waiting, 0);
});

test('stop drops what is queued and ignores later messages (no slice runs into closed doors)', async () => {
  const handled: number[] = [];
  const turns = new BusTurns((message) => {
    busy(4);
    if (message.kind === 'append') handled.push(message.entry.seq);
  }, logger, 10);
  for (let seq = 1; seq <= 20; seq++) turns.onBusMessage(append('a', seq));
  const before = handled.length;
  assert.ok(turns.waiting > 0);
  turns.stop();
  turns.onBusMessage(append('a', 21));
  for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(handled.length, before);
  assert.equal(turns.waiting, 0);
});
