import { DeleteAccessEntryCommand, DisassociateAccessPolicyCommand, EKSClient } from '@aws-sdk/client-eks';
import { OUTCOME_SOURCE } from '../../functions/core/names';
import { handler as eventBridgeHandler } from '../../functions/handlers/eventbridge-intake';
import { lambdaContext } from '../../infra/local/lambda-context';
import {
  type BenchContext,
  CLUSTER,
  EKS_LATENCY_MS,
  grantEvent,
  percentile,
  principalArn,
  round,
  row,
  VIEW_POLICY,
  waitFor,
} from './support';

const BENCH = '9 drift repaired from CloudTrail';
const CHANGES = 100;
/** The bar: a hand change is undone within this long at p99. */
const BAR_P99_MS = 5_000;

/**
 * 100 subjects granted through the EventBridge intake, then, one after the other, a hand change to each made
 * with the AWS SDK by a developer's own key (not the broker's): a DisassociateAccessPolicy or a
 * DeleteAccessEntry, alternately. The edge puts the event CloudTrail would on the default bus, and the local
 * broker's drift-event function repairs the subject. EKS answers every call after 50 ms.
 *
 * Latency = the `Access Drift Repaired` event's arrival on the bus - the hand change's commit (the time the
 * emulator logged it). In AWS, CloudTrail's own delivery to EventBridge comes on top (it is not the broker's).
 */
export async function driftEventRepair(ctx: BenchContext): Promise<void> {
  const { eks, bus } = ctx.local.edge;
  eks.faults.configure({ latency: { fixedMs: EKS_LATENCY_MS } });
  const principals = Array.from({ length: CHANGES }, (_, i) => principalArn(ctx.runId, `drift-event-${i}`));
  const repairedAt = new Map<string, number>();
  const unsubscribe = bus.subscribe({ source: [OUTCOME_SOURCE] }, async (event) => {
    if (event['detail-type'] !== 'Access Drift Repaired') return;
    const principal = String((event.detail as Record<string, unknown>).principalArn);
    if (!repairedAt.has(principal)) repairedAt.set(principal, Date.now());
  });
  const bob = new EKSClient({
    endpoint: ctx.local.edge.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'devbob', secretAccessKey: 'devbob' },
  });
  const latencies: number[] = [];
  let restored = 0;
  let brokerCalls = 0;
  try {
    for (const [i, principal] of principals.entries()) {
      const event = grantEvent({
        requestId: `BENCH-${ctx.runId}-drift-event-${i}`,
        principalArn: principal,
        durationSeconds: 3600,
      });
      const result = (await eventBridgeHandler(event, lambdaContext('bench'))) as { status?: string };
      if (result.status !== 'granted') throw new Error(`grant ${i} was not granted: ${result.status}`);
    }
    for (const [i, principal] of principals.entries()) {
      const key = { clusterName: CLUSTER, principalArn: principal };
      const before = eks.totalCalls();
      if (i % 2 === 0) {
        await bob.send(new DisassociateAccessPolicyCommand({ ...key, policyArn: VIEW_POLICY }));
      } else {
        await bob.send(new DeleteAccessEntryCommand(key));
      }
      const committedAt = eks
        .mutations()
        .findLast((mutation) => mutation.principalArn === principal && mutation.outcome === 'applied')?.at;
      await waitFor(() => repairedAt.has(principal), 10_000, `the repair of ${principal}`);
      await bus.idle();
      latencies.push((repairedAt.get(principal) ?? Number.NaN) - (committedAt ?? Number.NaN));
      brokerCalls += eks.totalCalls() - before - 1;
      const entry = eks
        .snapshot()
        .find((cluster) => cluster.clusterName === CLUSTER)
        ?.entries.find((candidate) => candidate.principalArn === principal);
      if (entry?.policies.some((policy) => policy.policyArn === VIEW_POLICY)) restored++;
    }
  } finally {
    unsubscribe();
    bob.destroy();
    eks.faults.configure({});
  }
  const p99 = percentile(latencies, 99);
  row(ctx.rows, BENCH, 'hand changes (SDK, a non-broker key; disassociate or delete)', CHANGES);
  row(ctx.rows, BENCH, 'repaired, access back', restored, { bar: `${CHANGES}`, pass: restored === CHANGES });
  row(ctx.rows, BENCH, 'hand change to repaired p50 (ms)', round(percentile(latencies, 50), 1));
  row(ctx.rows, BENCH, 'hand change to repaired p99 (ms)', round(p99, 1), {
    bar: `<= ${BAR_P99_MS}`,
    pass: p99 <= BAR_P99_MS,
  });
  row(ctx.rows, BENCH, 'EKS calls per repair (compare, re-read, fix)', round(brokerCalls / CHANGES));
  row(
    ctx.rows,
    BENCH,
    `floor: EKS calls per repair x ${EKS_LATENCY_MS} ms`,
    round((brokerCalls / CHANGES) * EKS_LATENCY_MS),
  );
}
