/**
 * Reading figures back out of a scenario's rows to state ratios against peers.
 */
import type { ScenarioResult } from '../lib/report.ts';

/** The numeric metric `name` of the row (target, phase); NaN when absent or failed. */
export function metric(result: ScenarioResult, target: string, phase: string, name: string): number {
  const row = result.rows.find((candidate) => candidate.target === target && candidate.phase === phase);
  const value = row?.metrics[name];
  return typeof value === 'number' ? value : Number.NaN;
}

/** a ÷ b rounded to 2 decimals, or null when either is missing. */
export function ratio(a: number, b: number): number | null {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? Math.round((a / b) * 100) / 100 : null;
}
