/** Every door's publish refuses the event names the Pusher protocol keeps for itself (the core checks, not each door). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildConfig } from '../../../src/config/load.ts';
import { validateEvent } from '../../../src/core/publish.ts';
import { isRoomcastError } from '../../../src/errors.ts';

const app = buildConfig({ apps: [{ id: 'a', key: 'k', secret: 's' }] }).apps[0]!;

test('pusher: and pusher_internal: names are refused by the core; others pass', () => {
  for (const name of ['pusher:subscription_succeeded', 'pusher_internal:member_removed', 'pusher:']) {
    assert.throws(
      () => validateEvent(app, { name, channels: ['c'], data: 'x', origin: 'console' }),
      (error: unknown) => isRoomcastError(error) && error.code === 'RC_ERR_EVENT_INVALID_NAME' && /reserves/.test(error.message),
      name,
    );
  }
  for (const name of ['pusherish', 'my:pusher:event', 'client-x', 'message']) assert.equal(validateEvent(app, { name, channels: ['c'], data: 'x', origin: 'console' }), 'x', name);
});
