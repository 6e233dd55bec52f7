/** The ack and timesync extensions, server side, without sockets. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BotSession } from '../../../../src/core/bot-sessions.ts';
import { BayeuxClient } from '../../../../src/doors/bayeux/client.ts';
import { ackedBatch, wantsAck } from '../../../../src/doors/bayeux/ext/ack.ts';
import { timesyncReply } from '../../../../src/doors/bayeux/ext/timesync.ts';
import { ReplyScheduler } from '../../../../src/doors/bayeux/reply-scheduler.ts';
import { BotWire } from '../../../../src/doors/bayeux/stream.ts';

const session = { id: 's', appId: 'app-1', channel: 'presence-room', bot: 'bot', displayName: 'Bot' } as unknown as BotSession;

test('timesync: {tc, ts, p, a} as CometD computes them, finite numbers only', () => {
  assert.deepEqual(timesyncReply({ timesync: { tc: 1000, l: 5, o: 20 } }, 1030, 1130), { tc: 1000, ts: 1030, p: 100, a: -5 });
  // Missing l and o count as 0; a request without tc gets nothing.
  assert.deepEqual(timesyncReply({ timesync: { tc: 1000 } }, 1010, 1010), { tc: 1000, ts: 1010, p: 0, a: -10 });
  assert.equal(timesyncReply({ timesync: { tc: 'x' } }, 1, 1), null);
  assert.equal(timesyncReply({ trace: 1 }, 1, 1), null);
  assert.equal(timesyncReply(undefined, 1, 1), null);
});

test('ack: handshake and connect fields', () => {
  assert.equal(wantsAck({ ack: true }), true);
  assert.equal(wantsAck({ ack: 'yes' }), false);
  assert.equal(ackedBatch({ ack: 3 }), 3);
  assert.equal(ackedBatch({ ack: -1 }), null);
  assert.equal(ackedBatch({}), null);
});

test('ack: a batch not acknowledged is sent again, in order, before newer events; the cursor moves on acknowledgement', () => {
  const client = new BayeuxClient('c', session, new ReplyScheduler(), new BotWire(() => ({}) as never));
  client.ackEnabled = true;
  client.pushText('"e1"');
  client.pushText('"e2"');
  assert.deepEqual(client.takeQueue(), ['"e1"', '"e2"']);
  assert.equal(client.batch, 1);
  client.pushText('"e3"');
  // The bot never got batch 1 (its reply was cut): it acknowledges 0.
  client.acknowledge(0);
  assert.deepEqual(client.takeQueue(), ['"e1"', '"e2"', '"e3"']);
  assert.equal(client.batch, 2);
  client.acknowledge(2);
  assert.deepEqual(client.takeQueue(), []);
  // A bot coming from another node's numbering continues from its own number.
  client.acknowledge(7);
  client.pushText('"e4"');
  client.takeQueue();
  assert.equal(client.batch, 8);
});
