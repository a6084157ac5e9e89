import type { Violation } from '../invariants';
import { seedOf } from './random';
import { type RunReport, simulateRun } from './run';
import { SimStats } from './stats';

/** Operations per run unless SIM_RUN_OPS says otherwise: part of a replay's identity. */
export const DEFAULT_RUN_OPS = 500;

/** The seed of run `index` of a simulation seeded `seed`. */
export function runSeed(seed: number, index: number): number {
  return seedOf(seed, 'run', index);
}

/** A run that broke an invariant, with what replays it. */
export interface Failure {
  readonly index: number;
  readonly seed: number;
  readonly weather: string;
  readonly violations: readonly Violation[];
}

/** The command that replays run `index` exactly (only `keep` of its operations, when shrunk). */
export function replayCommand(seed: number, index: number, runOps: number, keep?: readonly number[]): string {
  const parts = [`SIM_SEED=${seed}`, `SIM_RUN=${index}`];
  if (runOps !== DEFAULT_RUN_OPS) parts.push(`SIM_RUN_OPS=${runOps}`);
  if (keep) parts.push(`SIM_KEEP=${ranges(keep)}`);
  return `${parts.join(' ')} npm run simulate`;
}

/** `0-3,7,9-10`: sorted indices as ranges. */
export function ranges(indices: readonly number[]): string {
  const sorted = [...indices].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i] as number;
    let end = start;
    while (sorted[i + 1] === end + 1) {
      end++;
      i++;
    }
    out.push(start === end ? String(start) : `${start}-${end}`);
  }
  return out.join(',') || 'none';
}

export function parseRanges(text: string): number[] {
  if (text === 'none') return [];
  return text.split(',').flatMap((part) => {
    const [from, to] = part.split('-').map(Number);
    if (from === undefined || !Number.isInteger(from) || (to !== undefined && !Number.isInteger(to))) {
      throw new Error(`SIM_KEEP: ${JSON.stringify(part)} is not an index or a range`);
    }
    return Array.from({ length: (to ?? from) - from + 1 }, (_, i) => from + i);
  });
}

/** What a run tells the one that ran it (its trace stays behind: a failure is replayed to see it). */
export type RunSummary = Omit<RunReport, 'trace'>;

export function summary(report: RunReport): RunSummary {
  const { trace: _trace, ...rest } = report;
  return rest;
}

/**
 * Runs `runs` seeded runs in this process (the vitest slice; the CLI spreads them over processes), adding up
 * their stats and keeping the failures.
 */
export async function simulateSlice(options: {
  readonly seed: number;
  readonly runs: number;
  readonly runOps: number;
  readonly from?: number;
}): Promise<{ stats: SimStats; failures: Failure[]; hashes: string[] }> {
  const stats = new SimStats();
  const failures: Failure[] = [];
  const hashes: string[] = [];
  const from = options.from ?? 0;
  for (let index = from; index < from + options.runs; index++) {
    const report = await simulateRun({ seed: runSeed(options.seed, index), ops: options.runOps });
    stats.merge(report.stats);
    hashes.push(report.traceHash);
    if (report.violations.length > 0) {
      failures.push({ index, seed: report.seed, weather: report.weather, violations: report.violations });
    }
  }
  return { stats, failures, hashes };
}

/**
 * Delta debugging over the run's operations: leaves out chunks (halves, then quarters, ... then single
 * operations) while the run still breaks the same invariant. Every operation keeps its own seeded stream, so
 * what is left behaves as it did. Stops at `budgetMs` with the smallest failing set found.
 */
export async function shrink(
  seed: number,
  runOps: number,
  invariant: number,
  budgetMs: number,
  onStep?: (kept: number) => void,
): Promise<{ keep: number[]; report: RunReport }> {
  const startedAt = Date.now();
  const fails = async (keep: readonly number[]): Promise<RunReport | undefined> => {
    const report = await simulateRun({ seed, ops: runOps, keep: new Set(keep) });
    return report.violations.some((v) => v.invariant === invariant) ? report : undefined;
  };
  let keep = Array.from({ length: runOps }, (_, i) => i);
  let report = await fails(keep);
  if (!report) throw new Error(`Run ${seed} no longer breaks invariant ${invariant}: nothing to shrink`);
  // What arrived after the violation was seen did not cause it: left out first.
  const arrived = report.arrivedAtFirstViolation;
  if (arrived !== undefined && arrived + 1 < keep.length) {
    const before = keep.slice(0, arrived + 1);
    const failed = before.length > 0 ? await fails(before) : undefined;
    if (failed) {
      keep = before;
      report = failed;
      onStep?.(keep.length);
    }
  }
  for (let chunk = Math.ceil(keep.length / 2); chunk >= 1; chunk = chunk === 1 ? 0 : Math.ceil(chunk / 2)) {
    for (let start = 0; start < keep.length && Date.now() - startedAt < budgetMs; ) {
      const candidate = [...keep.slice(0, start), ...keep.slice(start + chunk)];
      const failed = candidate.length > 0 ? await fails(candidate) : undefined;
      if (failed) {
        keep = candidate;
        report = failed;
        onStep?.(keep.length);
      } else {
        start += chunk;
      }
    }
    if (Date.now() - startedAt >= budgetMs) break;
  }
  return { keep, report };
}
