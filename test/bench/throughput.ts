import { LOCAL_RESOURCE_NAMES } from '../../functions/config/names';
import { OUTCOME_SOURCE } from '../../functions/core/names';
import { localCaller } from '../support/callers';
import {
  type BenchContext,
  EKS_LATENCY_MS,
  grantEvent,
  INTAKE,
  principalArn,
  round,
  row,
  sqsBody,
  waitFor,
} from './support';

const BENCH = '3 throughput';
export const GRANTS = 2000;
export const SUBJECTS = 500;
/** R: the EKS rate limit of the emulator (token bucket, burst R) in benchmarks 3 and 4. */
export const EKS_RATE = Number(process.env.BENCH_EKS_RATE ?? 40);

/**
 * 2,000 grants over 500 subjects (4 each, each in its own namespace, so every grant changes EKS), all sent to
 * the intake queue at once and consumed by the SQS handler as Lambda's event source mapping would (see
 * INTAKE in support.ts). EKS answers after 50 ms and throttles beyond R calls/s. The achieved rate counts the
 * EKS calls that got through (not the throttled ones) over the time from the first send to the last outcome.
 */
export async function throughput(ctx: BenchContext): Promise<{ grantsPerSecond: number }> {
  const { eks, bus, queues } = ctx.local.edge;
  const requestIds = new Set<string>();
  const bodies: string[] = [];
  for (let i = 0; i < GRANTS; i++) {
    const requestId = `BENCH-${ctx.runId}-tp-${i}`;
    requestIds.add(requestId);
    bodies.push(
      sqsBody(
        grantEvent({
          requestId,
          principalArn: principalArn(ctx.runId, `tp-${i % SUBJECTS}`),
          namespaces: [`ns-${Math.floor(i / SUBJECTS)}`],
          durationSeconds: 3600,
        }),
      ),
    );
  }
  /** The first outcome of each request (a redelivery after the outcome was published may repeat it). */
  const outcomes = new Map<string, string>();
  let repeated = 0;
  let lastOutcomeAt = 0;
  const unsubscribe = bus.subscribe({ source: [OUTCOME_SOURCE] }, async (event) => {
    const requestId = String((event.detail as Record<string, unknown>).requestId);
    if (!requestIds.has(requestId)) return;
    if (outcomes.has(requestId)) {
      repeated++;
      return;
    }
    outcomes.set(requestId, event['detail-type']);
    lastOutcomeAt = performance.now();
  });
  const dlqBefore = queues.messages(LOCAL_RESOURCE_NAMES.requestsDeadLetterQueue).length;

  eks.faults.configure({ latency: { fixedMs: EKS_LATENCY_MS }, rateLimit: { ratePerSecond: EKS_RATE } });
  eks.faults.resetCounts();
  const callsBefore = eks.totalCalls();
  const t0 = performance.now();
  for (const body of bodies) queues.send(LOCAL_RESOURCE_NAMES.requestsQueue, { body }, localCaller());
  try {
    await waitFor(() => outcomes.size >= GRANTS, 480_000, `${GRANTS} grant outcomes`);
  } finally {
    unsubscribe();
  }
  const seconds = (lastOutcomeAt - t0) / 1000;
  const calls = eks.totalCalls() - callsBefore;
  const throttled = eks.faults.counts.throttled;
  eks.faults.configure({});

  const sent = new Set(bodies);
  const ours = queues.messages(LOCAL_RESOURCE_NAMES.requestsQueue).filter((m) => sent.has(m.body));
  const redeliveries = ours.reduce((sum, m) => sum + Math.max(0, m.receiveCount - 1), 0);
  const deadLettered = queues.messages(LOCAL_RESOURCE_NAMES.requestsDeadLetterQueue).length - dlqBefore;
  const granted = [...outcomes.values()].filter((type) => type === 'Access Granted').length;
  const rate = (calls - throttled) / seconds;
  const grantsPerSecond = granted / seconds;

  row(
    ctx.rows,
    BENCH,
    `grants over ${SUBJECTS} subjects (SQS batch ${INTAKE.batchSize}, concurrency ${INTAKE.concurrency})`,
    GRANTS,
  );
  row(ctx.rows, BENCH, 'granted', granted, { bar: `${GRANTS}, none failed`, pass: granted === GRANTS });
  row(ctx.rows, BENCH, 'failed or rejected', outcomes.size - granted, {
    bar: '0',
    pass: outcomes.size === granted,
  });
  row(ctx.rows, BENCH, 'outcome events repeated by a redelivery', repeated);
  row(ctx.rows, BENCH, 'dead-lettered', deadLettered, { bar: '0', pass: deadLettered === 0 });
  row(ctx.rows, BENCH, 'EKS rate limit R (calls/s)', EKS_RATE);
  row(ctx.rows, BENCH, 'EKS calls that got through / s', round(rate, 1));
  row(ctx.rows, BENCH, 'achieved EKS rate / R', round(rate / EKS_RATE), {
    bar: '>= 0.9',
    pass: rate / EKS_RATE >= 0.9,
  });
  row(ctx.rows, BENCH, 'EKS calls per grant', round((calls - throttled) / GRANTS));
  row(ctx.rows, BENCH, 'throttled EKS calls (absorbed by SDK retries)', throttled);
  row(ctx.rows, BENCH, 'SQS redeliveries (absorbed by redelivery)', redeliveries);
  // Two EKS calls per grant, first or not (issue 15): R / 2, less what the throttling costs.
  const grantsBar = 0.475 * EKS_RATE;
  row(ctx.rows, BENCH, 'grants / s', round(grantsPerSecond, 1), {
    bar: `>= ${round(grantsBar, 1)}`,
    pass: grantsPerSecond >= grantsBar,
  });
  row(ctx.rows, BENCH, 'wall time (s, this machine)', round(seconds, 1));
  return { grantsPerSecond };
}
