/** The ack and timesync extensions, server side, without sockets. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BotSession } from '../../../../src/core/bot-sessions.ts';
import { BayeuxClient } from '../../../../src/doors/bayeux/client.ts';
import { ackedBatch, wantsAck } from '../../../../src/doors/bayeux/ext/ack.ts';
import { timesyncReply } from '../../../../src/doors/bayeux/ext/timesync.ts';
import { ReplyScheduler } from '../../../../src/doors/bayeux/reply-scheduler.ts';
import { BotWire, STREAM_CHANNEL } from '../../../../src/doors/bayeux/stream.ts';
import { ChannelMessage } from '../../../../src/core/types.ts';

const session = { id: 's', appId: 'app-1', channel: 'presence-room', bot: 'bot', displayName: 'Bot' } as unknown as BotSession;

/** A client of `session` on a wire with no config (enough for queued texts). */
const newClient = (): BayeuxClient => new BayeuxClient('c', session, new ReplyScheduler(), new BotWire(() => ({}) as never));

/** Queues `text` on `client` as a stored event of the room channel at `serial` (what the fan-out would queue). */
const pushEvent = (client: BayeuxClient, text: string, serial: string): void =>
  (client as unknown as { push(text: string, message: object): void }).push(text, { channel: 'presence-room', serial });

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
  const client = newClient();
  client.ackEnabled = true;
  client.pushText('"e1"');
  client.pushText('"e2"');
  assert.deepEqual(client.takeQueue().texts, ['"e1"', '"e2"']);
  assert.equal(client.batch, 1);
  client.pushText('"e3"');
  // The bot never got batch 1 (its reply was cut): it acknowledges 0.
  client.acknowledge(0);
  assert.deepEqual(client.takeQueue().texts, ['"e1"', '"e2"', '"e3"']);
  assert.equal(client.batch, 2);
  client.acknowledge(2);
  assert.deepEqual(client.takeQueue().texts, []);
  // A bot coming from another node's numbering continues from its own number.
  client.acknowledge(7);
  client.pushText('"e4"');
  client.takeQueue();
  assert.equal(client.batch, 8);
});

test('without ack: a reply that could not be written gives its events back, in order, with the cursor; not once a later reply took events', () => {
  const client = newClient();
  const push = (text: string, serial: string): void => pushEvent(client, text, serial);
  push('"e1"', 'S1');
  const first = client.takeQueue();
  assert.deepEqual(first.texts, ['"e1"']);
  assert.equal(client.cursor.get('presence-room'), 'S1');
  push('"e2"', 'S2');
  const second = client.takeQueue();
  push('"e3"', 'S3');
  // The second reply never reached the bot: e2 goes back before e3, the cursor back to S1.
  assert.equal(second.giveBack!(), true);
  assert.equal(client.cursor.get('presence-room'), 'S1');
  const third = client.takeQueue();
  assert.deepEqual(third.texts, ['"e2"', '"e3"']);
  assert.equal(client.cursor.get('presence-room'), 'S3');
  // A give-back after a later take would deliver out of order: nothing happens.
  assert.equal(first.giveBack!(), false);
  assert.equal(second.giveBack!(), false);
  assert.deepEqual(client.takeQueue().texts, []);
  assert.equal(client.cursor.get('presence-room'), 'S3');
  // A client with no cursor for the channel before the take has none after the give-back.
  const fresh = new BayeuxClient('d', session, new ReplyScheduler(), new BotWire(() => ({}) as never));
  pushEvent(fresh, '"f1"', 'F1');
  assert.equal(fresh.takeQueue().giveBack!(), true);
  assert.equal(fresh.cursor.has('presence-room'), false);
  assert.deepEqual(fresh.takeQueue().texts, ['"f1"']);
});

test('ack, adopted: the replay of the old home\'s last batch is dropped when the bot acknowledges that batch, kept when it does not', () => {
  const adopted = (): BayeuxClient => {
    const client = newClient();
    client.ackEnabled = true;
    client.batch = 4;
    client.cursor.set('presence-room', 'ep-00000000002');
    client.adoptedBatch = { batch: 4, cursor: new Map([['presence-room', 'ep-00000000004']]) };
    // The adopter's replay from the acknowledged cursor: 3 and 4 were in batch 4 at the old home, 5 is new.
    for (const seq of [3, 4, 5]) pushEvent(client, `"e${seq}"`, `ep-0000000000${seq}`);
    return client;
  };
  const got = adopted();
  got.acknowledge(4);
  assert.deepEqual(got.takeQueue().texts, ['"e5"']);
  assert.equal(got.cursor.get('presence-room'), 'ep-00000000004');
  const missed = adopted();
  missed.acknowledge(3);
  assert.deepEqual(missed.takeQueue().texts, ['"e3"', '"e4"', '"e5"']);
  // Only the first acknowledgement after the adoption counts.
  missed.acknowledge(9);
  assert.equal(missed.adoptedBatch, null);
  // A later acknowledgement lower than 9 is late; with the ack extension nothing is given back by a take.
  assert.equal(missed.isLateAck(8), true);
  assert.equal(missed.isLateAck(9), false);
  pushEvent(missed, '"e6"', 'ep-00000000006');
  assert.equal(missed.takeQueue().giveBack, null);
});

