/**
 * Results of a benchmark run: rows (one per target and phase) printed as a table and
 * written as JSON to bench/results/<scenario>-<time>.json with the machine's description.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { CpuReport } from './cpu.ts';
import { REPO_ROOT } from './proc.ts';

export type Metric = number | string | boolean | null;

export interface Row {
  readonly target: string;
  readonly phase: string;
  readonly metrics: Record<string, Metric>;
  readonly cpu?: CpuReport;
  readonly error?: string;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly startedAt: string;
  readonly options: Record<string, Metric>;
  readonly rows: Row[];
  /** Ratios against peers and target checks, e.g. { 'fanout saturation vs raw corked': 0.83 }. */
  readonly comparisons: Record<string, Metric>;
  readonly notes: string[];
}

export function describeMachine(): Record<string, Metric> {
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

function format(value: Metric | undefined): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return '–';
    if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
    if (Number.isInteger(value)) return String(value);
    return value.toFixed(Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  }
  return String(value);
}

/** Prints rows as an aligned text table: target, phase, each metric, then CPU columns. */
export function printTable(result: ScenarioResult): void {
  const metricNames: string[] = [];
  const cpuNames: string[] = [];
  for (const row of result.rows) {
    for (const name of Object.keys(row.metrics)) if (!metricNames.includes(name)) metricNames.push(name);
    for (const name of Object.keys(row.cpu?.groups ?? {})) if (!cpuNames.includes(name)) cpuNames.push(name);
  }
  const header = ['target', 'phase', ...metricNames, ...cpuNames.map((name) => `cpu% ${name}`), 'cpu% other', 'limit', 'error'];
  const lines = result.rows.map((row) => [
    row.target,
    row.phase,
    ...metricNames.map((name) => format(row.metrics[name])),
    ...cpuNames.map((name) => format(row.cpu?.groups[name])),
    format(row.cpu?.otherPercent),
    row.cpu?.limit ?? '',
    row.error === undefined ? '' : row.error.split('\n')[0]?.slice(0, 120) ?? '',
  ]);
  const widths = header.map((title, index) => Math.max(title.length, ...lines.map((line) => (line[index] ?? '').length)));
  const render = (cells: string[]): string => cells.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join('  ').trimEnd();
  process.stdout.write(`\n== ${result.scenario} (${result.startedAt}) ==\n`);
  process.stdout.write(`${render(header)}\n${render(widths.map((width) => '-'.repeat(width)))}\n`);
  for (const line of lines) process.stdout.write(`${render(line)}\n`);
  if (Object.keys(result.comparisons).length > 0) {
    process.stdout.write('\n');
    for (const [name, value] of Object.entries(result.comparisons)) process.stdout.write(`  ${name}: ${format(value)}\n`);
  }
  for (const note of result.notes) process.stdout.write(`  note: ${note}\n`);
}

export function writeResult(result: ScenarioResult): string {
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${result.scenario}-${result.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ machine: describeMachine(), ...result }, null, 2)}\n`);
  return file;
}
