/**
 * Presence changes that reach a node out of order (versions from the store, see
 * PresenceStore): the hub passes on only what is newer than the last change it passed on
 * for the user; a member list sent to one subscriber holds back nothing the others need;
 * a resynchronisation after the bus was lost announces the members the subscribers were
 * not told about.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { streamKey } from '../../../src/core/channels.ts';
import { LocalHub } from '../../../src/core/hub.ts';
import { PresenceView } from '../../../src/core/presence-view.ts';
import type { PresenceChange, Subscriber } from '../../../src/core/types.ts';

const CHANNEL = 'presence-room';
const STREAM = streamKey('app', CHANNEL);

function watcher(connectionId: string): Subscriber & { said: string[] } {
  const said: string[] = [];
  return {
    connectionId,
    said,
    deliver: () => undefined,
    presenceChanged: (change) => said.push(`${change.kind === 'member_added' ? '+' : '-'}${change.member.userId}`),
  };
}

const change = (kind: PresenceChange['kind'], userId: string, version?: number): PresenceChange => ({
  kind,
  appId: 'app',
  channel: CHANNEL,
  member: { userId, userInfo: null },
  ...(version === undefined ? {} : { version }),
});

test("a reaper's older member_removed that arrives after the re-add is dropped", () => {
  const hub = new LocalHub();
  const ann = watcher('1.1');
  hub.add('app', CHANNEL, ann);
  hub.notePresenceMembers(STREAM, [{ userId: 'ann', userInfo: null, version: 5 }, { userId: 'ben', userInfo: null, version: 7 }], '1.1');
  hub.dispatchPresence(change('member_added', 'ben', 20)); // the re-registration (decided second)
  hub.dispatchPresence(change('member_removed', 'ben', 12)); // the reap (decided first, published last)
  assert.deepEqual(ann.said, ['+ben']);
  // A leave after that is newer: passed on; a repeat of it is not.
  hub.dispatchPresence(change('member_removed', 'ben', 30));
  hub.dispatchPresence(change('member_removed', 'ben', 30));
  // A late older member_added after the leave is dropped too.
  hub.dispatchPresence(change('member_added', 'ben', 25));
  assert.deepEqual(ann.said, ['+ben', '-ben']);
});

test('a member list sent to one subscriber holds back no change another subscriber needs; changes without a version pass', () => {
  const hub = new LocalHub();
  const ann = watcher('1.1');
  hub.add('app', CHANNEL, ann);
  // ben joins (version 40); before his member_added reaches this node, cat subscribes and is sent a list with ben.
  const cat = watcher('1.2');
  hub.add('app', CHANNEL, cat);
  hub.notePresenceMembers(STREAM, [{ userId: 'ben', userInfo: null, version: 40 }], '1.2');
  hub.dispatchPresence(change('member_added', 'ben', 40));
  assert.deepEqual(ann.said, ['+ben'], 'ann had not heard of ben');
  hub.dispatchPresence(change('member_removed', 'cat'));
  hub.dispatchPresence(change('member_added', 'cat'));
  assert.deepEqual(ann.said, ['+ben', '-cat', '+cat']);
});

test("a member in one newcomer's snapshot is still announced to the subscribers that were not sent that snapshot", () => {
  // A join storm: cat's snapshot (read after ben joined on another node) lists ben before
  // ben's member_added reaches this node; ann, subscribed earlier, must still be told.
  const hub = new LocalHub();
  const ann = watcher('1.1');
  const cat = watcher('1.2');
  hub.add('app', CHANNEL, ann);
  hub.add('app', CHANNEL, cat);
  hub.notePresenceMembers(STREAM, [{ userId: 'ben', userInfo: null, version: 40 }], '1.2');
  hub.dispatchPresence(change('member_added', 'ben', 40));
  assert.deepEqual(ann.said, ['+ben']);
  assert.deepEqual(cat.said, []);
  // Passed on now: a repeat is not news for anyone, an older leave neither.
  hub.dispatchPresence(change('member_added', 'ben', 40));
  hub.dispatchPresence(change('member_removed', 'ben', 39));
  assert.deepEqual(ann.said, ['+ben']);
  assert.deepEqual(cat.said, []);
  // Two newcomers sent the same snapshot: both are spared, the others told.
  const dan = watcher('1.3');
  hub.add('app', CHANNEL, dan);
  hub.notePresenceMembers(STREAM, [{ userId: 'eve', userInfo: null, version: 50 }], '1.2');
  hub.notePresenceMembers(STREAM, [{ userId: 'eve', userInfo: null, version: 50 }], '1.3');
  hub.dispatchPresence(change('member_added', 'eve', 50));
  assert.deepEqual(ann.said, ['+ben', '+eve']);
  assert.deepEqual(cat.said, []);
  assert.deepEqual(dan.said, []);
});

test('the view of a stream ends with its last local subscriber', () => {
  const hub = new LocalHub();
  const ann = watcher('1.1');
  hub.add('app', CHANNEL, ann);
  hub.dispatchPresence(change('member_added', 'ben', 50));
  hub.remove('app', CHANNEL, ann);
  const cat = watcher('1.2');
  hub.add('app', CHANNEL, cat);
  // A fresh subscriber starts from its own member list, not from what its predecessor was told.
  hub.notePresenceMembers(STREAM, [], '1.2');
  hub.dispatchPresence(change('member_added', 'ben', 10));
  assert.deepEqual(cat.said, ['+ben']);
});

test('a resynchronisation announces members missed while off the bus, to everyone, once', () => {
  const hub = new LocalHub();
  const ann = watcher('1.1');
  const ben = watcher('1.2');
  hub.add('app', CHANNEL, ann);
  hub.add('app', CHANNEL, ben);
  hub.notePresenceMembers(STREAM, [{ userId: 'ann', userInfo: null, version: 1 }, { userId: 'ben', userInfo: null, version: 2 }]);
  // Off the bus: ben's re-add (version 9) was missed; the reaper's older removal (8) arrived.
  hub.dispatchPresence(change('member_removed', 'ben', 8));
  const read = [
    { userId: 'ann', userInfo: null, version: 1 },
    { userId: 'ben', userInfo: { back: true }, version: 9 },
    { userId: 'dan', userInfo: null, version: 6 },
  ];
  assert.equal(hub.resyncPresence('app', CHANNEL, read), 2);
  assert.deepEqual(ann.said, ['-ben', '+ben', '+dan']);
  assert.deepEqual(ben.said, ['-ben', '+ben', '+dan'], 'ben is told about himself too');
  // Read again: nothing new to announce; the re-add arriving late is not news either.
  assert.equal(hub.resyncPresence('app', CHANNEL, read), 0);
  hub.dispatchPresence(change('member_added', 'ben', 9));
  assert.deepEqual(ann.said, ['-ben', '+ben', '+dan']);
});

test('a reading older than a leave passed on does not bring the user back', () => {
  const view = new PresenceView();
  assert.notEqual(view.admit(STREAM, 'eve', true, 3), null);
  assert.notEqual(view.admit(STREAM, 'eve', false, 11), null);
  assert.deepEqual(view.noteMembers(STREAM, [{ userId: 'eve', userInfo: null, version: 3 }]), []);
  assert.deepEqual(view.seen(STREAM, 'eve'), { version: 11, present: false });
});

test('absent users are kept up to a bound per stream, the oldest dropped first', () => {
  const view = new PresenceView();
  for (let i = 1; i <= 1005; i++) assert.notEqual(view.admit(STREAM, `u${i}`, false, i), null);
  assert.equal(view.seen(STREAM, 'u1'), undefined);
  assert.equal(view.seen(STREAM, 'u5'), undefined);
  assert.deepEqual(view.seen(STREAM, 'u6'), { version: 6, present: false });
  assert.deepEqual(view.seen(STREAM, 'u1005'), { version: 1005, present: false });
});

test('each subscriber is told only changes newer than what its own member list told it', () => {
  // ann subscribed long ago; cat and dan were sent member lists with ben at versions 40 and 60,
  // while ben's member_added (40), member_removed (50) and member_added (60) were still on their way.
  const hub = new LocalHub();
  const ann = watcher('1.1');
  const cat = watcher('1.2');
  const dan = watcher('1.3');
  for (const each of [ann, cat, dan]) hub.add('app', CHANNEL, each);
  hub.notePresenceMembers(STREAM, [{ userId: 'ben', userInfo: null, version: 40 }], '1.2');
  hub.notePresenceMembers(STREAM, [{ userId: 'ben', userInfo: null, version: 60 }], '1.3');
  hub.dispatchPresence(change('member_added', 'ben', 40));
  hub.dispatchPresence(change('member_removed', 'ben', 50));
  hub.dispatchPresence(change('member_added', 'ben', 60));
  assert.deepEqual(ann.said, ['+ben', '-ben', '+ben']);
  assert.deepEqual(cat.said, ['-ben', '+ben']);
  assert.deepEqual(dan.said, []);
});

test('a stale member_removed does not take back a member a member list told newer', () => {
  const hub = new LocalHub();
  const ann = watcher('1.1');
  const cat = watcher('1.2');
  hub.add('app', CHANNEL, ann);
  hub.dispatchPresence(change('member_added', 'ben', 10));
  hub.add('app', CHANNEL, cat);
  hub.notePresenceMembers(STREAM, [{ userId: 'ben', userInfo: null, version: 30 }], '1.2');
  hub.dispatchPresence(change('member_removed', 'ben', 20));
  assert.deepEqual(ann.said, ['+ben', '-ben']);
  assert.deepEqual(cat.said, []);
  hub.dispatchPresence(change('member_added', 'ben', 30));
  hub.dispatchPresence(change('member_removed', 'ben', 40));
  assert.deepEqual(ann.said, ['+ben', '-ben', '+ben', '-ben']);
  assert.deepEqual(cat.said, ['-ben']);
});

test("a resynchronisation does not announce a member to a subscriber whose member list had it; a subscriber's entries go with it", () => {
  const hub = new LocalHub();
  const ann = watcher('1.1');
  const cat = watcher('1.2');
  hub.add('app', CHANNEL, ann);
  hub.add('app', CHANNEL, cat);
  hub.notePresenceMembers(STREAM, [{ userId: 'ben', userInfo: null, version: 40 }], '1.2');
  assert.equal(hub.resyncPresence('app', CHANNEL, [{ userId: 'ben', userInfo: null, version: 40 }]), 1);
  assert.deepEqual(ann.said, ['+ben']);
  assert.deepEqual(cat.said, []);

  const view = new PresenceView();
  view.noteMembers(STREAM, [{ userId: 'eve', userInfo: null, version: 7 }], '1.2');
  assert.equal(view.ahead(STREAM, 'eve', '1.2'), 7);
  view.forgetSubscriber(STREAM, '1.2');
  assert.equal(view.ahead(STREAM, 'eve', '1.2'), undefined);
  view.noteMembers(STREAM, [{ userId: 'eve', userInfo: null, version: 7 }], '1.3');
  assert.deepEqual(view.admit(STREAM, 'eve', true, 7), new Set(['1.3']));
  assert.equal(view.ahead(STREAM, 'eve', '1.3'), undefined, 'dropped once passed on');
});
