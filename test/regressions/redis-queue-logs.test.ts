/**
 * What a node on Redis writes to its log about its job queues (push and webhooks, BullMQ),
 * at debug level, as a real process against a real `redis-server` that requires an ACL
 * login:
 * - the Redis password never appears, whether the login is refused (WRONGPASS on every
 *   reconnection attempt) or accepted across a Redis restart: errors are logged without
 *   the arguments of the command that failed (ioredis puts AUTH's on its errors);
 * - a Redis outage is one warn when Redis goes and one when it is back (the backend's
 *   episode, counting the queue errors), not one per failed BullMQ call (those are debug
 *   lines); the webhook lane sweep and the node's heartbeat, which fail every 5 s
 *   meanwhile, warn at most once when they start failing and once when they work again
 *   (none when the episode counts their failures).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, waitReady, writeConfigFile, type ConfigFile, type ServerProcess } from '../helpers/server-process.ts';

const USER = 'user1';
const PASSWORD = 's3cretpw-4d1e';
const WRONG_PASSWORD = 'wr0ngpw-9b7c';

let redis: TestRedis;
let config: ConfigFile;
const nodes: ServerProcess[] = [];

before(async () => {
  // An ACL user besides a default user that needs a password nobody here knows.
  redis = await startRedis({ args: ['--requirepass', 'default-user-pw-unused', '--user', USER, 'on', `>${PASSWORD}`, '~*', '&*', '+@all'] });
  config = writeConfigFile({
    server: { host: '127.0.0.1', port: 0 },
    log: { level: 'debug' },
    // An endpoint makes the node run its webhook worker and lane sweep too (nothing is published: no delivery).
    apps: [{ id: 'app-1', key: 'app-key', secret: 'app-secret-for-logs', webhooks: [{ url: 'http://127.0.0.1:9/hook', event_types: ['message_created'] }] }],
    backend: { driver: 'redis', redis: { url: redis.url, keyPrefix: 'qlogs:', commandTimeoutMs: 500 } },
  });
});
after(async () => {
  for (const node of nodes) await node.kill();
  await redis.stop();
  config.remove();
});

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

function parsed(lines: readonly string[]): LogLine[] {
  return lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as LogLine];
    } catch {
      return [];
    }
  });
}

/** Resolves once `predicate` holds for the node's log lines; fails after `timeoutMs`. */
async function logShows(node: ServerProcess, predicate: (lines: LogLine[]) => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; round < 10_000; round++) {
    if (predicate(parsed(node.logs))) return;
    if (Date.now() > deadline) assert.fail(`${what} not seen within ${timeoutMs} ms:\n${node.logs.slice(-40).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Lines of the job queues: their messages name a job queue or worker, or they carry the queue's name. */
const aboutQueues = (line: LogLine): boolean => line.queue !== undefined || /job (queue|worker)|job queues/i.test(line.msg);
const queueErrors = (lines: LogLine[]): LogLine[] => lines.filter((line) => aboutQueues(line) && line.err !== undefined);

/** Warn lines about the job queues, by component (module, component, queue fields). */
function queueWarnsByComponent(lines: LogLine[]): Map<string, LogLine[]> {
  const groups = new Map<string, LogLine[]>();
  for (const line of lines) {
    if (line.level !== 40 || !aboutQueues(line)) continue;
    const key = `${String(line.module)}/${String(line.component)}`;
    groups.set(key, [...(groups.get(key) ?? []), line]);
  }
  return groups;
}

function assertNoPassword(node: ServerProcess, password: string): void {
  const leaks = node.logs.filter((line) => line.includes(password));
  assert.deepEqual(leaks.slice(0, 3), [], `${leaks.length} log lines carry the password`);
  assert.ok(!node.stderr.includes(password), `stderr carries the password:\n${node.stderr}`);
}

test('a refused Redis login: the password is in no log line at debug, and the queues warn once', async () => {
  const node = await startNodeProcess(config.configPath, { env: { REDIS_URL: `redis://${USER}:${WRONG_PASSWORD}@127.0.0.1:${redis.port}`, LOG_LEVEL: 'debug' } });
  nodes.push(node);
  // Every reconnection of every queue connection is refused: wait for a good number of them.
  await logShows(node, (lines) => queueErrors(lines).filter((line) => JSON.stringify(line).includes('WRONGPASS')).length >= 10, 30_000, '10 refused queue logins');
  const lines = parsed(node.logs);
  await node.stop();
  assertNoPassword(node, WRONG_PASSWORD);
  for (const [component, warns] of queueWarnsByComponent(lines)) {
    assert.ok(warns.length <= 1, `${component}: ${warns.length} warns about the queues while Redis refuses the login:\n${warns.map((w) => JSON.stringify(w)).join('\n')}`);
  }
});

