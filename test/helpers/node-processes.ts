/**
 * roomcast nodes as child processes running the sources (`node --import tsx
 * src/main.ts`), all started from one config file on one test Redis, for tests of node
 * faults: SIGSTOP/SIGCONT (a frozen process), SIGKILL and a restart with the same id.
 * Every process is stopped by its PID.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_APP } from './app.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';
import { signedCall } from './signed-request.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface ClusterFiles {
  /** The one config file every node is started from. */
  readonly configPath: string;
  remove(): void;
}

/** Writes a config file for nodes on `redisUrl`: one app (subscription count events on), short heartbeats, info logs. */
export function writeClusterConfig(redisUrl: string, node: { heartbeatIntervalMs: number; heartbeatTtlMs: number }, extra: Record<string, unknown> = {}): ClusterFiles {
  const dir = mkdtempSync(join(tmpdir(), 'rc-cluster-'));
  const configPath = join(dir, 'roomcast.json');
  const config = {
    server: { host: '127.0.0.1', port: 0 },
    log: { level: 'info' },
    backend: { driver: 'redis', redis: { url: redisUrl, keyPrefix: `t${Math.random().toString(36).slice(2, 8)}:`, commandTimeoutMs: 1000 } },
    node,
    apps: [{ ...TEST_APP, subscriptionCountEvents: true }],
    ...extra,
  };
  writeFileSync(configPath, JSON.stringify(config));
  return { configPath, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Starts a node from the sources; `nodeId` sets `node.id` (else the node draws its own). */
export function startNodeProcess(configPath: string, nodeId?: string): Promise<ServerProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, ROOMCAST_CONFIG: configPath, NODE_ENV: 'test' };
  delete env.REDIS_URL;
  if (nodeId !== undefined) env.ROOMCAST_NODE_ID = nodeId;
  return startServerProcess(['--import', 'tsx', 'src/main.ts'], { cwd: REPO, env, timeoutMs: 60_000 });
}

/** Kills a node at once (SIGKILL) and waits for its exit. */
export async function killNode(node: ServerProcess): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => node.child.once('close', () => resolve()));
  process.kill(node.pid, 'SIGKILL');
  await exited;
}

/** The user ids a node lists for a presence channel (`GET …/users`), sorted. */
export async function presenceUsers(url: string, channel: string): Promise<string[]> {
  const reply = await signedCall(url, 'GET', `/apps/${TEST_APP.id}/channels/${channel}/users`);
  if (reply.status !== 200) throw new Error(`users: ${reply.status} ${reply.text}`);
  return (reply.json.users as { id: string }[]).map((user) => user.id).sort();
}

/** A channel's `user_count` and `subscription_count` as a node reports them. */
export async function channelCounts(url: string, channel: string): Promise<{ users: number; subscriptions: number }> {
  const info = channel.startsWith('presence-') ? 'user_count,subscription_count' : 'subscription_count';
  const reply = await signedCall(url, 'GET', `/apps/${TEST_APP.id}/channels/${channel}`, { params: { info } });
  if (reply.status !== 200) throw new Error(`channel: ${reply.status} ${reply.text}`);
  return { users: Number(reply.json.user_count ?? 0), subscriptions: Number(reply.json.subscription_count ?? 0) };
}

/** Polls `check` every 50 ms until it returns true; false when `timeoutMs` passed first (a failed read counts as false). */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; round < 10_000; round++) {
    try {
      if (await check()) return true;
    } catch {
      // a node that does not answer yet: try again
    }
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}
