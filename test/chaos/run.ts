/**
 * The chaos run: real processes, real clients, faults by signal, figures per scenario.
 *
 * Redis group (one cluster, the scenarios run one after the other on it, each `cycles`
 * times): nodes a, b (random ids) and c (fixed id `chaos-c`) from one config file on one
 * redis-server with AOF. Load all along: the `pusher` SDK publishing `rate`/s round-robin
 * over the live nodes to a public channel, the presence channel and the room channel; on
 * every node two pusher-js watchers (public + presence, one user id each) and a protocol 2
 * client that resumes by `last_serial` after every fault; a faye bot on node a following
 * `/service/stream` of the room (node a is never faulted: it holds that bot's session); and
 * a second faye bot, speaking the ack extension, behind a non-sticky round-robin balancer
 * over every node, the faulted one included, whose handshake lands on the faulted node (its
 * home): when that node is frozen or killed, its requests reach the other nodes, which adopt
 * its client. A third faye bot, without the ack extension, roams the same way through a
 * balancer of its own: what it misses is measured and reported (`withoutAck`), not judged,
 * since a reply the kernel accepted and the bot never read is lost on any Bayeux server
 * (docs/bot-api.md).
 *
 * Memory group: one node on the memory backend under the same load, restarted; its
 * clients come back by `last_serial`.
 *
 * Every cycle: `settleMs` of steady load, the fault, then (in parallel) the resuming
 * clients resume and presence is read until one heartbeat TTL after the fault's end.
 * Everything started is stopped in `finally` (and by PID at exit, cluster.ts).
 */
import { loadavg } from 'node:os';
import { ChaosCluster, ROOM, type ChaosNode, type ChaosTimings } from './cluster.ts';
import { BotWatcher } from './bot-watcher.ts';
import { checkDelivery, checkEpochs, emptyDelivery, missingFromHistory, type DeliveryFigures, type ResumeOutcome } from './checks.ts';
import { checkPresenceAfter, readyAfter } from './presence.ts';
import { Publisher } from './publisher.ts';
import type { Track } from './tracks.ts';
import { PusherJsWatcher, ResumeWatcher } from './ws-watchers.ts';
import { startRoundRobinProxy, type RoundRobinProxy } from '../helpers/round-robin-proxy.ts';

