/** Each catalogue error maps to a Pusher code in the range whose reconnect rule fits it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createError, type ErrorCode } from '../../../../src/errors.ts';
import { errorPayload, pusherCodeOf } from '../../../../src/doors/ws/close-codes.ts';

const code = (name: ErrorCode, ...args: unknown[]): number => pusherCodeOf(createError(name, ...args));

test('refusals that will fail again are in 4000–4099 (do not reconnect)', () => {
  assert.equal(code('RC_ERR_WS_UNKNOWN_APP_KEY', 'k'), 4001);
  assert.equal(code('RC_ERR_APP_DISABLED', 'a'), 4003);
  assert.equal(code('RC_ERR_WS_PROTOCOL_UNSUPPORTED', '3'), 4007);
  assert.equal(code('RC_ERR_WS_PROTOCOL_MISSING'), 4008);
  for (const name of ['RC_ERR_WS_UNAUTHORIZED', 'RC_ERR_WS_SIGNIN_FAILED', 'RC_ERR_WS_USER_TERMINATED'] as const) assert.equal(code(name, 'x', 'y'), 4009);
});

test('capacity is 4100 (back off); shutdown, slow consumers and backend outages 4200; pong timeout 4201', () => {
  assert.equal(code('RC_ERR_WS_OVER_CAPACITY', 'a', 1), 4100);
  assert.equal(code('RC_ERR_WS_OVER_QUOTA', 'a', 1), 4004);
  assert.equal(code('RC_ERR_WS_SHUTTING_DOWN'), 4200);
  assert.equal(code('RC_ERR_WS_SLOW_CONSUMER', 1024), 4200);
  assert.equal(code('RC_ERR_BACKEND_UNAVAILABLE', 'redis', 'down'), 4200);
  assert.equal(code('RC_ERR_WS_PONG_TIMEOUT', 30), 4201);
});

test('errors that keep the connection open are in 4300–4399', () => {
  assert.equal(code('RC_ERR_WS_BAD_FRAME', 'x'), 4300);
  assert.equal(code('RC_ERR_EVENT_DATA_TOO_LARGE', 20000, 10240), 4300);
  assert.equal(code('RC_ERR_WS_CLIENT_EVENT_RATE_LIMITED', 10), 4301);
  assert.equal(code('RC_ERR_WS_CLIENT_EVENT_REFUSED', 'e', 'c', 'r'), 4302);
  assert.equal(code('RC_ERR_WS_PRESENCE_FULL', 'c', 100), 4304);
  assert.deepEqual(errorPayload(createError('RC_ERR_WS_BAD_FRAME', 'not valid JSON')), {
    code: 4300,
    message: 'invalid frame: not valid JSON',
    rc_code: 'RC_ERR_WS_BAD_FRAME',
  });
});
