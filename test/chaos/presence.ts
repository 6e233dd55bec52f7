/**
 * Presence and readiness checks after a fault.
 *
 * Presence: the truth is the set of pusher-js watchers that are live (connected and
 * subscribed to the presence channel). Every node's `GET …/channels/{presence channel}/users`
 * and one live watcher's member list per node are compared with it. A listed user that
 * was live neither just before nor just after the reading is a *ghost*; a user live both
 * before and after but not listed is *missing* (reading the truth on both sides keeps a
 * client that is mid-reconnect from counting either way). Polled from the fault's end to
 * one heartbeat TTL after it; the figures are those of the reading at that deadline.
 *
 * Readiness: after Redis answers again, how long until every node's `/ready` says 200.
 */
import Pusher from 'pusher';
import { TEST_APP } from '../helpers/app.ts';
import type { ChaosNode } from './cluster.ts';
import type { PusherJsWatcher } from './ws-watchers.ts';

export interface PresenceReading {
  ghosts: number;
  missing: number;
  /** Nodes that did not answer `/users` within 3 s (counted as missing lists too). */
  unanswered: number;
  readonly examples: string[];
}

const sdks = new Map<number, Pusher>();
function sdk(port: number): Pusher {
  let found = sdks.get(port);
  if (found === undefined) {
    found = new Pusher({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret, host: '127.0.0.1', port: String(port), useTLS: false, timeout: 3000 });
    sdks.set(port, found);
  }
  return found;
}

async function listedUsers(node: ChaosNode, channel: string): Promise<string[] | null> {
  try {
    const response = await sdk(node.port).get({ path: `/channels/${channel}/users` });
    const body = (await response.json()) as { users: { id: string }[] };
    return body.users.map((user) => user.id);
  } catch {
    return null;
  }
}

function liveUsers(watchers: readonly PusherJsWatcher[]): Set<string> {
  return new Set(watchers.filter((watcher) => watcher.live()).map((watcher) => watcher.userId));
}

/** One comparison of every node's lists with the live watchers. */
export async function readPresence(channel: string, nodes: readonly ChaosNode[], watchers: readonly PusherJsWatcher[]): Promise<PresenceReading> {
  const before = liveUsers(watchers);
  const sources: { name: string; ids: string[] | null }[] = await Promise.all(nodes.map(async (node) => ({ name: `/users on ${node.name}`, ids: await listedUsers(node, channel) })));
  for (const node of nodes) {
    const observer = watchers.find((watcher) => watcher.node === node.name && watcher.live());
    if (observer !== undefined) sources.push({ name: `members seen by ${observer.userId}`, ids: observer.members() });
  }
  const after = liveUsers(watchers);
  const reading: PresenceReading = { ghosts: 0, missing: 0, unanswered: 0, examples: [] };
  for (const source of sources) {
    if (source.ids === null) {
      reading.missing += 1;
      reading.unanswered += 1;
      reading.examples.push(`${source.name}: no answer`);
      continue;
    }
    const listed = new Set(source.ids);
    for (const id of listed) {
      if (before.has(id) || after.has(id)) continue;
      reading.ghosts += 1;
      if (reading.examples.length < 6) reading.examples.push(`${source.name}: ghost ${id}`);
    }
    for (const id of before) {
      if (!after.has(id) || listed.has(id)) continue;
      reading.missing += 1;
      if (reading.examples.length < 6) reading.examples.push(`${source.name}: missing ${id}`);
    }
  }
  return reading;
}

export interface PresenceCheck extends PresenceReading {
  /** When the lists last disagreed with the live sockets, in ms after the fault's end (0: never), or null if still at the deadline. */
  convergedMs: number | null;
  /** How far the deadline moved past one TTL after the fault's end (a reap or re-registration logged later; 0: none). */
  extendedMs: number;
}

/** How far past the fault's end a later membership change may move the deadline, in TTLs. */
const MAX_EXTENSION_TTLS = 4;

/**
 * Polls from `faultEnd` to one TTL after the last membership change the nodes logged
 * (`membershipEvents(since)`: reaps and re-registrations, see ChaosNode), or after
 * `faultEnd` when none came later; the figures are the reading at that deadline. The
 * guarantee is one TTL from when a node runs again: a node that a loaded machine lets
 * run only later (after SIGCONT, or starved past the TTL and reaped meanwhile) registers
 * again when it runs, and is judged one TTL after that. Bounded: the deadline moves at
 * most MAX_EXTENSION_TTLS TTLs past `faultEnd + ttlMs`.
 */
export async function checkPresenceAfter(
  channel: string,
  faultEnd: number,
  ttlMs: number,
  nodes: () => readonly ChaosNode[],
  watchers: () => readonly PusherJsWatcher[],
  membershipEvents: (since: number) => readonly number[] = () => [],
): Promise<PresenceCheck> {
  let anchor = faultEnd;
  const latestAnchor = faultEnd + MAX_EXTENSION_TTLS * ttlMs;
  let lastUnclean: number | null = null;
  for (let poll = 0; poll < 2000; poll++) {
    const at = Date.now();
    for (const time of membershipEvents(faultEnd)) if (time > anchor && time <= at) anchor = Math.min(time, latestAnchor);
    const final = at >= anchor + ttlMs;
    let reading = await readPresence(channel, nodes(), watchers());
    // The deadline's reading is the figure: a node too busy to answer in time is asked again (a few times).
    for (let retry = 0; final && reading.unanswered > 0 && retry < 3; retry++) reading = await readPresence(channel, nodes(), watchers());
    const clean = reading.ghosts === 0 && reading.missing === 0;
    if (!clean) lastUnclean = at;
    if (final) return { ...reading, convergedMs: clean ? (lastUnclean === null ? 0 : lastUnclean - faultEnd) : null, extendedMs: anchor - faultEnd };
    await new Promise((done) => setTimeout(done, Math.min(250, Math.max(0, anchor + ttlMs - Date.now()))));
  }
  throw new Error('presence check did not reach its deadline');
}

/** ms from `since` until every node's /ready answers 200 (polled every 25 ms, at most `limitMs`); null if one never did. */
export async function readyAfter(since: number, nodes: readonly ChaosNode[], limitMs = 15_000): Promise<number | null> {
  const times = await Promise.all(
    nodes.map(async (node) => {
      for (let poll = 0; poll < 2000 && Date.now() - since < limitMs; poll++) {
        try {
          const response = await fetch(`${node.url}/ready`, { signal: AbortSignal.timeout(2000) });
          await response.arrayBuffer();
          if (response.status === 200) return Date.now() - since;
        } catch {
          // not answering yet
        }
        await new Promise((done) => setTimeout(done, 25));
      }
      return null;
    }),
  );
  return times.some((time) => time === null) ? null : Math.max(0, ...(times as number[]));
}