/** In run order (the AOF scenario first: its history check needs nothing lost before it). */
export const SCENARIOS = ['redis-aof', 'redis-wipe', 'node-stop', 'node-kill', 'node-fixed-id', 'memory-restart'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const SCENARIO_TITLES: Record<ScenarioName, string> = {
  'redis-aof': 'Redis SIGKILL + restart, AOF on',
  'redis-wipe': 'Redis SIGKILL + restart, data lost (no AOF)',
  'node-kill': 'node SIGKILL + restart (random id)',
  'node-stop': 'node SIGSTOP past the heartbeat TTL, SIGCONT',
  'node-fixed-id': 'node SIGKILL + restart at once, fixed node.id',
  'memory-restart': 'memory backend restart, clients recover by last_serial',
};

/**
 * Each scenario has channels of its own and fresh clients on them, so what one scenario
 * broke (a presence list that never recovers, say) is not counted again in the next.
 */
export function channelsOf(scenario: ScenarioName): { pub: string; presence: string } {
  return { pub: `chaos-pub-${scenario}`, presence: `presence-chaos-${scenario}` };
}

export interface ChaosOptions {
  readonly cycles: number;
  readonly scenarios: readonly ScenarioName[];
  readonly timings: ChaosTimings;
  /** Publishes per second. */
  readonly rate: number;
  /** Steady load before each fault (ms). */
  readonly settleMs: number;
  /** How long after its acknowledgement a publish may still be on its way (ms). */
  readonly graceMs: number;
  /**
   * Redis nodes: 3 (a: never faulted, holds the bot; b: killed and frozen, random id; c:
   * fixed id, restarted) or 2 (a: killed and frozen, random id; c: fixed id, restarted,
   * holds the bot — one process start fewer). Default 3.
   */
  readonly nodes?: 2 | 3;
  /**
   * How long Redis stays down in the Redis scenarios before it is started again (ms).
   * Default 0: at once. Past the heartbeat TTL, every registration has expired when Redis
   * is back, so nodes reap each other while they register again: what a loaded machine,
   * whose Redis restart alone takes seconds, does at random.
   */
  readonly redisDownMs?: number;
  /** Run the memory group beside the Redis group instead of after it (a shorter run, a busier machine). */
  readonly parallelGroups?: boolean;
  /**
   * No cycle starts unless it should end before this time (ms since the epoch), judged by
   * the slowest node start seen so far: scenarios not reached keep 0 cycles.
   */
  readonly deadline?: number;
  readonly log: (line: string) => void;
}

export interface ScenarioFigures {
  readonly scenario: ScenarioName;
  cycles: number;
  acked: number;
  /** Acknowledged publishes missing from history (AOF scenario only; null elsewhere). */
  historyMissing: number | null;
  historyChecked: number;
  expected: number;
  undelivered: number;
  told: number;
  duplicates: number;
  outOfOrder: number;
  wrongEpoch: number;
  ghosts: number;
  missingMembers: number;
  presenceChecks: number;
  /** Slowest presence convergence after a fault's end (ms); null when some check had not converged at its deadline. */
  presenceConvergedMaxMs: number | null;
  /** Largest move of a presence deadline past one TTL after the fault's end (a reap or re-registration logged later), ms. */
  presenceExtendedMaxMs: number;
  /** Slowest `/ready` back after Redis answered (ms); null: not a Redis scenario, Infinity: a node never came back. */
  readyMaxMs: number | null;
  /** The roaming bot without the ack extension (measured, not judged); null where it did not run. */
  withoutAck: DeliveryFigures | null;
  readonly examples: string[];
}

export interface ChaosReport {
  readonly startedAt: Date;
  durationMs: number;
  readonly options: Omit<ChaosOptions, 'log'>;
  readonly figures: ScenarioFigures[];
  published: number;
  acknowledged: number;
  failedPublishes: number;
  skippedPublishes: number;
  /** Publishes not sent because no node of the group was up. */
  noTargetPublishes: number;
  /** The machine's 1-minute load average at the start and the end (2 cores: above 2, processes wait for a core). */
  readonly load: { start: number; end: number };
}

function blankFigures(scenario: ScenarioName): ScenarioFigures {
  return {
    scenario,
    cycles: 0,
    acked: 0,
    historyMissing: null,
    historyChecked: 0,
    expected: 0,
    undelivered: 0,
    told: 0,
    duplicates: 0,
    outOfOrder: 0,
    wrongEpoch: 0,
    ghosts: 0,
    missingMembers: 0,
    presenceChecks: 0,
    presenceConvergedMaxMs: 0,
    presenceExtendedMaxMs: 0,
    readyMaxMs: null,
    withoutAck: null,
    examples: [],
  };
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** A time of day for the log (UTC, milliseconds). */
const clock = (at: number): string => new Date(at).toISOString().slice(11, 23);

/** The clients of one group, and what they recorded. */
class Audience {
  readonly pusherJs: PusherJsWatcher[] = [];
  readonly resumers: ResumeWatcher[] = [];
  readonly bots: BotWatcher[] = [];
  /** Tracks of clients that have left, kept for the checks. */
  private readonly retired: Track[] = [];
  readonly resumes: ResumeOutcome[] = [];
  private users = 0;

  private channels = { pub: '', presence: '' };

  constructor(private readonly log: (line: string) => void) {}

  /** Retires every pusher-js and resuming client, and opens new ones on every node on `channels`. */
  async enter(nodes: readonly ChaosNode[], channels: { pub: string; presence: string }): Promise<void> {
    for (const node of nodes) this.dropPusherJs(node);
    for (const watcher of this.resumers) {
      watcher.close();
      this.retired.push(watcher.track);
    }
    this.resumers.length = 0;
    this.channels = channels;
    await Promise.all(nodes.flatMap((node) => [this.addPusherJs(node, 2), this.addResumer(node)]));
  }

  /** Opens `count` pusher-js clients on `node` (a client that cannot connect is logged and left out). */
  async addPusherJs(node: ChaosNode, count: number): Promise<void> {
    const ids = Array.from({ length: count }, () => `u${(this.users += 1)}-${node.name}${node.incarnations}`);
    await Promise.all(
      ids.map(async (id) => {
        try {
          this.pusherJs.push(await PusherJsWatcher.open(node.name, node.port, id, [this.channels.pub, this.channels.presence]));
        } catch (error) {
          this.log(`pusher-js client ${id} on ${node.name} left out: ${(error as Error).message}`);
        }
      }),
    );
  }

  get presenceChannel(): string {
    return this.channels.presence;
  }

  /** The node died: its pusher-js clients leave for good (replacements get new user ids). */
  dropPusherJs(node: ChaosNode): void {
    for (const watcher of this.pusherJs.filter((each) => each.node === node.name)) {
      watcher.disconnect();
      this.retired.push(...watcher.tracks);
      this.pusherJs.splice(this.pusherJs.indexOf(watcher), 1);
    }
  }

  async addResumer(node: ChaosNode): Promise<void> {
    const watcher = new ResumeWatcher(node.name, node.port, this.channels.pub);
    try {
      await watcher.start();
      this.resumers.push(watcher);
    } catch (error) {
      watcher.close();
      this.log(`resuming client on ${node.name} left out: ${(error as Error).message}`);
    }
  }

  async resumeAll(era: number, phase: string): Promise<void> {
    await Promise.all(
      this.resumers.map(async (watcher) => {
        await watcher.resume();
        this.resumes.push({ record: watcher.resumes[watcher.resumes.length - 1]!, era, phase });
      }),
    );
  }

  tracks(): Track[] {
    return [...this.retired, ...this.pusherJs.flatMap((watcher) => watcher.tracks), ...this.resumers.map((watcher) => watcher.track), ...this.bots.map((bot) => bot.track)];
  }

  close(): void {
    for (const watcher of this.pusherJs) watcher.disconnect();
    for (const watcher of this.resumers) watcher.close();
    for (const bot of this.bots) bot.close();
  }
}

/** Runs the chosen scenarios and returns the figures. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const report: ChaosReport = {
    startedAt: new Date(),
    durationMs: 0,
    options: { cycles: options.cycles, scenarios: options.scenarios, timings: options.timings, rate: options.rate, settleMs: options.settleMs, graceMs: options.graceMs },
    figures: options.scenarios.map(blankFigures),
    published: 0,
    acknowledged: 0,
    failedPublishes: 0,
    skippedPublishes: 0,
    noTargetPublishes: 0,
    load: { start: loadavg()[0]!, end: 0 },
  };
  const started = Date.now();
  const redisScenarios = options.scenarios.filter((scenario) => scenario !== 'memory-restart');
  const redisGroup = (): Promise<void> => (redisScenarios.length > 0 ? runGroup(options, report, redisScenarios, 'redis') : Promise.resolve());
  const memoryGroup = (): Promise<void> => (options.scenarios.includes('memory-restart') ? runGroup(options, report, ['memory-restart'], 'memory') : Promise.resolve());
  if (options.parallelGroups === true) {
    const results = await Promise.allSettled([redisGroup(), memoryGroup()]);
    for (const result of results) if (result.status === 'rejected') throw result.reason;
  } else {
    await redisGroup();
    await memoryGroup();
  }
  report.durationMs = Date.now() - started;
  report.load.end = loadavg()[0]!;
  return report;
}

async function runGroup(options: ChaosOptions, report: ChaosReport, scenarios: readonly ScenarioName[], backend: 'redis' | 'memory'): Promise<void> {
  const { log, timings } = options;
  const figuresOf = (scenario: ScenarioName): ScenarioFigures => report.figures.find((each) => each.scenario === scenario)!;
  const nodeNames = backend === 'memory' ? ['m'] : options.nodes === 2 ? ['a', 'c'] : ['a', 'b', 'c'];
  const roles = { victim: nodeNames.includes('b') ? 'b' : 'a', botHome: nodeNames.includes('b') ? 'a' : 'c' };
  log(`${backend}: starting ${nodeNames.length} node(s) from one config file`);
  const groupStart = Date.now();
  const cluster = await ChaosCluster.start({ ...timings, nodes: nodeNames, fixedIds: { c: 'chaos-c' }, backend });
  log(`${backend}: nodes up in ${Date.now() - groupStart} ms`);
  let channels = channelsOf(scenarios[0]!);
  const audience = new Audience(log);
  let phase: string = scenarios[0]!;
  let era = 0;
  let balancer: RoundRobinProxy | null = null;
  let plainBalancer: RoundRobinProxy | null = null;
  let plainRoaming: BotWatcher | null = null;
  /** The roaming bots, each with the balancer it speaks through. */
  const roamers: { bot: BotWatcher; balancer: RoundRobinProxy }[] = [];
  const publisher = new Publisher({
    channels: () => (backend === 'redis' ? [channels.pub, channels.presence, ROOM.channel] : [channels.pub, channels.presence]),
    rate: options.rate,
    maxInFlight: 64,
    timeoutMs: 3000,
    targets: () => cluster.up().map((node) => ({ name: node.name, port: node.port })),
    phase: () => ({ phase, era }),
  });
  try {
    await audience.enter(cluster.up(), channels);
    if (backend === 'redis') {
      const bot = new BotWatcher(roles.botHome, cluster.node(roles.botHome).url, 6000);
      await bot.start();
      audience.bots.push(bot);
      // Round robin from the first backend: the login lands there and the handshake on the next, the victim.
      const rotation = [roles.botHome, roles.victim, ...nodeNames.filter((name) => name !== roles.botHome && name !== roles.victim)];
      balancer = await startRoundRobinProxy(rotation.map((name) => cluster.node(name).url));
      // Without the ack extension a reply lost with the node writing it is lost (as on any Bayeux server); with it, nothing is.
      const roaming = new BotWatcher('balancer', balancer.url, 6000, true);
      await roaming.start();
      audience.bots.push(roaming);
      roamers.push({ bot: roaming, balancer });
      // The same, without the ack extension, through a balancer of its own (so its handshake lands on the victim too).
      plainBalancer = await startRoundRobinProxy(rotation.map((name) => cluster.node(name).url));
      plainRoaming = new BotWatcher('balancer', plainBalancer.url, 6000);
      await plainRoaming.start();
      roamers.push({ bot: plainRoaming, balancer: plainBalancer });
    }
    publisher.start();

    for (const scenario of scenarios) {
      if (phase !== scenario) {
        channels = channelsOf(scenario);
        phase = scenario;
        await audience.enter(cluster.up(), channels);
      }
      const figures = figuresOf(scenario);
      for (let cycle = 1; cycle <= options.cycles; cycle++) {
        if (options.deadline !== undefined && Date.now() + cycleCost(scenario, cluster, options) > options.deadline) {
          log(`${scenario}: time budget spent, cycle ${cycle} not started`);
          break;
        }
        if (scenario === 'node-stop' || scenario === 'node-kill') {
          // An earlier fault moved the roaming bots' homes away from the victim: a new client each puts them back (index 1 of the rotation).
          const isHandshake = (body: string): boolean => body.includes('/meta/handshake');
          const rehomed = await Promise.all(roamers.map(({ bot, balancer }) => bot.rehome(() => balancer.routeNext(isHandshake, 1))));
          if (rehomed.includes(false)) log(`${scenario} cycle ${cycle}: a roaming bot was not polling, left on its home for this cycle`);
        }
        await sleep(options.settleMs);
        const faultStart = Date.now();
        const outcome = await fault(scenario, cluster, audience, roles.victim, () => (era += 1), options.redisDownMs ?? 0);
        log(`${scenario} cycle ${cycle}: fault over in ${outcome.faultEnd - faultStart} ms (${clock(faultStart)}–${clock(outcome.faultEnd)})`);
        const [presence] = await Promise.all([
          checkPresenceAfter(
            audience.presenceChannel,
            outcome.faultEnd,
            timings.heartbeatTtlMs,
            () => cluster.up(),
            () => audience.pusherJs,
            (since) => cluster.nodes.flatMap((node) => node.membershipEventsSince(since)),
          ),
          audience.resumeAll(era, scenario),
        ]);
        figures.cycles += 1;
        figures.presenceChecks += 1;
        figures.ghosts += presence.ghosts;
        figures.missingMembers += presence.missing;
        if (presence.convergedMs === null || figures.presenceConvergedMaxMs === null) figures.presenceConvergedMaxMs = null;
        else figures.presenceConvergedMaxMs = Math.max(figures.presenceConvergedMaxMs, presence.convergedMs);
        if (outcome.readyMs !== undefined) figures.readyMaxMs = Math.max(figures.readyMaxMs ?? 0, outcome.readyMs ?? Number.POSITIVE_INFINITY);
        if (presence.examples.length > 0 && figures.examples.length < 12) figures.examples.push(...presence.examples.slice(0, 3).map((line) => `cycle ${cycle} presence: ${line}`));
        for (const example of presence.examples.slice(0, 3)) log(`  ${example}`);
        if (presence.ghosts + presence.missing > 0) {
          // What the nodes said about membership meanwhile (reaps, re-registrations, failed heartbeats).
          for (const node of cluster.nodes) {
            for (const line of node.warnings().slice(-6)) log(`  ${node.name}: ${line.slice(0, 300)}`);
          }
        }
        figures.presenceExtendedMaxMs = Math.max(figures.presenceExtendedMaxMs, presence.extendedMs);
        log(`${scenario} cycle ${cycle}/${options.cycles}: ready ${outcome.readyMs === undefined ? '-' : `${outcome.readyMs} ms`}, presence ghosts ${presence.ghosts} missing ${presence.missing} (converged ${presence.convergedMs ?? 'no'}, deadline +${presence.extendedMs} ms), publishes acked ${publisher.acks.length}, failed ${publisher.failed}, skipped ${publisher.skipped}`);
      }
      if (scenario === 'redis-aof') {
        // Before any data-losing scenario: everything acknowledged so far must be in history.
        const upTo = Date.now();
        const acks = publisher.acks.filter((ack) => ack.era === 0 && ack.ackAt <= upTo);
        const history = await missingFromHistory(cluster.up()[0]!.port, acks);
        figures.historyMissing = history.missing;
        figures.historyChecked = history.checked;
        figures.examples.push(...history.examples.map((line) => `history: ${line}`));
        log(`redis-aof: ${history.missing} of ${history.checked} acknowledged publishes missing from history`);
      }
    }
    phase = 'drain';
    await publisher.stop();
    await drain(audience, publisher, options.graceMs);
  } finally {
    await publisher.stop();
    publisher.close();
    audience.close();
    plainRoaming?.close();
    await balancer?.close();
    await plainBalancer?.close();
    await cluster.close();
  }

  const delivery = checkDelivery(audience.tracks(), publisher.acks, options.graceMs);
  const withoutAck = plainRoaming === null ? null : checkDelivery([plainRoaming.track], publisher.acks, options.graceMs);
  const epochs = checkEpochs(audience.tracks(), publisher.acks, audience.resumes);
  for (const scenario of scenarios) {
    const figures = figuresOf(scenario);
    const phaseDelivery = delivery.get(scenario) ?? emptyDelivery();
    figures.acked = publisher.acks.filter((ack) => ack.phase === scenario).length;
    figures.expected = phaseDelivery.expected;
    figures.undelivered = phaseDelivery.undelivered;
    figures.told = phaseDelivery.told;
    figures.duplicates = phaseDelivery.duplicates;
    figures.outOfOrder = phaseDelivery.outOfOrder;
    figures.examples.push(...phaseDelivery.examples);
    const wrong = epochs.get(scenario);
    figures.wrongEpoch = wrong?.wrongEpoch ?? 0;
    figures.examples.push(...(wrong?.examples ?? []).map((line) => `wrong epoch: ${line}`));
    if (withoutAck !== null) {
      figures.withoutAck = withoutAck.get(scenario) ?? emptyDelivery();
      for (const example of figures.withoutAck.examples) log(`${scenario} without ack: ${example}`);
    }
  }
  // What the drain phase saw counts against the last scenario of the group.
  const first = figuresOf(scenarios[scenarios.length - 1]!);
  for (const extra of ['drain']) {
    const d = delivery.get(extra);
    if (d !== undefined) {
      first.undelivered += d.undelivered;
      first.duplicates += d.duplicates;
      first.outOfOrder += d.outOfOrder;
      first.examples.push(...d.examples.map((line) => `(${extra}) ${line}`));
    }
    first.wrongEpoch += epochs.get(extra)?.wrongEpoch ?? 0;
    const plain = withoutAck?.get(extra);
    if (plain !== undefined && first.withoutAck !== null) {
      first.withoutAck.expected += plain.expected;
      first.withoutAck.undelivered += plain.undelivered;
      first.withoutAck.duplicates += plain.duplicates;
      first.withoutAck.outOfOrder += plain.outOfOrder;
    }
  }
  report.published += publisher.sentCount;
  report.acknowledged += publisher.acks.length;
  report.failedPublishes += publisher.failed;
  report.skippedPublishes += publisher.skipped;
  report.noTargetPublishes += publisher.noTarget;
}

/** A generous guess of how long one cycle of `scenario` takes on this machine (ms). */
function cycleCost(scenario: ScenarioName, cluster: ChaosCluster, options: ChaosOptions): number {
  const { heartbeatTtlMs, heartbeatIntervalMs } = options.timings;
  const base = options.settleMs + heartbeatTtlMs + 3000;
  const restart = 1.5 * Math.max(...cluster.nodes.map((node) => node.slowestStartMs));
  switch (scenario) {
    case 'redis-aof':
    case 'redis-wipe':
      return base + 4000 + (options.redisDownMs ?? 0);
    case 'node-stop':
      return base + heartbeatTtlMs + 2 * heartbeatIntervalMs;
    default:
      return base + restart;
  }
}

/** Waits (at most 3 × grace) until every expected publish has arrived somewhere it was expected. */
async function drain(audience: Audience, publisher: Publisher, graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs * 3;
  await sleep(Math.min(500, graceMs));
  while (Date.now() < deadline) {
    const delivery = checkDelivery(audience.tracks(), publisher.acks, graceMs);
    if ([...delivery.values()].every((figures) => figures.undelivered === 0)) return;
    await sleep(250);
  }
}

interface FaultOutcome {
  readonly faultEnd: number;
  /** ms until every node was ready again after Redis came back (undefined: not a Redis fault; null: never). */
  readonly readyMs?: number | null;
}

async function fault(scenario: ScenarioName, cluster: ChaosCluster, audience: Audience, victim: string, loseData: () => void, redisDownMs: number): Promise<FaultOutcome> {
  switch (scenario) {
    case 'redis-aof':
    case 'redis-wipe': {
      const keep = scenario === 'redis-aof';
      if (!keep) loseData();
      await cluster.restartRedis(keep, redisDownMs);
      const back = Date.now();
      const readyMs = await readyAfter(back, cluster.up());
      return { faultEnd: back, readyMs };
    }
    case 'node-kill':
    case 'node-fixed-id':
    case 'memory-restart': {
      const node = cluster.node(scenario === 'node-kill' ? victim : scenario === 'node-fixed-id' ? 'c' : 'm');
      // Killed first: clients that closed their sockets before would be a clean leave, not a fault.
      await node.kill();
      audience.dropPusherJs(node);
      if (scenario === 'memory-restart') loseData();
      await node.start();
      const faultEnd = Date.now();
      await audience.addPusherJs(node, 2);
      return { faultEnd };
    }
    case 'node-stop': {
      const node = cluster.node(victim);
      node.freeze();
      await sleep(cluster.timings.heartbeatTtlMs + 2 * cluster.timings.heartbeatIntervalMs);
      node.thaw();
      return { faultEnd: Date.now() };
    }
  }
}
