/**
 * Unknown query parameters and modes are refused with a 400 naming them, never ignored;
 * history takes Sockudo's parameter names as aliases; purge takes Sockudo's modes. Driven
 * by the official `pusher` server SDK's generic `get` / `post` (what an application or a
 * Sockudo client sends), on memory and on Redis.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type Pusher from 'pusher';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../../helpers/app.ts';
import { serverSdk } from '../../helpers/pusher-peers.ts';
import { startRedis, type TestRedis } from '../../helpers/redis-server.ts';

interface HistoryItem {
  readonly serial: string;
  readonly data: string;
}

for (const backend of ['memory', 'redis'] as const) {
  describe(`REST query parameters and purge modes (${backend})`, () => {
    let redis: TestRedis | undefined;
    let running: RunningApp;
    let sdk: Pusher;

    before(async () => {
      if (backend === 'redis') redis = await startRedis();
      running = await startApp(testConfig({}, redis?.url));
      sdk = serverSdk(running.port);
    });
    after(async () => {
      await running?.close();
      await redis?.stop();
    });

    /** The SDK resolves with its fetch Response on 2xx and rejects with a RequestError (status, body text) otherwise. */
    type SdkOutcome = { status: number; text?: () => Promise<string>; body?: unknown };
    const settle = async (pending: Promise<unknown>) => {
      const outcome = (await pending.catch((error: unknown) => error)) as SdkOutcome;
      const text = typeof outcome.text === 'function' ? await outcome.text() : String(outcome.body);
      return { status: outcome.status, json: JSON.parse(text) as Record<string, unknown> };
    };
    const get = (path: string, params: Record<string, string> = {}) => settle(sdk.get({ path, params }));
    // The SDK JSON-encodes `body` itself (its typings say string).
    const post = (path: string, body: unknown) => settle(sdk.post({ path, body: body as string }));
    const publishFive = async (channel: string): Promise<string[]> => {
      const serials: string[] = [];
      for (let i = 1; i <= 5; i++) {
        const response = await sdk.trigger(channel, 'n', String(i));
        serials.push(((await response.json()) as { message_serials: Record<string, string> }).message_serials[channel]!);
      }
      return serials;
    };
    const datas = (page: Record<string, unknown>) => (page.items as HistoryItem[]).map((item) => item.data);

    test('an unknown parameter on any GET route is a 400 naming it', async () => {
      const cases: [string, Record<string, string>, string][] = [
        ['/channels', { filter_by_prefx: 'presence-' }, 'filter_by_prefx'],
        ['/channels/news', { filter_by_prefix: 'x' }, 'filter_by_prefix'],
        ['/channels/presence-x/users', { limit: '5' }, 'limit'],
        ['/channels/news/history', { limt: '5' }, 'limt'],
        ['/channels/news/history/state', { verbose: '1' }, 'verbose'],
        ['/channels/news/messages/00000000001', { with: 'versions' }, 'with'],
      ];
      for (const [path, params, name] of cases) {
        const reply = await get(path, params);
        assert.equal(reply.status, 400, path);
        assert.equal(reply.json.code, 'RC_ERR_HTTP_UNKNOWN_PARAMETER', path);
        assert.match(String(reply.json.message), new RegExp(`"${name}"`), path);
      }
      // Known parameters and the signature's own still pass.
      assert.equal((await get('/channels', { filter_by_prefix: 'presence-', info: 'user_count' })).status, 200);
    });

    test("Sockudo's start_serial/end_serial select a range (today's bug: they returned everything)", async () => {
      const serials = await publishFive('sock-range');
      const page = await get('/channels/sock-range/history', { start_serial: '2', end_serial: '4', direction: 'forwards' });
      assert.equal(page.status, 200);
      assert.deepEqual(datas(page.json), ['2', '3', '4']);
      const bySerial = await get('/channels/sock-range/history', { start_serial: serials[3]!, direction: 'oldest_first' });
      assert.deepEqual(datas(bySerial.json), ['4', '5']);
      const future = Date.now() + 60_000;
      assert.deepEqual(datas((await get('/channels/sock-range/history', { start_time_ms: String(future) })).json), []);
      assert.equal((await get('/channels/sock-range/history', { end_time_ms: String(future) })).status, 200);
      const both = await get('/channels/sock-range/history', { start_serial: '2', from_serial: serials[1]! });
      assert.equal(both.status, 400);
      assert.equal(both.json.code, 'RC_ERR_HISTORY_INVALID_QUERY');
      const badDirection = await get('/channels/sock-range/history', { direction: 'sideways' });
      assert.equal(badDirection.status, 400);
      assert.match(String(badDirection.json.message), /sideways/);
    });

    test('purge before_serial keeps that serial and later (today: it deleted everything)', async () => {
      await publishFive('sock-purge');
      const purged = await post('/channels/sock-purge/history/purge', {
        confirm_channel: 'sock-purge',
        confirm_operation: 'purge',
        mode: 'before_serial',
        before_serial: 3,
        reason: 'keep 3-5',
        requested_by: 'ops',
      });
      assert.equal(purged.status, 200, JSON.stringify(purged.json));
      assert.equal(purged.json.purged_messages, 2);
      assert.equal(purged.json.mode, 'before_serial');
      assert.equal(purged.json.reason, 'keep 3-5');
      const page = await get('/channels/sock-purge/history', { direction: 'oldest_first' });
      assert.deepEqual(datas(page.json), ['3', '4', '5']);
      // Serials keep counting: the next publish gets a new serial, after the kept ones.
      const next = await sdk.trigger('sock-purge', 'n', '6');
      const nextSerial = ((await next.json()) as { message_serials: Record<string, string> }).message_serials['sock-purge']!;
      const after = await get('/channels/sock-purge/history', { direction: 'oldest_first' });
      assert.deepEqual(datas(after.json), ['3', '4', '5', '6']);
      assert.equal((after.json.items as HistoryItem[])[3]!.serial, nextSerial);
      assert.ok(!(page.json.items as HistoryItem[]).some((item) => item.serial === nextSerial), 'a serial was reused');
    });

    test('purge before_time_ms keeps what was published at or after the time; all drops everything', async () => {
      await publishFive('sock-time');
      const state = await get('/channels/sock-time/history', { direction: 'oldest_first' });
      const items = state.json.items as (HistoryItem & { timestamp: number })[];
      const cut = items[4]!.timestamp;
      const byTime = await post('/channels/sock-time/history/purge', { confirm_channel: 'sock-time', mode: 'before_time_ms', before_time_ms: cut });
      assert.equal(byTime.status, 200);
      const left = datas((await get('/channels/sock-time/history', { direction: 'oldest_first' })).json);
      assert.ok(left.includes('5'), 'the entry at the time stays');
      assert.equal(left.length + (byTime.json.purged_messages as number), 5);
      const all = await post('/channels/sock-time/history/purge', { confirm_channel: 'sock-time', mode: 'all' });
      assert.equal(all.json.purged_messages, left.length);
      assert.deepEqual(datas((await get('/channels/sock-time/history')).json), []);
    });

    test('unknown modes, missing or extra bounds and unknown fields purge nothing', async () => {
      await publishFive('sock-refuse');
      const bad: [unknown, string][] = [
        [{ confirm_channel: 'sock-refuse', mode: 'before_id', before_serial: 3 }, 'RC_ERR_HISTORY_INVALID_OPERATION'],
        [{ confirm_channel: 'sock-refuse', mode: 'before_serial' }, 'RC_ERR_HISTORY_INVALID_OPERATION'],
        [{ confirm_channel: 'sock-refuse', mode: 'before_serial', before_serial: 3, before_time_ms: 5 }, 'RC_ERR_HISTORY_INVALID_OPERATION'],
        [{ confirm_channel: 'sock-refuse', mode: 'all', before_serial: 3 }, 'RC_ERR_HISTORY_INVALID_OPERATION'],
        [{ confirm_channel: 'sock-refuse', before_serial: 3 }, 'RC_ERR_HISTORY_INVALID_OPERATION'],
        [{ confirm_channel: 'sock-refuse', mode: 'before_time_ms', before_time_ms: 'yesterday' }, 'RC_ERR_HISTORY_INVALID_OPERATION'],
        [{ confirm_channel: 'sock-refuse', confirm_operation: 'reset' }, 'RC_ERR_HISTORY_INVALID_OPERATION'],
        [{ confirm_channel: 'sock-refuse', mode: 'before_serial', before_seq: 3 }, 'RC_ERR_HTTP_UNKNOWN_FIELD'],
      ];
      for (const [body, code] of bad) {
        const reply = await post('/channels/sock-refuse/history/purge', body);
        assert.equal(reply.status, 400, JSON.stringify(body));
        assert.equal(reply.json.code, code, JSON.stringify(body));
      }
      assert.deepEqual(datas((await get('/channels/sock-refuse/history', { direction: 'oldest_first' })).json), ['1', '2', '3', '4', '5']);
    });
  });
}

test('the unknown-parameter check comes after the signature: an unsigned request is a 401', async () => {
  const running = await startApp(testConfig());
  try {
    const response = await fetch(`${running.url}/apps/${TEST_APP.id}/channels?typo=1`);
    assert.equal(response.status, 401);
  } finally {
    await running.close();
  }
});