test('ack: a late copy of a connect (sent again by the bot, read after the copy answered) sends a batch again, and acknowledging either batch covers both', () => {
  const client = newClient();
  client.ackEnabled = true;
  pushEvent(client, '"e1"', 'S1');
  pushEvent(client, '"e2"', 'S2');
  // The bot's retry of connect 5p (ack 0) is answered first, through another node: batch 1.
  client.acknowledge(0);
  assert.deepEqual(client.takeQueue().texts, ['"e1"', '"e2"']);
  // The first copy of 5p (ack 0 too) is read after it, its caller long gone: batch 2 carries them again.
  client.acknowledge(0);
  assert.deepEqual(client.takeQueue().texts, ['"e1"', '"e2"']);
  pushEvent(client, '"e3"', 'S3');
  // The bot got batch 1: its next connect acknowledges it, and gets only what is new.
  client.acknowledge(1);
  assert.deepEqual(client.takeQueue().texts, ['"e3"']);
  assert.equal(client.cursor.get('presence-room'), 'S2');
  client.acknowledge(3);
  assert.equal(client.cursor.get('presence-room'), 'S3');
  assert.deepEqual(client.takeQueue().texts, []);
});

test('ack, adopted: the bot acknowledging the old home\'s last batch while the adopter still reads the history gets none of that batch again', () => {
  const client = new BayeuxClient('c', session, new ReplyScheduler(), new BotWire(() => ({ chatEvents: ['chat'] }) as never));
  const message = (seq: number): ChannelMessage =>
    new ChannelMessage('app-1', 'presence-room', 'k3x9q0ab', seq, 0, { action: 'message.create', name: 'chat', data: `{"n":${seq}}`, origin: 'rest' });
  client.ackEnabled = true;
  client.batch = 4;
  client.subscriptions.add(STREAM_CHANNEL);
  client.cursor.set('presence-room', message(2).serial);
  // Batch 4 at the old home carried 3 and 4.
  client.adoptedBatch = { batch: 4, cursor: new Map([['presence-room', message(4).serial]]) };
  // The adoption holds the live entries while it reads the history after the record's cursor (2)…
  assert.equal(client.hold('presence-room'), true);
  client.deliver(message(6));
  // …and a request reaching the adopter meanwhile acknowledges batch 4: nothing is queued yet.
  client.acknowledge(4);
  assert.deepEqual(client.takeQueue().texts, []);
  client.finishRecovery('presence-room', [message(3), message(4), message(5)], { epoch: 'k3x9q0ab', seq: 5 }, { stream: true, mapped: false });
  const texts = client.takeQueue().texts.map((text) => (JSON.parse(text) as { data: { contentData: string } }).data.contentData);
  assert.deepEqual(texts, ['{"n":5}', '{"n":6}'], 'the replay skips what batch 4 carried');
  assert.equal(client.cursor.get('presence-room'), message(4).serial, 'with ack the cursor moves when the bot acknowledges');
  client.acknowledge(5);
  assert.equal(client.cursor.get('presence-room'), message(6).serial);
});

test('without ack: a connect sent again with the id of the last one that took events gets those events again, in order; any other connect does not', () => {
  const client = newClient();
  const push = (text: string, serial: string): void => pushEvent(client, text, serial);
  push('"e1"', 'S1');
  const first = client.takeQueue();
  client.tookFor('w8', first.giveBack!);
  push('"e2"', 'S2');
  // The reply to connect w8 never reached the bot (the node relaying it froze): faye sends w8 again.
  assert.equal(client.resent('w8'), true);
  assert.equal(client.cursor.get('presence-room'), undefined, 'the cursor is back where it was before the lost reply');
  const again = client.takeQueue();
  assert.deepEqual(again.texts, ['"e1"', '"e2"']);
  client.tookFor('w9', again.giveBack!);
  // The next connect has its own id: the bot got w9's reply.
  assert.equal(client.resent('w10'), false);
  assert.equal(client.resent('w9'), false, 'only the connect right after the reply counts');
  push('"e3"', 'S3');
  assert.deepEqual(client.takeQueue().texts, ['"e3"']);
  assert.equal(client.cursor.get('presence-room'), 'S3');
});

test('without ack: a client that numbers its connects gets a reply handed to its connection again when it repeats that connect (it timed out before reading it)', () => {
  const client = newClient();
  const push = (text: string, serial: string): void => pushEvent(client, text, serial);
  assert.equal(client.resent('w7'), false);
  assert.equal(client.resent('w8'), false);
  push('"e1"', 'S1');
  const first = client.takeQueue();
  const delivered = client.tookFor('w8', first.giveBack!);
  // The reply's bytes reached the kernel, but faye's request timed out before it read them…
  delivered();
  push('"e2"', 'S2');
  // …so it sends w8 again: the only sign the bot did not get it.
  assert.equal(client.resent('w8'), true);
  assert.deepEqual(client.takeQueue().texts, ['"e1"', '"e2"']);
});

test('without ack: a reply known handed to the bot is not given again, so a client sending every connect with one id gets nothing twice', () => {
  const client = newClient();
  const push = (text: string, serial: string): void => pushEvent(client, text, serial);
  push('"e1"', 'S1');
  const first = client.takeQueue();
  const delivered = client.tookFor('1', first.giveBack!);
  delivered();
  push('"e2"', 'S2');
  assert.equal(client.resent('1'), false);
  assert.deepEqual(client.takeQueue().texts, ['"e2"']);
  // A delivery told for an older reply does not forget a newer one.
  push('"e3"', 'S3');
  const third = client.takeQueue();
  client.tookFor('3', third.giveBack!);
  delivered();
  assert.equal(client.resent('3'), true);
  assert.deepEqual(client.takeQueue().texts, ['"e3"']);
});
