import { handler as eventBridgeHandler } from '../../functions/handlers/eventbridge-intake';
import { lambdaContext } from '../../infra/local/lambda-context';
import {
  type BenchContext,
  EKS_LATENCY_MS,
  grantEvent,
  percentile,
  principalArn,
  round,
  row,
} from './support';

const BENCH = '2 grant latency';
const GRANTS = 200;
/** DynamoDB Local is a JVM: its first hundred grants or so run slower while its JIT compiles the hot paths. */
const WARM_UP = 100;

/**
 * Fresh grants one after the other through the EventBridge intake handler, EKS answering every call after
 * 50 ms. Each grant's handler time is divided by its own floor, (EKS calls it made) x 50 ms: what is left is
 * the broker's own overhead, DynamoDB Local's latency included. The warm-up grants are not counted (their p50
 * is shown apart): they measure DynamoDB Local's JIT compiler, which the real service does not have.
 */
export async function grantLatency(ctx: BenchContext): Promise<void> {
  ctx.local.edge.eks.faults.configure({ latency: { fixedMs: EKS_LATENCY_MS } });
  const ratios: number[] = [];
  const warmUpRatios: number[] = [];
  const latencies: number[] = [];
  let statuses = 0;
  for (let i = 0; i < WARM_UP + GRANTS; i++) {
    const event = grantEvent({
      requestId: `BENCH-${ctx.runId}-latency-${i}`,
      principalArn: principalArn(ctx.runId, `latency-${i}`),
      durationSeconds: 3600,
    });
    const calls = ctx.local.edge.eks.totalCalls();
    const t0 = performance.now();
    const result = (await eventBridgeHandler(event, lambdaContext('bench'))) as { status?: string };
    const elapsed = performance.now() - t0;
    const eksCalls = ctx.local.edge.eks.totalCalls() - calls;
    if (i < WARM_UP) {
      warmUpRatios.push(elapsed / (eksCalls * EKS_LATENCY_MS));
      continue;
    }
    if (result.status === 'granted') statuses++;
    latencies.push(elapsed);
    ratios.push(elapsed / (eksCalls * EKS_LATENCY_MS));
  }
  ctx.local.edge.eks.faults.configure({});
  const p50 = percentile(ratios, 50);
  row(ctx.rows, BENCH, `grants (sequential, after ${WARM_UP} warm-up)`, GRANTS, {
    bar: 'all granted',
    pass: statuses === GRANTS,
  });
  row(ctx.rows, BENCH, 'p50 latency / (EKS calls x 50 ms)', round(p50), { bar: '<= 1.2', pass: p50 <= 1.2 });
  row(ctx.rows, BENCH, 'p99 latency / (EKS calls x 50 ms)', round(percentile(ratios, 99)));
  row(
    ctx.rows,
    BENCH,
    `p50 latency / (EKS calls x 50 ms) of the ${WARM_UP} warm-up grants`,
    round(percentile(warmUpRatios, 50)),
  );
  row(ctx.rows, BENCH, 'p50 grant latency (ms, this machine)', round(percentile(latencies, 50), 1));
  row(ctx.rows, BENCH, 'p99 grant latency (ms, this machine)', round(percentile(latencies, 99), 1));
}
