import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelNameProblem, channelTraits, parseStreamKey, streamKey } from '../../../src/core/channels.ts';

test('channel kinds follow the prefixes', () => {
  assert.deepEqual(channelTraits('news'), { kind: 'public', requiresAuth: false, cached: false });
  assert.deepEqual(channelTraits('cache-news'), { kind: 'public', requiresAuth: false, cached: true });
  assert.deepEqual(channelTraits('private-a'), { kind: 'private', requiresAuth: true, cached: false });
  assert.deepEqual(channelTraits('private-cache-a'), { kind: 'private', requiresAuth: true, cached: true });
  assert.deepEqual(channelTraits('private-encrypted-a'), { kind: 'encrypted', requiresAuth: true, cached: false });
  assert.deepEqual(channelTraits('private-encrypted-cache-a'), { kind: 'encrypted', requiresAuth: true, cached: true });
  assert.deepEqual(channelTraits('presence-a'), { kind: 'presence', requiresAuth: true, cached: false });
  assert.deepEqual(channelTraits('presence-cache-a'), { kind: 'presence', requiresAuth: true, cached: true });
});

test('channel names: allowed characters and length', () => {
  assert.equal(channelNameProblem('a-Z_0=@,.;', 200), null);
  assert.match(channelNameProblem('', 200) ?? '', /empty/);
  assert.match(channelNameProblem('a b', 200) ?? '', /may only contain/);
  assert.match(channelNameProblem('a:b', 200) ?? '', /may only contain/);
  assert.match(channelNameProblem('x'.repeat(201), 200) ?? '', /longer/);
  assert.match(channelNameProblem(42, 200) ?? '', /string/);
});

test('stream keys split back into app and channel', () => {
  assert.deepEqual(parseStreamKey(streamKey('app-1', 'presence-room;x')), { appId: 'app-1', channel: 'presence-room;x' });
});
