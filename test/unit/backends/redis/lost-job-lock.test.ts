/** BullMQ's lost-lock errors are told apart from Redis failures (they are a stall of this node, not an outage). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLostJobLock } from '../../../../src/backends/redis/queue.ts';

test('lost-lock errors are recognised; connection and script errors are not', () => {
  for (const message of ['could not renew lock for job wd|app1|x|3', 'Missing lock for job 17. moveToFinished', 'Lock mismatch for job 17. Cmd moveToFinished from active']) {
    assert.equal(isLostJobLock(new Error(message)), true, message);
  }
  for (const message of ['Connection is closed.', 'connect ECONNREFUSED 127.0.0.1:6379', 'WRONGPASS invalid username-password pair', 'ERR Error running script']) {
    assert.equal(isLostJobLock(new Error(message)), false, message);
  }
  assert.equal(isLostJobLock('could not renew lock for job x'), false, 'only errors');
});
