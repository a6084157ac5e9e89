import { handler as eventBridgeHandler } from '../../functions/handlers/eventbridge-intake';
import { MUTATING_OPERATIONS } from '../../infra/local/eks/model';
import { lambdaContext } from '../../infra/local/lambda-context';
import { type BenchContext, grantEvent, principalArn, revokeEvent, row } from './support';

const BENCH = '1 calls per operation';

export interface OperationCounts {
  readonly eksCalls: number;
  readonly eksMutations: number;
  readonly dynamoDbRequests: number;
  readonly status: string;
}

/**
 * Exact counts per operation, each one handled alone through the EventBridge intake handler: EKS calls from
 * the emulator's HTTP binding (every call that reached it, faulted or not), mutating calls from its mutation
 * log, DynamoDB requests from the lease store's request counter (one per SDK command it sends).
 */
export async function callsPerOperation(ctx: BenchContext): Promise<Record<string, OperationCounts>> {
  const principal = principalArn(ctx.runId, 'calls');
  const first = `BENCH-${ctx.runId}-calls-1`;
  const second = `BENCH-${ctx.runId}-calls-2`;
  const grantA = grantEvent({
    requestId: first,
    principalArn: principal,
    namespaces: ['team-a'],
    durationSeconds: 3600,
  });
  const grantB = grantEvent({
    requestId: second,
    principalArn: principal,
    namespaces: ['team-b'],
    durationSeconds: 3600,
  });

  const measured: Record<string, OperationCounts> = {
    'fresh grant': await measure(ctx, () => eventBridgeHandler(grantA, lambdaContext('bench'))),
    'second lease, same subject': await measure(ctx, () =>
      eventBridgeHandler(grantB, lambdaContext('bench')),
    ),
    'duplicate delivery': await measure(ctx, () =>
      eventBridgeHandler({ ...grantB, id: `${grantB.id}-again` }, lambdaContext('bench')),
    ),
    'revoke, not the last lease': await measure(ctx, () =>
      eventBridgeHandler(revokeEvent(second), lambdaContext('bench')),
    ),
    'revoke of the last lease': await measure(ctx, () =>
      eventBridgeHandler(revokeEvent(first), lambdaContext('bench')),
    ),
  };

  const bars: Record<string, { calls: number; mutations?: number }> = {
    // A fresh grant creates the entry and associates without reading first; a second lease reads the
    // associations alone (issue 15).
    'fresh grant': { calls: 2, mutations: 2 },
    'second lease, same subject': { calls: 2 },
    'duplicate delivery': { calls: 0 },
    'revoke of the last lease': { calls: 3 },
  };
  for (const [operation, counts] of Object.entries(measured)) {
    const bar = bars[operation];
    const expected = operation === 'duplicate delivery' ? 'duplicate' : undefined;
    row(ctx.rows, BENCH, `${operation}: outcome`, counts.status, {
      bar: expected ?? 'granted/revoked',
      pass: expected
        ? counts.status === expected
        : counts.status === 'granted' || counts.status === 'revoked',
    });
    row(
      ctx.rows,
      BENCH,
      `${operation}: EKS calls`,
      counts.eksCalls,
      bar ? { bar: `<= ${bar.calls}`, pass: counts.eksCalls <= bar.calls } : undefined,
    );
    row(
      ctx.rows,
      BENCH,
      `${operation}: EKS mutating calls`,
      counts.eksMutations,
      bar?.mutations !== undefined
        ? { bar: `<= ${bar.mutations}`, pass: counts.eksMutations <= bar.mutations }
        : undefined,
    );
    row(ctx.rows, BENCH, `${operation}: DynamoDB requests`, counts.dynamoDbRequests);
  }
  return measured;
}

async function measure(ctx: BenchContext, run: () => Promise<unknown>): Promise<OperationCounts> {
  const eks = ctx.local.edge.eks;
  const calls = eks.totalCalls();
  const mutations = countMutatingCalls(ctx);
  const requests = ctx.dynamoDb.requests;
  const result = (await run()) as { status?: string } | undefined;
  await ctx.local.edge.bus.idle();
  return {
    eksCalls: eks.totalCalls() - calls,
    eksMutations: countMutatingCalls(ctx) - mutations,
    dynamoDbRequests: ctx.dynamoDb.requests - requests,
    status: String(result?.status),
  };
}

/** Mutating calls that reached the emulator, from its per-operation counters (the log also has refused ones). */
export function countMutatingCalls(ctx: BenchContext): number {
  const counts = ctx.local.edge.eks.callCounts();
  return MUTATING_OPERATIONS.reduce((sum, operation) => sum + counts[operation], 0);
}
