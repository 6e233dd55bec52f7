import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoadShedder } from '../../../../src/doors/bayeux/load-shedding.ts';

const base = { sessionGraceMs: 10_000, connectTimeoutMs: 25_000, maxSessions: 0, maxEventLoopDelayMs: 0 };

test('live sessions past maxSessions shed new logins with Retry-After 300; expired ones stop counting', async () => {
  const shedder = new LoadShedder({ ...base, maxSessions: 2 });
  shedder.noteSession('a', 60_000);
  shedder.noteSession('b', 30);
  assert.throws(() => shedder.admit(), (error: { code: string; details: { retryAfterSec: number } }) => {
    assert.equal(error.code, 'RC_ERR_BOT_BUSY');
    assert.equal(error.details.retryAfterSec, 300);
    return true;
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.doesNotThrow(() => shedder.admit());
  shedder.close();
});

test('an event-loop delay above maxEventLoopDelayMs sheds new logins', async () => {
  const shedder = new LoadShedder({ ...base, maxEventLoopDelayMs: 50 }, 1000);
  assert.doesNotThrow(() => shedder.admit());
  await new Promise((resolve) => setTimeout(resolve, 50)); // let the monitor take a first sample
  const blockedUntil = Date.now() + 250;
  while (Date.now() < blockedUntil) {
    // block the event loop, as an overloaded process would
  }
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.throws(() => shedder.admit(), /event-loop delay/);
  shedder.close();
});
