/**
 * `npm run bench`: every benchmark of issue 7, and the cost of a proof (issue 12), in one process tree on the
 * local stack (DynamoDB Local and the EKS emulator with injected latency behind the local edge; the handlers
 * run in process as in `npm start`).
 * Prints one table and writes it as JSON to test/bench/results/<timestamp>.json and latest.json. The numbers
 * that carry a bar are counts and ratios measured in the same run, so they do not depend on the machine.
 *
 *   npm run bench                      # everything, in about 7 minutes
 *   npm run bench -- --only 1,2        # some benchmarks (numbers as in issues 7 and 12)
 *   BENCH_EKS_RATE=20 npm run bench    # the EKS rate limit R of benchmarks 3 and 4 (default 40 calls/s;
 *                                      # 20 makes benchmark 3 take about 5 minutes instead of 2.5)
 *
 * Needs Java 17+ (DynamoDB Local) and, for benchmark 4, the aws CLI on PATH (skipped without it).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runtime } from '../../functions/runtime';
import { startLocalBroker } from '../../infra/local/broker';
import { countRequests } from '../support/request-counter';
import { callsPerOperation } from './calls-per-operation';
import { coldStart } from './cold-start';
import { driftBudget } from './drift-budget';
import { driftEventRepair } from './drift-event';
import { grantLatency } from './grant-latency';
import { manualProcedure } from './manual-cli';
import { proofCost } from './proof-cost';
import { revocationLag } from './revocation-lag';
import { type BenchContext, INTAKE, type Row, round } from './support';
import { sweepScaling } from './sweep-scaling';
import { throughput } from './throughput';

const RESULTS_DIR = 'test/bench/results';
const USAGE = `Usage: npm run bench [-- --only 1,8]

Runs the benchmarks against the local stack and prints one table (results in ${RESULTS_DIR}/):
  1 calls per operation      4 against the manual procedure   7 cold start
  2 grant latency overhead   5 sweep scaling                  8 cost of a proof
  3 throughput at the EKS rate limit (BENCH_EKS_RATE, default 40 calls/s)
  6 revocation lag           9 drift repaired from CloudTrail events
  10 periodic drift check: every live lease within 10% of R`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { only: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const only = values.only ? new Set(values.only.split(',').map((n) => n.trim())) : undefined;
  const wanted = (n: number) => !only || only.has(String(n));
  const started = Date.now();
  const log = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);

  log('starting the local stack (DynamoDB Local, EKS emulator, local edge)');
  const local = await startLocalBroker({
    port: 0,
    // The sweeper and the drift check are run by the benchmarks that need them, never in the background.
    sweepIntervalMs: 0,
    intake: INTAKE,
    eks: { maxEntriesPerCluster: 20_000 },
  });
  // The functions talk to DynamoDB Local itself, as they talk to DynamoDB in AWS, rather than through the
  // edge's proxy, whose extra hop runs in this process and is not the broker's (AWS_ENDPOINT_URL_DYNAMODB is
  // the SDK's standard per-service endpoint). EKS, EventBridge and SQS stay on the edge.
  if (local.edge.dynamodb) process.env.AWS_ENDPOINT_URL_DYNAMODB = local.edge.dynamodb.endpoint;
  const rows: Row[] = [];
  const { deps, store, dynamodb } = runtime();
  const ctx: BenchContext = {
    local,
    deps,
    store,
    dynamoDb: countRequests(dynamodb),
    runId: started.toString(36),
    rows,
    log,
  };
  const timings: Record<string, number> = {};
  const step = async (n: number, name: string, run: () => Promise<unknown>) => {
    if (!wanted(n)) return;
    log(`${n}. ${name}`);
    const t0 = Date.now();
    await run();
    timings[`${n}. ${name}`] = round((Date.now() - t0) / 1000, 1);
  };
  try {
    await step(1, 'calls per operation', () => callsPerOperation(ctx));
    await step(2, 'grant latency overhead', () => grantLatency(ctx));
    // 8 before 3 as well, for the same reason: its latency ratio wants an EKS client at full speed.
    await step(8, 'cost of a proof', () => proofCost(ctx));
    // 5 and 6 before 3: the throttling of 3 leaves the EKS client's pacer slowed down for a while.
    await step(5, 'sweep scaling', () => sweepScaling(ctx));
    await step(6, 'revocation lag', () => revocationLag(ctx));
    await step(9, 'drift repaired from CloudTrail events', () => driftEventRepair(ctx));
    // Before 3 as well: its grant latencies want an EKS client whose pacer has not been slowed down.
    await step(10, 'periodic drift check within its budget', () => driftBudget(ctx));
    let brokerGrantsPerSecond: number | undefined;
    await step(3, 'throughput at the EKS rate limit', async () => {
      brokerGrantsPerSecond = (await throughput(ctx)).grantsPerSecond;
    });
    await step(4, 'against the manual procedure', () => manualProcedure(ctx, brokerGrantsPerSecond));
    await step(7, 'cold start', () => coldStart(ctx));
  } finally {
    await local.close();
  }

  const totalSeconds = round((Date.now() - started) / 1000, 1);
  // In the order, whatever order they ran in (the sort is stable).
  rows.sort((a, b) => Number.parseInt(a.bench, 10) - Number.parseInt(b.bench, 10));
  const failed = rows.filter((r) => r.pass === false);
  printTable(rows);
  console.log(`\nTotal ${totalSeconds} s; per benchmark: ${JSON.stringify(timings)}`);
  console.log(failed.length === 0 ? 'Every bar holds.' : `${failed.length} bar(s) NOT met.`);

  mkdirSync(RESULTS_DIR, { recursive: true });
  const result = {
    startedAt: new Date(started).toISOString(),
    totalSeconds,
    timings,
    machine: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model },
    barsMet: failed.length === 0,
    rows,
  };
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(RESULTS_DIR, `${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  log(`results written to ${RESULTS_DIR}/${stamp}.json and latest.json`);
  if (failed.length > 0) process.exitCode = 1;
}

function printTable(rows: readonly Row[]): void {
  const cells = rows.map((r) => [
    r.bench,
    r.metric,
    typeof r.value === 'number' ? String(r.value) : r.value,
    r.bar ?? '',
    r.pass === undefined ? '' : r.pass ? 'ok' : 'FAIL',
  ]);
  const header = ['benchmark', 'metric', 'value', 'bar', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: readonly string[]) =>
    `| ${c.map((cell, i) => (i === 2 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join(' | ')} |`;
  console.log(`\n${line(header)}`);
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) console.log(line(c));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
