/**
 * `npm run simulate`: the deterministic simulation of the whole broker (test/support/sim). One seed decides
 * every interleaving, fault and crash of every run; a failure prints the one command that replays it, then is
 * shrunk to the fewest operations that still break the invariant, whose trace is printed with its command.
 *
 *   SIM_SEED      the simulation's seed (default: from the clock, printed)
 *   SIM_OPS       operations in all (default 1,000,000), in runs of SIM_RUN_OPS (default 500)
 *   SIM_WORKERS   processes running runs side by side (default: the machine's cores)
 *   SIM_RUN       replay run <n> of SIM_SEED alone (SIM_KEEP: only these of its operations; SIM_TRACE=1: print
 *                 its whole trace)
 *   SIM_SHRINK_MS how long shrinking may take (default 120000; 0: do not shrink)
 *
 * Exits 1 when an invariant broke, or when a crash point or a fault kind was never reached by a full run.
 */
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { INVARIANTS, type InvariantId } from '../support/invariants';
import { simulateRun } from '../support/sim/run';
import {
  DEFAULT_RUN_OPS,
  type Failure,
  parseRanges,
  type RunSummary,
  replayCommand,
  runSeed,
  shrink,
  summary,
} from '../support/sim/simulation';
import { SimStats } from '../support/sim/stats';

interface RunRequest {
  readonly index: number;
  readonly seed: number;
  readonly ops: number;
}

type WorkerMessage = { readonly index: number; readonly summary: RunSummary };

const env = process.env;

function integer(name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replaceAll('_', ''));
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`${name} must be a whole number, got ${raw}`);
  return value;
}

if (env.SIM_WORKER === '1') {
  // A worker: runs what it is sent, one at a time, and answers each with its summary.
  process.on('message', (request: RunRequest) => {
    void simulateRun({ seed: request.seed, ops: request.ops }).then((report) => {
      process.send?.({ index: request.index, summary: summary(report) } satisfies WorkerMessage);
    });
  });
} else {
  const code = await main();
  process.exit(code);
}

async function main(): Promise<number> {
  const seed = integer('SIM_SEED', Date.now() % 2_147_483_647);
  const runOps = integer('SIM_RUN_OPS', DEFAULT_RUN_OPS);
  const shrinkMs = integer('SIM_SHRINK_MS', 120_000);
  if (env.SIM_RUN !== undefined) return replay(seed, integer('SIM_RUN', 0), runOps, shrinkMs);

  const ops = integer('SIM_OPS', 1_000_000);
  const runs = Math.max(1, Math.ceil(ops / runOps));
  const workers = Math.max(1, Math.min(integer('SIM_WORKERS', availableParallelism()), runs));
  console.log(
    `simulating ${runs * runOps} operations: seed ${seed}, ${runs} runs of ${runOps}, ${workers} process(es)`,
  );
  const startedAt = Date.now();
  const results = await runAll(seed, runs, runOps, workers, startedAt);
  const wallMs = Date.now() - startedAt;
  const stats = new SimStats();
  const failures: Failure[] = [];
  for (const [index, result] of results.entries()) {
    stats.merge(result.stats);
    if (result.violations.length > 0) {
      failures.push({ index, seed: result.seed, weather: result.weather, violations: result.violations });
    }
  }
  console.log(`\ndeterministic simulation (seed ${seed}):\n${stats.table(wallMs)}`);
  const gaps = stats.coverageGaps();
  if (gaps.length > 0) {
    console.log(`\ncoverage: ${gaps.length} gap(s), the run fails:\n  ${gaps.join('\n  ')}`);
  } else {
    console.log('\ncoverage: every crash point and every fault kind was reached');
  }
  if (failures.length === 0) return gaps.length > 0 ? 1 : 0;
  console.log(`\n${failures.length} run(s) broke an invariant:`);
  for (const failure of failures) {
    console.log(`- run ${failure.index} (${failure.weather}): ${describe(failure.violations[0])}`);
    console.log(`  replay: ${replayCommand(seed, failure.index, runOps)}`);
  }
  const first = failures[0] as Failure;
  if (shrinkMs > 0) await shrinkAndPrint(seed, first.index, first.seed, runOps, first.violations, shrinkMs);
  return 1;
}

