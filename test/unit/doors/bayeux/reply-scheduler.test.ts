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

test('a client that polls again with events already queued waits for its turn behind earlier ready clients', async () => {
  const { BayeuxClient } = await import('../../../../src/doors/bayeux/client.ts');
  const { BotWire } = await import('../../../../src/doors/bayeux/stream.ts');
  const wire = new BotWire(() => ({ sessionGraceMs: 10_000, connectTimeoutMs: 25_000, maxSessions: 0, maxEventLoopDelayMs: 0, chatEvents: [], rawDataChannels: [] }));
  const scheduler = new ReplyScheduler(1);
  const session = { id: 's', appId: 'a', space: 'sp', room: 'r', channel: 'presence-r', bot: 'b', displayName: 'B', epoch: 0, node: 'n', createdAt: 0 };
  const first = new BayeuxClient('first', session, scheduler, wire);
  const second = new BayeuxClient('second', session, scheduler, wire);
  const order: string[] = [];
  // `first` holds a connect, then an event makes it ready (it joins the queue first).
  const firstWait = first.wait(10_000);
  first.pushText('{"n":1}');
  // `second` polls with an event already queued: not answered synchronously, and after `first`.
  second.pushText('{"n":2}');
  const secondWait = second.wait(10_000);
  void firstWait.outcome.then((outcome) => order.push(`first ${outcome}`));
  void secondWait.outcome.then((outcome) => order.push(`second ${outcome}`));
  await Promise.resolve();
  assert.deepEqual(order, [], 'nothing is answered before the scheduler runs');
  await nextTurn();
  await nextTurn();
  await nextTurn();
  assert.deepEqual(order, ['first ready', 'second ready']);
  assert.deepEqual(second.takeQueue().texts, ['{"n":2}']);
  // A connect that asks for no hold (timeout 0) is still answered at once.
  second.pushText('{"n":3}');
  assert.equal(await second.wait(0).outcome, 'ready');
});
