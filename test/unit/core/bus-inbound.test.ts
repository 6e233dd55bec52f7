/**
 * Catch-up from the log (core/bus-inbound.ts): after the bus was lost and resumed, or when
 * a live append skips seqs, the missed entries of a channel with local subscribers are
 * read from the log and delivered in order, once (live appends that race the read wait
 * and are deduplicated); a gap the log cannot fill gives `recoveryFailed` instead.
 * Bus messages are fed by hand; the log is the memory backend's (its bus has no handler,
 * so nothing reaches the inbound unless the test says so).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { MemoryBus } from '../../../src/backends/memory/bus.ts';
import { MemoryLog } from '../../../src/backends/memory/log.ts';
import type { LogEntry } from '../../../src/backends/ports.ts';
import { BusInbound } from '../../../src/core/bus-inbound.ts';
import { streamKey } from '../../../src/core/channels.ts';
import { LocalHub } from '../../../src/core/hub.ts';
import type { ChannelMessage, Subscriber } from '../../../src/core/types.ts';

const keep = { maxCount: 1000, maxAgeMs: 0 };
const stream = streamKey('app-1', 'news');

class Recorder implements Subscriber {
  readonly got: string[] = [];
  readonly failures: string[] = [];
  constructor(readonly connectionId: string) {}
  deliver(message: ChannelMessage): void {
    this.got.push(message.record.name);
  }
  recoveryFailed(_channel: string, lastSerial: string, reason: string): void {
    this.failures.push(`${lastSerial}: ${reason}`);
  }
}

function setUp(retention = keep) {
  const log = new MemoryLog(new MemoryBus());
  const hub = new LocalHub();
  const inbound = new BusInbound(hub, pino({ level: 'silent' }), undefined, log);
  const subscriber = new Recorder('c1');
  hub.add('app-1', 'news', subscriber);
  const append = (name: string): Promise<LogEntry> => log.append(stream, JSON.stringify({ action: 'message.create', name, data: '', origin: 'rest' }), retention);
  const live = (entry: LogEntry): void => inbound.onBusMessage({ kind: 'append', stream, entry });
  return { log, hub, inbound, subscriber, append, live };
}

async function settled(inbound: BusInbound): Promise<void> {
  for (let round = 0; round < 200 && inbound.catchingUpCount > 0; round++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(inbound.catchingUpCount, 0);
}

test('lost then resumed: what was appended meanwhile is delivered in order, then the live appends that raced the read, each once', async () => {
  const { inbound, subscriber, append, live } = setUp();
  live(await append('m1'));
  live(await append('m2'));
  inbound.onBusMessage({ kind: 'lost' });
  assert.equal(inbound.busLost, true);
  await append('m3');
  await append('m4');
  inbound.onBusMessage({ kind: 'resumed' });
  // A live append that arrives while the log is read (and one the read also returns).
  const m5 = await append('m5');
  live(m5);
  live(m5);
  await settled(inbound);
  live(await append('m6'));
  assert.deepEqual(subscriber.got, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
  assert.deepEqual(subscriber.failures, []);
  assert.equal(inbound.busLost, false);
});

test('a live append that skips seqs makes the gap be read from the log first', async () => {
  const { inbound, subscriber, append, live } = setUp();
  live(await append('m1'));
  await append('m2');
  await append('m3');
  live(await append('m4'));
  await settled(inbound);
  assert.deepEqual(subscriber.got, ['m1', 'm2', 'm3', 'm4']);
});

test('a gap the log no longer holds gives recovery_failed, then live delivery goes on', async () => {
  const { inbound, subscriber, append, live } = setUp({ maxCount: 2, maxAgeMs: 0 });
  live(await append('m1'));
  inbound.onBusMessage({ kind: 'lost' });
  for (const name of ['m2', 'm3', 'm4', 'm5']) await append(name);
  inbound.onBusMessage({ kind: 'resumed' });
  await settled(inbound);
  assert.equal(subscriber.failures.length, 1);
  assert.match(subscriber.failures[0]!, /00000000001: .*no longer retained/);
  live(await append('m6'));
  assert.deepEqual(subscriber.got, ['m1', 'm6']);
});

test('a log whose serials restarted (the store lost its data) gives recovery_failed naming it', async () => {
  const { inbound, subscriber, log, append, live } = setUp();
  live(await append('m1'));
  live(await append('m2'));
  inbound.onBusMessage({ kind: 'lost' });
  // The store came back empty: nothing retained and no seq ever assigned.
  log.state = async () => ({ epoch: null, lastSeq: 0, firstRetainedSeq: 0, retainedCount: 0, retainedBytes: 0 });
  log.read = async () => [];
  inbound.onBusMessage({ kind: 'resumed' });
  await settled(inbound);
  assert.equal(subscriber.failures.length, 1);
  assert.match(subscriber.failures[0]!, /00000000002: .*reset or lost/);
});

test('a channel with no position yet is read back to the time the bus was lost', async () => {
  const { inbound, subscriber, append } = setUp();
  await append('before');
  await new Promise((resolve) => setTimeout(resolve, 700));
  inbound.onBusMessage({ kind: 'lost' });
  await append('during');
  inbound.onBusMessage({ kind: 'resumed' });
  await settled(inbound);
  assert.deepEqual(subscriber.got, ['during']);
});

test('a live copy arriving after a catch-up already delivered the entry from the log is not delivered again', async () => {
  const { inbound, subscriber, append, live } = setUp();
  const m1 = await append('m1');
  live(m1);
  live(m1);
  const m2 = await append('m2');
  live(m2);
  live(m1);
  live(m2);
  await settled(inbound);
  live(await append('m3'));
  assert.deepEqual(subscriber.got, ['m1', 'm2', 'm3']);
});
