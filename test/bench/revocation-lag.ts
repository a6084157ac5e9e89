import { LOCAL_RESOURCE_NAMES } from '../../functions/config/names';
import { OUTCOME_SOURCE } from '../../functions/core/names';
import { localCaller } from '../support/callers';
import {
  type BenchContext,
  EKS_LATENCY_MS,
  grantEvent,
  percentile,
  principalArn,
  round,
  row,
  sqsBody,
  waitFor,
} from './support';

const BENCH = '6 revocation lag';
const LEASES = 200;
const SWEEP_INTERVAL_MS = 60_000;

/**
 * 200 leases of 5 to 64 s granted through the intake queue at once, so that they expire within one minute;
 * the precise timers are on (the local timer queue of startLocalBroker, consumed by the expiry-timer handler)
 * and the sweeper runs every 60 s, as scheduled in AWS.
 *
 * Lag = revoked at - expires at. `expires at` is the lease's expiry (whole seconds, from Access Granted);
 * `revoked at` is when the access left EKS: the time, in ms, the emulator logged the DeleteAccessEntry of the
 * lease's principal (each lease has its own principal, so that is the revocation). The Access Revoked event
 * is published just after; its arrival on the bus is reported too.
 */
export async function revocationLag(ctx: BenchContext): Promise<void> {
  const { eks, bus, queues } = ctx.local.edge;
  const principals = new Map<string, string>();
  const expiresAt = new Map<string, number>();
  const eventAt = new Map<string, number>();
  let failed = 0;
  const unsubscribe = bus.subscribe({ source: [OUTCOME_SOURCE] }, async (event) => {
    const detail = event.detail as Record<string, unknown>;
    const requestId = String(detail.requestId);
    if (!principals.has(requestId)) return;
    if (event['detail-type'] === 'Access Granted')
      expiresAt.set(requestId, Date.parse(String(detail.expiresAt)));
    else if (event['detail-type'] === 'Access Revoked') eventAt.set(requestId, Date.now());
    else failed++;
  });
  eks.faults.configure({ latency: { fixedMs: EKS_LATENCY_MS } });
  const logged = eks.mutations().length;
  const sweeper = setInterval(() => void ctx.local.sweep().catch(() => undefined), SWEEP_INTERVAL_MS);
  try {
    for (let i = 0; i < LEASES; i++) {
      const requestId = `BENCH-${ctx.runId}-lag-${i}`;
      const principal = principalArn(ctx.runId, `lag-${i}`);
      principals.set(requestId, principal);
      const durationSeconds = 5 + Math.floor((i * 60) / LEASES);
      queues.send(
        LOCAL_RESOURCE_NAMES.requestsQueue,
        {
          body: sqsBody(grantEvent({ requestId, principalArn: principal, durationSeconds })),
        },
        localCaller(),
      );
    }
    await waitFor(() => eventAt.size + failed >= LEASES, 150_000, `${LEASES} revocations`);
  } finally {
    clearInterval(sweeper);
    unsubscribe();
    eks.faults.configure({});
  }

  const deletedAt = new Map<string, number>();
  for (const mutation of eks.mutations().slice(logged)) {
    if (
      mutation.operation === 'DeleteAccessEntry' &&
      mutation.outcome === 'applied' &&
      mutation.principalArn
    ) {
      deletedAt.set(mutation.principalArn, mutation.at);
    }
  }
  const lags: number[] = [];
  const eventLags: number[] = [];
  for (const [requestId, principal] of principals) {
    const expiry = expiresAt.get(requestId);
    const deleted = deletedAt.get(principal);
    const published = eventAt.get(requestId);
    if (expiry === undefined || deleted === undefined || published === undefined) continue;
    lags.push((deleted - expiry) / 1000);
    eventLags.push((published - expiry) / 1000);
  }
  const byActor = new Map<string, number>();
  for (const requestId of principals.keys()) {
    const last = (await ctx.store.history(requestId)).at(-1);
    const actor = last?.type === 'expired' ? last.actor : `not expired (${last?.type})`;
    byActor.set(actor, (byActor.get(actor) ?? 0) + 1);
  }

  const p99 = percentile(lags, 99);
  row(ctx.rows, BENCH, 'leases (5-64 s, timers on, sweeper every 60 s)', LEASES);
  row(ctx.rows, BENCH, 'revoked at expiry, access gone from EKS', lags.length, {
    bar: `${LEASES}`,
    pass: lags.length === LEASES && failed === 0,
  });
  row(
    ctx.rows,
    BENCH,
    'revoked by (timer / sweeper)',
    `${byActor.get('timer') ?? 0} / ${byActor.get('sweeper') ?? 0}`,
  );
  row(ctx.rows, BENCH, 'lag p50 (s): EKS entry deleted - expiresAt', round(percentile(lags, 50)));
  row(ctx.rows, BENCH, 'lag p99 (s): EKS entry deleted - expiresAt', round(p99), {
    bar: '<= 0.5',
    pass: p99 <= 0.5,
  });
  row(ctx.rows, BENCH, 'lag max (s)', round(Math.max(...lags)));
  row(ctx.rows, BENCH, 'lag p99 (s) to Access Revoked on the bus', round(percentile(eventLags, 99)));
  row(ctx.rows, BENCH, 'lag min (s): never before expiry', round(Math.min(...lags)), {
    bar: '>= 0',
    pass: Math.min(...lags) >= 0,
  });
}
