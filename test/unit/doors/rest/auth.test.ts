/**
 * The signing hook as other route plugins see it: any route under /apps/:app_id/ is
 * signed and gets its app from requireSignedApp; a route under /apps/ with another
 * parameter name fails at start-up instead of being served unsigned.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fastify from 'fastify';
import { buildApp, type RoomcastApp } from '../../../../src/app.ts';
import { replyWithError } from '../../../../src/doors/http-errors.ts';
import { installSignedRequests, rawBodyOf, requireSignedApp } from '../../../../src/doors/rest/auth.ts';
import { signQuery } from '../../../../src/doors/rest/signature.ts';
import { testConfig, TEST_APP } from '../../../helpers/app.ts';

let roomcast: RoomcastApp;

before(async () => {
  roomcast = await buildApp(testConfig());
});

after(() => roomcast.close());

test('a route plugin registered inside the door is signed and reads its app and raw body', async () => {
  const http = fastify();
  http.setErrorHandler(replyWithError);
  await http.register(async (door) => {
    installSignedRequests(door, roomcast.core);
    await door.register(async (routes) => {
      routes.post('/apps/:app_id/custom', async (request) => ({ app: requireSignedApp(request).id, raw: rawBodyOf(request).toString() }));
      routes.get('/unsigned', async (request) => ({ signed: request.signedApp !== null }));
    });
  });
  const path = `/apps/${TEST_APP.id}/custom`;
  const body = '{ "spaced" :  true }';
  const signed = await http.inject({ method: 'POST', url: `${path}?${signQuery(TEST_APP, 'POST', path, {}, body)}`, payload: body, headers: { 'content-type': 'application/json' } });
  assert.equal(signed.statusCode, 200, signed.body);
  assert.deepEqual(signed.json(), { app: TEST_APP.id, raw: body });

  const unsigned = await http.inject({ method: 'POST', url: path, payload: body, headers: { 'content-type': 'application/json' } });
  assert.equal(unsigned.statusCode, 401);
  assert.equal(unsigned.json().code, 'RC_ERR_AUTH_MISSING_PARAM');

  assert.deepEqual((await http.inject({ method: 'GET', url: '/unsigned' })).json(), { signed: false });
  await http.close();
});

test('requireSignedApp outside a signed route is an internal error, not a silent null', async () => {
  const http = fastify();
  http.setErrorHandler(replyWithError);
  await http.register(async (door) => {
    installSignedRequests(door, roomcast.core);
    door.get('/elsewhere', async (request) => requireSignedApp(request).id);
  });
  const reply = await http.inject({ method: 'GET', url: '/elsewhere' });
  assert.equal(reply.statusCode, 500);
  assert.equal(reply.json().code, 'RC_ERR_INTERNAL');
  await http.close();
});

test('a route under /apps/ without the :app_id parameter is refused at start-up', async () => {
  const http = fastify();
  void http.register(async (door) => {
    installSignedRequests(door, roomcast.core);
    door.get('/apps/:appId/oops', async () => ({}));
  });
  await assert.rejects(async () => {
    await http.ready();
  }, /served unsigned/);
  await http.close();
});

test('the raw-body JSON parser stays inside the door: other routes keep Fastify defaults', async () => {
  const http = fastify();
  await http.register(async (door) => {
    installSignedRequests(door, roomcast.core);
  });
  http.post('/outside', async (request) => ({ got: request.body }));
  const reply = await http.inject({ method: 'POST', url: '/outside', payload: 'plain words', headers: { 'content-type': 'text/plain' } });
  assert.deepEqual(reply.json(), { got: 'plain words' });
  await http.close();
});
