/** The webhooks config: soketi's shape accepted, bad endpoints refused naming the field, lanes resolved per channel. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildConfig, checkConfig } from '../../src/config/load.ts';
import { WebhookEndpoints } from '../../src/webhooks/endpoints.ts';

const app = (webhooks: unknown[]) => ({ apps: [{ id: 'a1', key: 'k1', secret: 's1', webhooks }] });

test("soketi's webhook list is accepted as it is, with defaults for delivery", () => {
  const config = buildConfig(
    app([
      { url: 'https://example.com/hooks', event_types: ['channel_occupied', 'channel_vacated'] },
      { url: 'http://10.0.0.2:8080/x', event_types: ['member_added'], filter: { channel_name_starts_with: 'presence-', channel_name_ends_with: '-team' }, headers: { 'X-Auth': 't' } },
    ]),
  );
  assert.equal(config.apps[0]!.webhooks.length, 2);
  assert.equal(config.webhookDelivery.leaveDelayMs, 3000);
  assert.equal(config.metrics.port, 0);
  assert.deepEqual(buildConfig(app([])).apps[0]!.webhooks, []);
});

test('bad endpoints are refused, naming the field', () => {
  const problems = (webhooks: unknown[]): string[] => {
    const result = checkConfig(app(webhooks));
    return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.problem}`);
  };
  assert.match(problems([{ url: 'ftp://x', event_types: ['channel_occupied'] }]).join(), /apps\.0\.webhooks\.0\.url/);
  assert.match(problems([{ url: 'https://x', event_types: ['nope'] }]).join(), /event_types/);
  assert.match(problems([{ url: 'https://x', event_types: [] }]).join(), /event_types/);
  assert.match(problems([{ url: 'https://x', event_types: ['cache_miss'], headers: { 'X-Pusher-Signature': 'forged' } }]).join(), /X-Pusher-Signature: is set by roomcast itself/);
  assert.match(problems([{ url: 'https://x', event_types: ['cache_miss'], headers: { 'X-A': 'a\r\nInjected: 1' } }]).join(), /line breaks/);
  assert.match(problems([{ url: 'https://x', event_types: ['cache_miss'], lambda: {} }]).join(), /lambda/);
});

test('lanes: one per endpoint that wants the event and accepts the channel; a channel always takes the same lane', () => {
  const config = buildConfig(
    app([
      { url: 'https://one', event_types: ['channel_occupied'] },
      { url: 'https://two', event_types: ['channel_occupied', 'user_online'], filter: { channel_name_starts_with: 'team-' } },
    ]),
  );
  const endpoints = new WebhookEndpoints(config.apps, 4);
  assert.equal(endpoints.lanesFor('a1', 'channel_occupied', 'room-1', 'room-1').length, 1, 'the filter keeps the second out');
  const both = endpoints.lanesFor('a1', 'channel_occupied', 'team-a', 'team-a');
  assert.equal(both.length, 2);
  assert.deepEqual(endpoints.lanesFor('a1', 'channel_occupied', 'team-a', 'team-a'), both, 'stable');
  assert.equal(endpoints.lanesFor('a1', 'user_online', undefined, 'u1').length, 1, 'no channel: every filter passes');
  assert.equal(endpoints.lanesFor('a1', 'member_added', 'team-a', 'team-a').length, 0);
  assert.equal(endpoints.endpointOfLane(both[1]!)!.url, 'https://two');
  const lanes = new Set(Array.from({ length: 200 }, (_, i) => endpoints.lanesFor('a1', 'channel_occupied', `c${i}`, `c${i}`)[0]));
  assert.equal(lanes.size, 4, 'channels spread over the 4 lanes');
  endpoints.update(buildConfig(app([{ url: 'https://three', event_types: ['cache_miss'] }])).apps);
  assert.equal(endpoints.endpointOfLane(both[1]!), undefined, 'after a reload the old endpoint is gone');
  assert.equal(endpoints.wants('a1', 'cache_miss'), true);
});
