/**
 * Redis presence keeps user ids as data, never as keys of plain objects: users named
 * like `Object.prototype`'s properties are listed with their own presence versions.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createRedisBackend } from '../../../../src/backends/redis/index.ts';
import { startRedis, type TestRedis } from '../../../helpers/redis-server.ts';

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

test('members named __proto__ and constructor are listed with their versions, by joinListing and members', async () => {
  const backend = createRedisBackend({ url: redis.url, keyPrefix: 'ids:', commandTimeoutMs: 2000 }, pino({ level: 'silent' }));
  await backend.start();
  try {
    const channel = 'app\npresence-ids';
    const join = (connectionId: string, userId: string) => backend.presence.join(channel, { connectionId, nodeId: 'n1#a', userId, userInfo: 'null' });
    const joined = [await join('c1', 'alice'), await join('c2', '__proto__'), await join('c3', 'constructor')];
    const listing = await backend.presence.joinListing(channel, { connectionId: 'c4', nodeId: 'n1#a', userId: 'bob', userInfo: 'null' }, 0);
    const expected = new Map([['alice', joined[0]!.version], ['__proto__', joined[1]!.version], ['constructor', joined[2]!.version], ['bob', listing!.version]]);
    for (const members of [listing!.members, await backend.presence.members(channel)]) {
      const versions = new Map(members.map((member) => [member.userId, member.version]));
      assert.deepEqual([...versions].sort(), [...expected].sort());
    }
  } finally {
    await backend.close?.();
  }
});