test('Redis killed and restarted under a node: one warn when Redis goes, one when it is back (queue errors counted there); no password', async () => {
  const node = await startNodeProcess(config.configPath, { env: { REDIS_URL: `redis://${USER}:${PASSWORD}@127.0.0.1:${redis.port}`, LOG_LEVEL: 'debug' } });
  nodes.push(node);
  await waitReady(node.url, 30_000);
  const before = node.logs.length;
  await redis.kill();
  // BullMQ's calls fail while Redis is away (a few a second), and so does the lane sweep
  // (every 5 s): wait for a good number of both to be logged (about 10 s, as operators saw).
  const sweepFailures = (lines: LogLine[]): number => lines.filter((line) => /webhook sweep failed/.test(line.msg)).length;
  await logShows(node, (lines) => queueErrors(lines.slice(before)).length >= 30 && sweepFailures(lines.slice(before)) >= 3, 40_000, '30 queue errors and 3 failed sweeps during the outage');
  await redis.restart();
  await waitReady(node.url, 30_000);
  // The outage is the backend's episode: ONE warn when Redis goes, ONE when it is back,
  // with the queue errors counted (the queues' own pair is then debug lines).
  const redisBack = (line: LogLine): boolean => line.level === 40 && /^redis is back/.test(line.msg);
  await logShows(node, (lines) => lines.slice(before).some(redisBack), 30_000, 'the "redis is back" warn');
  const lines = parsed(node.logs.slice(before));
  await node.stop();
  assertNoPassword(node, PASSWORD);
  const groups = queueWarnsByComponent(lines);
  const back = lines.find(redisBack)!;
  assert.ok(Number(back.queueErrors) >= 1, `the queue errors are counted in the "back" warn: ${JSON.stringify(back)}`);
  assert.equal(lines.filter((line) => line.level === 40 && /^redis is (away|back)/.test(line.msg)).length, 2, 'one warn pair for the outage');
  for (const [component, warns] of groups) {
    const text = warns.map((w) => JSON.stringify(w)).join('\n');
    assert.ok(warns.length <= 2, `${component}: ${warns.length} warns about the queues for one outage:\n${text}`);
    assert.ok(warns.filter((w) => /back/.test(w.msg)).length <= 1, `${component}: more than one "back":\n${text}`);
  }
  const sweepWarns = lines.filter((line) => line.level === 40 && /webhook sweep/.test(line.msg));
  // The heartbeat (every 5 s) fails as often; one warn when it starts failing, one when it works again.
  const beatWarns = lines.filter((line) => line.level === 40 && /^heartbeat (failed|works again)/.test(line.msg));
  assert.ok(beatWarns.filter((w) => /failed/.test(w.msg)).length <= 1 && beatWarns.length <= 2, `${beatWarns.length} warns about the heartbeat:\n${beatWarns.map((w) => JSON.stringify(w)).join('\n')}`);
  assert.ok(sweepWarns.filter((w) => /failed/.test(w.msg)).length <= 1 && sweepWarns.length <= 2, `${sweepWarns.length} warns about the webhook sweep:\n${sweepWarns.map((w) => JSON.stringify(w)).join('\n')}`);
});
