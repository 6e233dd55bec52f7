import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplyScheduler, type ReadyClient } from '../../../../src/doors/bayeux/reply-scheduler.ts';

/** Resolves on the next event-loop turn's check phase (after the scheduler's round, if one is due). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function recordingClients(count: number, answered: number[]): ReadyClient[] {
  return Array.from({ length: count }, (_, index) => ({ answerHeldConnect: () => void answered.push(index) }));
}

test('ready clients are answered in rounds of perTurn, in the order they became ready, each once', async () => {
  const scheduler = new ReplyScheduler(3);
  const answered: number[] = [];
  const clients = recordingClients(7, answered);
  for (const client of clients) scheduler.schedule(client);
  scheduler.schedule(clients[0]!); // scheduled twice before its turn: still answered once
  assert.deepEqual(answered, [], 'nothing is answered synchronously');
  await nextTurn();
  assert.deepEqual(answered, [0, 1, 2]);
  await nextTurn();
  assert.deepEqual(answered, [0, 1, 2, 3, 4, 5]);
  await nextTurn();
  assert.deepEqual(answered, [0, 1, 2, 3, 4, 5, 6]);
  await nextTurn();
  assert.equal(answered.length, 7);
});

test('I/O is read between rounds: a callback queued after the first round runs before the second', async () => {
  const scheduler = new ReplyScheduler(2);
  const events: string[] = [];
  const clients = Array.from({ length: 4 }, (_, index) => ({
    answerHeldConnect: () => {
      events.push(`reply ${index}`);
      // Stands for a publish arriving meanwhile: its callback is queued behind this round.
      if (index === 0) setImmediate(() => events.push('other work'));
    },
  }));
  for (const client of clients) scheduler.schedule(client);
  await nextTurn();
  await nextTurn();
  await nextTurn();
  assert.deepEqual(events, ['reply 0', 'reply 1', 'other work', 'reply 2', 'reply 3']);
});

test('a cancelled client is not answered', async () => {
  const scheduler = new ReplyScheduler(10);
  const answered: number[] = [];
  const clients = recordingClients(3, answered);
  for (const client of clients) scheduler.schedule(client);
  scheduler.cancel(clients[1]!);
  await nextTurn();
  assert.deepEqual(answered, [0, 2]);
});
