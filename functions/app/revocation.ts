import { randomUUID } from 'node:crypto';
import { end } from '../core/leases';
import type { EndReason, Lease } from '../core/model';
import * as outcomes from '../core/outcomes';
import { type AppDeps, auditEvent, nowSeconds } from './deps';
import { reconcileSubject } from './reconcile-subject';

export type TakeBackResult =
  | { readonly status: 'revoked'; readonly lease: Lease }
  /** Ended already (a repeat, a stale timer): nothing to do. */
  | { readonly status: 'already-ended'; readonly lease?: Lease }
  /** Not due (a timer that fired early, a lease extended meanwhile). */
  | { readonly status: 'not-due'; readonly lease: Lease }
  /** Taking the access back failed; the lease keeps the error and is retried at `nextAttemptAt`. */
  | { readonly status: 'retry-scheduled'; readonly lease: Lease }
  /** Failed past the retry budget: alarmed, still retried (less often) until it works or is forgotten. */
  | { readonly status: 'irrevocable'; readonly lease: Lease };

export const DEFAULT_REVOCATION_BUDGET = 5;
const BACKOFF_BASE_SECONDS = 10;
const BACKOFF_CAP_SECONDS = 300;

/**
 * Ends a lease: takes its access back through the planner (under the subject's lock), publishes
 * `Access Revoked`, then saves the lease as ended. Vault's model for failures: every failed attempt is kept
 * on the lease with a jittered exponential backoff; past the budget the lease turns irrevocable, with an
 * `Access Revocation Failed` event and a metric, and the sweeper keeps trying it.
 */
export async function takeBack(
  deps: AppDeps,
  requestId: string,
  intent: { readonly reason: EndReason; readonly actor: string; readonly onlyIfDue: boolean },
): Promise<TakeBackResult> {
  const found = await deps.store.getLease(requestId);
  if (!found || found.status === 'ended')
    return { status: 'already-ended', ...(found ? { lease: found } : {}) };
  const owner = randomUUID();
  return deps.store.withLock(
    found,
    owner,
    () => nowSeconds(deps),
    async (): Promise<TakeBackResult> => {
      const lease = await deps.store.getLease(requestId);
      if (!lease || lease.status === 'ended') return { status: 'already-ended', ...(lease ? { lease } : {}) };
      const now = nowSeconds(deps);
      if (intent.onlyIfDue && (lease.nextAttemptAt ?? lease.expiresAt) > now)
        return { status: 'not-due', lease };
      // A revocation that was requested and is being retried stays "requested" when the sweeper finishes it.
      const reason = lease.endReason ?? intent.reason;
      try {
        await reconcileSubject(deps, lease, now, owner, { excluding: requestId });
      } catch (error) {
        return recordFailure(deps, lease, reason, error, now);
      }
      const ended = end(lease, reason, now);
      await deps.publisher.publish([outcomes.revoked(ended)]);
      const lagSeconds = reason === 'expired' ? Math.max(0, now - lease.expiresAt) : 0;
      const saved = await deps.store.saveLease(
        ended,
        lease.version,
        auditEvent(deps, ended, reason === 'expired' ? 'expired' : 'revoked', intent.actor, {
          reason,
          ...(lease.revokeAttempts ? { failedAttempts: lease.revokeAttempts } : {}),
        }),
      );
      deps.metrics.add('AccessRevoked');
      if (reason === 'expired') deps.metrics.add('RevocationLagSeconds', lagSeconds);
      deps.log.info('access revoked', {
        requestId,
        clusterName: lease.clusterName,
        principalArn: lease.principalArn,
        policyArn: lease.policyArn,
        reason,
        lagSeconds,
      });
      return { status: 'revoked', lease: saved };
    },
    { waitMs: deps.lockWaitMs },
  );
}

async function recordFailure(
  deps: AppDeps,
  lease: Lease,
  reason: EndReason,
  error: unknown,
  now: number,
): Promise<TakeBackResult> {
  const message = error instanceof Error ? error.message : String(error);
  const attempts = (lease.revokeAttempts ?? 0) + 1;
  const irrevocable = attempts >= (deps.revocationBudget ?? DEFAULT_REVOCATION_BUDGET);
  const failed: Lease = {
    ...lease,
    status: irrevocable ? 'irrevocable' : lease.status,
    // No longer wanted from now on, whatever the reason: the next reconcile of the subject must not restore it.
    expiresAt: Math.min(lease.expiresAt, now),
    endReason: reason,
    revokeAttempts: attempts,
    lastError: message,
    nextAttemptAt: now + backoffSeconds(attempts),
  };
  const firstTimeIrrevocable = irrevocable && lease.status !== 'irrevocable';
  if (firstTimeIrrevocable) await deps.publisher.publish([outcomes.revocationFailed(failed, message)]);
  const saved = await deps.store.saveLease(
    failed,
    lease.version,
    auditEvent(deps, failed, firstTimeIrrevocable ? 'irrevocable' : 'revocation-failed', 'broker', {
      attempt: attempts,
      error: message,
      nextAttemptAt: failed.nextAttemptAt,
    }),
  );
  deps.metrics.add('RevocationFailures');
  // Every failed attempt past the budget, not only the first: the alarm stays on while access outlives its lease.
  if (irrevocable) deps.metrics.add('IrrevocableLeases');
  (firstTimeIrrevocable ? deps.log.error : deps.log.warn).call(deps.log, 'revocation failed', {
    requestId: lease.requestId,
    attempt: attempts,
    irrevocable,
    error: message,
    nextAttemptAt: failed.nextAttemptAt,
  });
  return { status: irrevocable ? 'irrevocable' : 'retry-scheduled', lease: saved };
}

/** Equal jitter: half fixed, half random, doubling per attempt up to the cap. */
export function backoffSeconds(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1));
  return Math.ceil(ceiling / 2 + (random() * ceiling) / 2);
}
