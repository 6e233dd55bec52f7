/**
 * The chaos figures as a Markdown table (printed, and written between the
 * `chaos-figures` markers of docs/reliability.md; nothing else in that file changes).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './cluster.ts';
import { SCENARIO_TITLES, type ChaosReport, type ScenarioFigures } from './run.ts';

const BEGIN = '<!-- chaos-figures:begin -->';
const END = '<!-- chaos-figures:end -->';

function ms(value: number | null): string {
  if (value === null) return 'not converged';
  if (!Number.isFinite(value)) return 'never';
  return `${Math.round(value)} ms`;
}

function row(figures: ScenarioFigures, ttlMs: number): string {
  const history = figures.historyMissing === null ? '—' : `${figures.historyMissing} of ${figures.historyChecked.toLocaleString('en-US')}`;
  const delivery = `${figures.undelivered} of ${figures.expected.toLocaleString('en-US')} (told ${figures.told}, dup ${figures.duplicates}, order ${figures.outOfOrder})`;
  const moved = figures.presenceExtendedMaxMs > 0 ? `, deadline moved ≤ ${ms(figures.presenceExtendedMaxMs)} by a later reap or re-registration` : '';
  const presence = `${figures.ghosts} · ${figures.missingMembers} (${figures.presenceChecks} checks, converged ≤ ${ms(figures.presenceConvergedMaxMs)} of ${ttlMs} ms${moved})`;
  const ready = figures.readyMaxMs === null ? '—' : ms(figures.readyMaxMs);
  return `| ${SCENARIO_TITLES[figures.scenario]} | ${figures.cycles} | ${figures.acked.toLocaleString('en-US')} | ${history} | ${delivery} | ${figures.wrongEpoch} | ${presence} | ${ready} |`;
}

/** The figures block (command line, date, table, acceptance line). */
export function renderReport(report: ChaosReport, command: string): string {
  const { options } = report;
  const lines = [
    `Command: \`${command}\` — ${options.cycles} cycle(s) per scenario, ${options.rate} publishes/s, heartbeat ${options.timings.heartbeatIntervalMs} ms / TTL ${options.timings.heartbeatTtlMs} ms, ${report.startedAt.toISOString().slice(0, 16)}Z, ${(report.durationMs / 1000).toFixed(0)} s; machine load average (1 min, ${cpus().length} cores) ${report.load.start.toFixed(1)} → ${report.load.end.toFixed(1)}.`,
    `Publishes: ${report.published.toLocaleString('en-US')} sent, ${report.acknowledged.toLocaleString('en-US')} acknowledged, ${report.failedPublishes.toLocaleString('en-US')} failed or timed out (during faults), ${report.skippedPublishes.toLocaleString('en-US')} not sent for the in-flight cap (64), ${report.noTargetPublishes.toLocaleString('en-US')} not sent while no node was up (the memory node restarting).`,
    '',
    '| scenario | cycles | acknowledged | missing from history (AOF) | undelivered to a connected subscriber | wrong-epoch serials | ghost · missing members one TTL after | `/ready` back after Redis |',
    '|---|---|---|---|---|---|---|---|',
    ...report.figures.map((figures) => row(figures, options.timings.heartbeatTtlMs)),
    ...withoutAckLines(report),
    '',
    'Acceptance: 0 missing from history with AOF; 0 undelivered (told, i.e. `recovery_failed`, is allowed; dup and order are counted in the undelivered total\'s spirit and must be 0 too); 0 wrong-epoch; 0 ghost and 0 missing members; `/ready` < 1000 ms.',
  ];
  return lines.join('\n');
}

/**
 * What the roaming bot without the ack extension missed: measured, not judged (a reply the
 * kernel accepted and the bot never read is lost on any Bayeux server).
 */
function withoutAckLines(report: ChaosReport): string[] {
  const measured = report.figures.filter((figures) => figures.withoutAck !== null);
  if (measured.length === 0) return [];
  const parts = measured.map((figures) => {
    const plain = figures.withoutAck!;
    return `${figures.scenario} ${plain.undelivered} undelivered of ${plain.expected.toLocaleString('en-US')} (dup ${plain.duplicates}, order ${plain.outOfOrder})`;
  });
  return ['', `Without the ack extension (a third faye bot roaming through its own round-robin balancer, home on the faulted node; measured, not judged): ${parts.join('; ')}.`];
}

/** Whether a scenario's figures meet the acceptance. */
export function failures(figures: ScenarioFigures): string[] {
  const problems: string[] = [];
  if (figures.historyMissing !== null && figures.historyMissing > 0) problems.push(`${figures.historyMissing} acknowledged publishes missing from history`);
  if (figures.undelivered > 0) problems.push(`${figures.undelivered} acknowledged publishes undelivered to a connected subscriber`);
  if (figures.duplicates > 0) problems.push(`${figures.duplicates} duplicate deliveries`);
  if (figures.outOfOrder > 0) problems.push(`${figures.outOfOrder} deliveries out of order`);
  if (figures.wrongEpoch > 0) problems.push(`${figures.wrongEpoch} serials served from a wrong epoch`);
  if (figures.ghosts > 0) problems.push(`${figures.ghosts} ghost presence members one TTL after a fault`);
  if (figures.missingMembers > 0) problems.push(`${figures.missingMembers} missing presence members one TTL after a fault`);
  if (figures.readyMaxMs !== null && !(figures.readyMaxMs < 1000)) problems.push(`/ready back after ${ms(figures.readyMaxMs)} (limit 1000 ms)`);
  if (figures.cycles === 0) problems.push('no cycle ran');
  return problems;
}

/** Replaces the block between the markers in docs/reliability.md (adds a Chaos section with them if absent). */
export function writeDocs(block: string, path = join(REPO_ROOT, 'docs/reliability.md')): void {
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  const framed = `${BEGIN}\n${block}\n${END}`;
  if (start >= 0 && end > start) writeFileSync(path, text.slice(0, start) + framed + text.slice(end + END.length));
  else writeFileSync(path, `${text.trimEnd()}\n\n## Chaos\n\n### Figures\n\n${framed}\n`);
}
