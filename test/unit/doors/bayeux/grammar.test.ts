import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bayeuxOfChannel, channelOfBayeux, isBayeuxInRoom } from '../../../../src/doors/bayeux/channel-map.ts';
import { isChannelName, isChannelPattern, patternMatches } from '../../../../src/doors/bayeux/grammar.ts';

test('channel names and patterns follow Bayeux 1.0 §2.2', () => {
  for (const name of ['/a', '/foo/bar', '/a-b_c!~()$@/x']) assert.ok(isChannelName(name), name);
  for (const name of ['', 'a', '/', '/a/', '//a', '/a b', '/a.b', '/a/*', `/${'a'.repeat(300)}`]) assert.ok(!isChannelName(name), name);
  for (const pattern of ['/*', '/**', '/a/*', '/a/b/**']) assert.ok(isChannelPattern(pattern), pattern);
  for (const pattern of ['/a/*/b', '/a/***', '/a*', '/*/**']) assert.ok(!isChannelPattern(pattern), pattern);
});

test('* matches one segment, ** any depth below', () => {
  assert.ok(patternMatches('/a/*', '/a/b'));
  assert.ok(!patternMatches('/a/*', '/a/b/c'));
  assert.ok(!patternMatches('/a/*', '/a'));
  assert.ok(patternMatches('/a/**', '/a/b/c'));
  assert.ok(!patternMatches('/a/**', '/ab/c'));
  assert.ok(patternMatches('/a/b', '/a/b'));
});

test('the Bayeux ⇄ channel mapping is reversible and confined to the room', () => {
  for (const [bayeux, channel] of [['/presence-room-acme-lobby', 'presence-room-acme-lobby'], ['/r/chat/x', 'r.chat.x']] as const) {
    assert.equal(channelOfBayeux(bayeux), channel);
    assert.equal(bayeuxOfChannel(channel), bayeux);
  }
  assert.equal(channelOfBayeux('/a!b'), null);
  assert.equal(bayeuxOfChannel('a=b'), null);
  assert.equal(bayeuxOfChannel('a..b'), null);
  const room = 'presence-room-acme-lobby';
  assert.ok(isBayeuxInRoom(`/${room}`, room));
  assert.ok(isBayeuxInRoom(`/${room}/chat`, room));
  assert.ok(isBayeuxInRoom(`/${room}/**`, room));
  assert.ok(!isBayeuxInRoom(`/${room}x`, room));
  assert.ok(!isBayeuxInRoom('/**', room));
  assert.ok(!isBayeuxInRoom('/presence-room-acme/*', room));
});
