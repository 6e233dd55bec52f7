/** Pure parts of the Redis backend: bus frames, stored entries, lex ranges, keys, error mapping. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeBusFrame } from '../../../../src/backends/redis/bus.ts';
import { reconnectDelay, MAX_RECONNECT_DELAY_MS } from '../../../../src/backends/redis/connection.ts';
import { redactUrl, toBackendError } from '../../../../src/backends/redis/faults.ts';
import { createKeys } from '../../../../src/backends/redis/keys.ts';
import { parseEntry } from '../../../../src/backends/redis/log.ts';
import { lexRangeOf } from '../../../../src/backends/redis/occupancy.ts';
import { slotOf } from '../../../../src/backends/redis/slots.ts';

describe('bus frames', () => {
  test('an append frame decodes by byte lengths, whatever the stream and body hold', () => {
    const stream = 'app:ch✓';
    const body = 'a:b\nü';
    const frame = Buffer.concat([Buffer.from(`a:k3x9q0ab:7:1700000000123:${Buffer.byteLength(stream)}:`), Buffer.from(stream), Buffer.from(body)]);
    assert.deepEqual(decodeBusFrame(frame), { kind: 'append', stream, entry: { epoch: 'k3x9q0ab', seq: 7, time: 1700000000123, body } });
  });

  test('a signal frame carries its body verbatim', () => {
    assert.deepEqual(decodeBusFrame(Buffer.from('s:{"type":"x"}:')), { kind: 'signal', body: '{"type":"x"}:' });
    assert.deepEqual(decodeBusFrame(Buffer.from('s:')), { kind: 'signal', body: '' });
  });

  test('malformed frames are rejected, not guessed', () => {
    for (const text of ['', 'a', 'x:1', 'a:e:1:2', 'a:e:1:2:99:short', 'a:e::2:1:s', 'a:e:-1:2:1:s', 'a:e:1.5:2:1:s', 'a:e:1:2:x:s', 'a::1:2:1:s', 'a:E!:1:2:1:s', 'a:1:2:1:s']) {
      assert.equal(decodeBusFrame(Buffer.from(text)), null, text);
    }
  });
});

test('a stored entry splits at its first two colons only', () => {
  assert.deepEqual(parseEntry('12:1700000000000:body:with:colons', 'k3x9q0ab'), { epoch: 'k3x9q0ab', seq: 12, time: 1700000000000, body: 'body:with:colons' });
  assert.deepEqual(parseEntry('1:5:', 'k3x9q0ab'), { epoch: 'k3x9q0ab', seq: 1, time: 5, body: '' });
});

describe('lex ranges of a prefix', () => {
  const text = (range: [Buffer, Buffer]) => range.map((b) => b.toString('latin1'));
  test('bounds every name that starts with the prefix', () => {
    assert.deepEqual(text(lexRangeOf('app-1:presence-')), ['[app-1:presence-', '(app-1:presence.']);
    assert.deepEqual(text(lexRangeOf('')), ['-', '+']);
  });
  test('raises the last byte that can be raised', () => {
    const [min, max] = lexRangeOf('a\u00ff');
    assert.deepEqual([...min], [0x5b, 0x61, 0xc3, 0xbf]);
    assert.deepEqual([...max], [0x28, 0x61, 0xc3, 0xc0]);
  });
});

test('every key starts with the prefix and kinds cannot collide', () => {
  const keys = createKeys('rc:');
  const all = [keys.bus, keys.logMeta('s'), keys.logEntries('s'), keys.presenceConnections('c'), keys.presenceUsers('c'), keys.presenceOrder('c'), keys.presenceNode('n'), keys.presenceNodes('c'), keys.occupancyCounts('c'), keys.occupancyTotal('c'), keys.occupancyIndex, keys.occupancyNode('n'), keys.nodeExpiry, keys.kv('k')];
  assert.ok(all.every((key) => key.startsWith('rc:')));
  assert.equal(new Set(all).size, all.length);
  // A variable part containing ':' stays inside its kind.
  assert.notEqual(keys.logMeta('entries:x'), keys.logEntries('x'));
  // Every key of one stream shares one hash slot (Redis Cluster), and different streams need not.
  const slots = new Set([keys.logMeta('a:b'), keys.logEntries('a:b'), keys.presenceConnections('a:b'), keys.occupancyTotal('a:b'), keys.messageDocs('a:b')].map(slotOf));
  assert.equal(slots.size, 1);
  // Braces in a stream name cannot split its keys over slots.
  assert.equal(slotOf(keys.logMeta('}x{')), slotOf(keys.logEntries('}x{')));
  assert.notEqual(keys.logMeta('}x{'), keys.logMeta('}y{'));
  // A stream's bus topic is in its keys' slot (scripts SPUBLISH to it), and shards spread over the slots.
  assert.equal(slotOf(keys.busTopic(keys.shardOf('a:b'))), slotOf(keys.logMeta('a:b')));
  const shardSlots = Array.from({ length: keys.shards }, (_, shard) => slotOf(keys.busTopic(shard)));
  assert.equal(new Set(shardSlots).size, keys.shards);
  assert.ok(shardSlots.every((slot, shard) => slot === Math.floor((shard * 16384) / keys.shards)));
});

describe('errors', () => {
  test('connection faults map to RC_ERR_BACKEND_UNAVAILABLE with the cause kept', () => {
    const cause = new Error("Stream isn't writeable and enableOfflineQueue options is false");
    const error = toBackendError(cause, 2000);
    assert.equal(error.code, 'RC_ERR_BACKEND_UNAVAILABLE');
    assert.equal(error.status, 503);
    assert.equal(error.cause, cause);
    assert.match(error.message, /not connected/);
  });
  test('a command timeout maps to RC_ERR_BACKEND_TIMEOUT', () => {
    const error = toBackendError(new Error('Command timed out'), 1234);
    assert.equal(error.code, 'RC_ERR_BACKEND_TIMEOUT');
    assert.match(error.message, /1234 ms/);
  });
  test('transient Redis refusals are unavailability; other reply errors are internal', () => {
    const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
    assert.equal(toBackendError(reply('LOADING Redis is loading the dataset in memory'), 1).code, 'RC_ERR_BACKEND_UNAVAILABLE');
    assert.equal(toBackendError(reply('OOM command not allowed'), 1).code, 'RC_ERR_BACKEND_UNAVAILABLE');
    assert.equal(toBackendError(reply('WRONGTYPE Operation against a key holding the wrong kind of value'), 1).code, 'RC_ERR_INTERNAL');
  });
  test('the password is redacted from a logged URL', () => {
    assert.equal(redactUrl('redis://user:hunter2@db:6379/2'), 'redis://user:***@db:6379/2');
    assert.equal(redactUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
    assert.ok(!redactUrl('not a url :hunter2@').includes('hunter2'));
  });
});

test('reconnect delays grow and stay capped', () => {
  assert.ok(reconnectDelay(1) < 200);
  for (let attempt = 1; attempt < 100; attempt++) assert.ok(reconnectDelay(attempt) <= MAX_RECONNECT_DELAY_MS + 100);
  assert.ok(reconnectDelay(50) >= MAX_RECONNECT_DELAY_MS);
});
