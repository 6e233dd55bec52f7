/**
 * `npm run bench -- report`: the latest result file of each scenario in bench/results as
 * Markdown tables (what docs/performance.md quotes), with CPU and comparisons.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { REPO_ROOT } from './proc.ts';
import type { Metric, ScenarioResult } from './report.ts';

function cell(value: Metric | undefined): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return '–';
    if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
    return Number.isInteger(value) ? String(value) : value.toFixed(Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  }
  return String(value).replace(/\|/g, '\\|');
}

export function latestResults(files: readonly string[] = []): (ScenarioResult & { machine: Record<string, Metric>; file: string })[] {
  const dir = join(REPO_ROOT, 'bench', 'results');
  if (files.length > 0) {
    return files.map((file) => ({ ...(JSON.parse(readFileSync(file, 'utf8')) as ScenarioResult & { machine: Record<string, Metric> }), file: basename(file) }));
  }
  const latest = new Map<string, string>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.json')).sort()) {
    const scenario = file.replace(/-\d{4}-\d{2}-\d{2}T.*$/, '');
    latest.set(scenario, file);
  }
  return [...latest.values()].map((file) => ({ ...(JSON.parse(readFileSync(join(dir, file), 'utf8')) as ScenarioResult & { machine: Record<string, Metric> }), file }));
}

/** "met" / "missed" for a comparison named like "… (target ≥ 0.8)" or "(target ≤ 5)". */
function targetVerdict(name: string, value: Metric): string {
  const match = /\(target ([≥≤]) ([\d.]+)\)/.exec(name);
  if (match === null || typeof value !== 'number') return '';
  const bound = Number(match[2]);
  return (match[1] === '≥' ? value >= bound : value <= bound) ? 'met' : 'missed';
}

/** Markdown of the given result files, or of the latest result of each scenario. */
export function markdownReport(files: readonly string[] = []): string {
  const out: string[] = ['| scenario | comparison | value | verdict |', '|---|---|---|---|'];
  const results = latestResults(files);
  for (const result of results) {
    for (const [name, value] of Object.entries(result.comparisons)) {
      if (name.includes('(target')) out.push(`| ${result.scenario} | ${name} | ${cell(value)} | ${targetVerdict(name, value)} |`);
    }
  }
  out.push('');
  for (const result of results) {
    out.push(`### ${result.scenario} (${result.startedAt}, bench/results/${result.file})`, '');
    const metricNames: string[] = [];
    const cpuNames: string[] = [];
    for (const row of result.rows) {
      for (const name of Object.keys(row.metrics)) if (!metricNames.includes(name)) metricNames.push(name);
      for (const name of Object.keys(row.cpu?.groups ?? {})) if (!cpuNames.includes(name)) cpuNames.push(name);
    }
    const hasCpu = cpuNames.length > 0;
    const header = ['target', 'phase', ...metricNames, ...cpuNames.map((name) => `CPU ${name} %`), ...(hasCpu ? ['CPU other %', 'limit'] : [])];
    out.push(`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`);
    for (const row of result.rows) {
      const cells = [
        row.target,
        row.phase,
        ...metricNames.map((name) => cell(row.metrics[name])),
        ...cpuNames.map((name) => cell(row.cpu?.groups[name])),
        ...(hasCpu ? [cell(row.cpu?.otherPercent), cell(row.cpu?.limit)] : []),
      ];
      out.push(`| ${cells.join(' | ')} |${row.error === undefined ? '' : ` error: ${cell(row.error.split('\n')[0]?.slice(0, 160))}`}`);
    }
    if (Object.keys(result.comparisons).length > 0) {
      out.push('');
      for (const [name, value] of Object.entries(result.comparisons)) out.push(`- ${name}: **${cell(value)}**`);
    }
    out.push('');
  }
  return out.join('\n');
}