/** Hands the runs out to `workers` processes (or runs them here when one), in order of index. */
async function runAll(
  seed: number,
  runs: number,
  runOps: number,
  workers: number,
  startedAt: number,
): Promise<RunSummary[]> {
  const results: RunSummary[] = new Array(runs);
  let next = 0;
  let done = 0;
  let operations = 0;
  let lastReport = Date.now();
  const progress = (result: RunSummary) => {
    done++;
    operations += result.operations;
    if (Date.now() - lastReport >= 10_000 || done === runs) {
      lastReport = Date.now();
      const seconds = (Date.now() - startedAt) / 1000;
      console.log(
        `  ${done}/${runs} runs, ${operations} operations, ${Math.round(operations / seconds)} ops/s, ${seconds.toFixed(0)} s`,
      );
    }
  };
  if (workers === 1) {
    for (; next < runs; next++) {
      const result = summary(await simulateRun({ seed: runSeed(seed, next), ops: runOps }));
      results[next] = result;
      progress(result);
    }
    return results;
  }
  await Promise.all(
    Array.from(
      { length: workers },
      () =>
        new Promise<void>((resolve, reject) => {
          const child = fork(process.argv[1] as string, [], {
            execArgv: process.execArgv,
            env: { ...env, SIM_WORKER: '1' },
          });
          const give = () => {
            if (next >= runs) {
              child.kill();
              resolve();
              return;
            }
            const index = next++;
            child.send({ index, seed: runSeed(seed, index), ops: runOps } satisfies RunRequest);
          };
          child.on('message', (message: WorkerMessage) => {
            results[message.index] = message.summary;
            progress(message.summary);
            give();
          });
          child.on('exit', (code) => {
            if (code !== 0 && code !== null && next < runs) reject(new Error(`A worker exited with ${code}`));
          });
          child.on('error', reject);
          give();
        }),
    ),
  );
  return results;
}

/** SIM_RUN: one run, exactly as it ran in the simulation (only SIM_KEEP's operations, when given). */
async function replay(seed: number, index: number, runOps: number, shrinkMs: number): Promise<number> {
  const keep = env.SIM_KEEP === undefined ? undefined : parseRanges(env.SIM_KEEP);
  const report = await simulateRun({
    seed: runSeed(seed, index),
    ops: runOps,
    ...(keep ? { keep: new Set(keep) } : {}),
  });
  if (env.SIM_TRACE === '1') console.log(report.trace.join('\n'));
  console.log(
    `run ${index} of seed ${seed} (run seed ${report.seed}, ${report.weather}): ${report.operations} operations, trace sha256 ${report.traceHash}`,
  );
  if (report.violations.length === 0) {
    console.log('no invariant broke');
    return 0;
  }
  for (const violation of report.violations) console.log(describe(violation));
  if (!keep && shrinkMs > 0) {
    await shrinkAndPrint(seed, index, report.seed, runOps, report.violations, shrinkMs);
  } else if (env.SIM_TRACE !== '1') {
    console.log(`whole trace: SIM_TRACE=1 ${replayCommand(seed, index, runOps, keep)}`);
  }
  return 1;
}

async function shrinkAndPrint(
  seed: number,
  index: number,
  runSeedValue: number,
  runOps: number,
  violations: readonly { invariant: InvariantId; message: string }[],
  budgetMs: number,
): Promise<void> {
  const invariant = (violations[0] as { invariant: InvariantId }).invariant;
  console.log(
    `\nshrinking run ${index} (invariant ${invariant}) for up to ${Math.round(budgetMs / 1000)} s ...`,
  );
  const { keep, report } = await shrink(runSeedValue, runOps, invariant, budgetMs, (kept) => {
    console.log(`  still failing with ${kept} operation(s)`);
  });
  console.log(`\nminimal trace (${keep.length} operation(s)):\n${report.trace.join('\n')}`);
  for (const violation of report.violations) console.log(describe(violation));
  console.log(`\nreplay the minimal case: ${replayCommand(seed, index, runOps, keep)}`);
}

function describe(violation: { invariant: InvariantId; message: string } | undefined): string {
  if (!violation) return 'no violation';
  return `invariant ${violation.invariant} (${INVARIANTS[violation.invariant]}): ${violation.message}`;
}
