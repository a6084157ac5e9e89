import { end } from '../core/leases';
import type { EndReason, Lease, RequestOrigin } from '../core/model';
import * as outcomes from '../core/outcomes';
import { type AppDeps, auditEvent, nowSeconds } from './deps';
import type { LeaseRef } from './ports';
import { reconcileSubject, startReads } from './reconcile-subject';
import { rereadLease, underSubjectLock } from './subject-work';

export type EndLeaseResult =
  | { readonly status: 'revoked'; readonly lease: Lease }
  /** Ended already (a repeat, a stale timer): nothing to do. */
  | { readonly status: 'already-ended'; readonly lease?: Lease }
  /** Not due (a timer that fired early, a lease extended meanwhile). */
  | { readonly status: 'not-due'; readonly lease: Lease }
  /** Taking the access back failed; the lease keeps the error and is retried at `nextAttemptAt`. */
  | { readonly status: 'retry-scheduled'; readonly lease: Lease }
  /** Failed past the retry budget: alarmed, still retried (less often) until it works or is forgotten. */
  | { readonly status: 'irrevocable'; readonly lease: Lease };

const BACKOFF_BASE_SECONDS = 10;
const BACKOFF_CAP_SECONDS = 300;

/**
 * Ends a lease: takes its access back through the planner (under the subject's lock), publishes
 * `Access Revoked`, then saves the lease as ended. Vault's model for failures: every failed attempt is kept
 * on the lease with a jittered exponential backoff; past the budget the lease turns irrevocable, with an
 * `Access Revocation Failed` event and a metric, and the sweeper keeps trying it.
 * `known`: the lease as the caller already read it, or where it is stored (an entry of the due index), so it
 * is not looked up again; under the lock it is read again either way.
 */
export async function endLease(
  deps: AppDeps,
  requestId: string,
  intent: {
    readonly reason: EndReason;
    readonly actor: string;
    readonly onlyIfDue: boolean;
    /** Who asked, for a requested revocation: on its audit events and its outcome. */
    readonly origin?: RequestOrigin;
    /**
     * Waited for holding the lock, the subject's reads under way, before the lease is found due or not (given
     * the lease as read under the lock): the expiry timer waits so for the instant of expiry, ready to act.
     */
    readonly readyAt?: (lease: Lease) => Promise<void>;
  },
  known?: Lease | LeaseRef,
): Promise<EndLeaseResult> {
  const found = known ?? (await deps.store.findLease(requestId));
  if (!found) return { status: 'already-ended' };
  if (isLease(found) && found.status === 'ended') return { status: 'already-ended', lease: found };
  return underSubjectLock(deps, found, async (lock): Promise<EndLeaseResult> => {
    const reads = startReads(deps, found);
    const lease = await rereadLease(deps, { ...found, requestId }, reads);
    if (!lease || lease.status === 'ended') return { status: 'already-ended', ...(lease ? { lease } : {}) };
    await intent.readyAt?.(lease);
    const now = nowSeconds(deps);
    if (intent.onlyIfDue && (lease.nextAttemptAt ?? lease.expiresAt) > now)
      return { status: 'not-due', lease };
    // A revocation that was requested and is being retried stays "requested" when the sweeper finishes it.
    const reason = lease.endReason ?? intent.reason;
    const ending = intent.onlyIfDue ? lease : await markEnding(deps, lease, reason, now, intent);
    try {
      await reconcileSubject(deps, ending, now, lock, { excluding: requestId, reads });
    } catch (error) {
      return recordFailure(deps, ending, reason, error, now);
    }
    const ended = end(ending, reason, now);
    // A grant that failed before it was granted (marked failing, then left) is answered as it was announced.
    const failed = reason === 'failed' && ended.grantedAt === undefined;
    const type = failed ? 'failed' : reason === 'expired' ? 'expired' : 'revoked';
    await deps.publisher.publish([
      failed
        ? outcomes.grantFailed(ended, ended.lastError ?? 'the grant failed')
        : outcomes.revoked(ended, intent.origin),
    ]);
    const lagSeconds = reason === 'expired' ? Math.max(0, now - lease.expiresAt) : 0;
    const saved = await deps.store.saveLease(
      ended,
      ending.version,
      auditEvent(deps, ended, type, intent.actor, {
        reason,
        ...(lease.revokeAttempts ? { failedAttempts: lease.revokeAttempts } : {}),
        ...(intent.origin ? { origin: intent.origin } : {}),
      }),
      { unlock: lock },
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
  });
}

/**
 * Records a revocation that was asked for before any access is taken back: from then on the lease is no longer
 * wanted, so no other reconcile of the subject (another grant, the drift check) gives back what this one is
 * taking away, and if the invocation dies before the end is saved, the lease is due and the sweeper (or the
 * redelivery) finishes the job. An expiry needs no such record: an expired lease is no longer wanted anyway.
 */
async function markEnding(
  deps: AppDeps,
  lease: Lease,
  reason: EndReason,
  now: number,
  by: { readonly actor: string; readonly origin?: RequestOrigin },
): Promise<Lease> {
  if (lease.endReason !== undefined && lease.expiresAt <= now) return lease;
  const ending: Lease = { ...lease, endReason: reason, expiresAt: Math.min(lease.expiresAt, now) };
  return deps.store.saveLease(
    ending,
    lease.version,
    auditEvent(deps, ending, 'revoking', by.actor, { reason, ...(by.origin ? { origin: by.origin } : {}) }),
  );
}

function isLease(value: Lease | LeaseRef): value is Lease {
  return 'status' in value;
}

async function recordFailure(
  deps: AppDeps,
  lease: Lease,
  reason: EndReason,
  error: unknown,
  now: number,
): Promise<EndLeaseResult> {
  const message = error instanceof Error ? error.message : String(error);
  const attempts = (lease.revokeAttempts ?? 0) + 1;
  const irrevocable = attempts >= deps.revocationBudget;
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
