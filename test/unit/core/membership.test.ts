/**
 * Node membership under slow work: a heartbeat busy reaping a dead registration (or
 * registering again) keeps this node's own registration renewed, so its peers never see
 * a live node expire; and a registration claimed while a beat was busy is registered
 * again by the next beat.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createMemoryBackend } from '../../../src/backends/memory/index.ts';
import type { Backend } from '../../../src/backends/ports.ts';
import { NodeMembership } from '../../../src/core/membership.ts';
import { waitUntil } from '../../helpers/ws-client.ts';

const INTERVAL_MS = 20;
// 50 intervals: a renewal late by a loaded machine's stall (100s of ms) still comes within the TTL.
const TTL_MS = 1000;

function membership(backend: Backend, reregistered: () => void = () => undefined): NodeMembership {
  return new NodeMembership({
    backend,
    nodeId: 'node-a',
    heartbeatIntervalMs: INTERVAL_MS,
    heartbeatTtlMs: TTL_MS,
    announceDepartures: async () => undefined,
    afterHeartbeat: async () => undefined,
    reregister: () => async () => undefined,
    reregistered,
    logger: pino({ level: 'silent' }),
  });
}

test('a beat busy reaping for longer than the TTL does not let this node expire', async () => {
  const backend = createMemoryBackend();
  const node = membership(backend);
  await node.start();
  // A dead registration whose entries take 4 TTLs to remove (a big node, a slow backend).
  await backend.nodes.heartbeat('dead#1', 1);
  let release!: () => void;
  const reaping = new Promise<void>((resolve) => (release = resolve));
  let reaped = false;
  const removeNode = backend.presence.removeNode.bind(backend.presence);
  backend.presence.removeNode = async (id) => {
    if (id === 'dead#1') {
      reaped = true;
      await reaping;
    }
    return removeNode(id);
  };
  try {
    await waitUntil(() => reaped, 5000, 'the reap started');
    const registration = node.registrationId;
    const until = Date.now() + 2 * TTL_MS;
    for (let check = 0; check < 100 && Date.now() < until; check++) {
      assert.ok(!(await backend.nodes.deadNodes()).includes(registration), 'this node was listed dead while its beat was busy');
      await new Promise((resolve) => setTimeout(resolve, TTL_MS / 5));
    }
    assert.equal(node.registrationId, registration, 'no re-registration was needed');
  } finally {
    release();
    await node.stop();
  }
});

test('a registration claimed while a beat is busy is registered again by the next beat', async () => {
  const backend = createMemoryBackend();
  let reregistrations = 0;
  const node = membership(backend, () => reregistrations++);
  await node.start();
  await backend.nodes.heartbeat('dead#2', 1);
  let release!: () => void;
  const reaping = new Promise<void>((resolve) => (release = resolve));
  let reaped = false;
  const removeNode = backend.presence.removeNode.bind(backend.presence);
  backend.presence.removeNode = async (id) => {
    if (id === 'dead#2') {
      reaped = true;
      await reaping;
    }
    return removeNode(id);
  };
  try {
    await waitUntil(() => reaped, 5000, 'the reap started');
    const first = node.registrationId;
    // A peer claims this node's registration (as after a stall): expire it, and claim it.
    await backend.nodes.heartbeat(first, 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(await backend.nodes.claimDead(first), true);
    // The renewals beside the busy beat list it again; the beat must still register again once free.
    await new Promise((resolve) => setTimeout(resolve, 3 * INTERVAL_MS));
    release();
    await waitUntil(() => reregistrations === 1, 5000, 'registered again');
    assert.notEqual(node.registrationId, first);
  } finally {
    release();
    await node.stop();
  }
});

test('a reap that fails on a backend fault is taken up again, so the dead registration\'s entries do not stay for good', async () => {
  const backend = createMemoryBackend();
  const channel = 'app-1:presence-room';
  await backend.presence.join(channel, { connectionId: 'c1', nodeId: 'dead#3', userId: 'zed', userInfo: 'null' });
  await backend.nodes.heartbeat('dead#3', 1);
  let failures = 0;
  const removeNode = backend.presence.removeNode.bind(backend.presence);
  backend.presence.removeNode = async (id) => {
    if (id === 'dead#3' && failures === 0) {
      failures++;
      throw new Error('the backend is unavailable (held by the test)');
    }
    return removeNode(id);
  };
  const departed: string[] = [];
  const node = new NodeMembership({
    backend,
    nodeId: 'node-a',
    heartbeatIntervalMs: INTERVAL_MS,
    heartbeatTtlMs: TTL_MS,
    announceDepartures: async (left) => void departed.push(...left.map((each) => each.userId)),
    afterHeartbeat: async () => undefined,
    reregister: () => async () => undefined,
    logger: pino({ level: 'silent' }),
  });
  await node.start();
  try {
    await waitUntil(async () => (await backend.presence.userCount(channel)) === 0, 5000, 'the dead registration reaped again');
    assert.equal(failures, 1);
    assert.deepEqual(departed, ['zed']);
  } finally {
    await node.stop();
  }
});
