import { randomUUID } from 'node:crypto';
import { PermanentError } from '../core/errors';
import { activate, end, fingerprintOf, newLease } from '../core/leases';
import type { Caller, GrantRequest, Lease } from '../core/model';
import type { Outcome } from '../core/outcomes';
import * as outcomes from '../core/outcomes';
import { idempotencyConflict, otherIntegration } from '../core/rejections';
import { evaluateGrant } from '../core/rule-decision';
import { type AppDeps, auditEvent, nowSeconds } from './deps';
import { armIfSoon } from './expiry';
import type { HandleResult } from './handle-request';
import type { HeldLock } from './ports';
import { type ReconcileResult, reconcileSubject, type SubjectReads, startReads } from './reconcile-subject';
import { publishRejection } from './reject';
import { rereadLease, rollBack, underSubjectLock } from './subject-work';

/** A grant: decided by the rules, recorded as a pending lease, applied under the subject's lock. */
export async function grantAccess(
  deps: AppDeps,
  request: GrantRequest,
  caller: Caller,
): Promise<HandleResult> {
  const decision = evaluateGrant(deps.rules, request, caller);
  if (!decision.allowed) return publishRejection(deps, decision.rejection, { request, caller });

  const lease = newLease(
    request,
    { ruleId: decision.rule.id, maxDurationSeconds: decision.maxDurationSeconds },
    nowSeconds(deps),
    caller,
  );
  // A fresh grant needs the subject's lock next: it is taken with the lease, in one transaction.
  const created = await deps.store.createLease(
    lease,
    auditEvent(deps, lease, 'requested', request.requestedBy, {
      reason: request.reason,
      // A subject's history spans leases: each names the ticket it came from.
      ...(request.ticket ? { ticket: request.ticket } : {}),
      origin: lease.origin,
    }),
    { lock: { owner: randomUUID(), now: nowSeconds(deps) } },
  );
  if (!created.created) {
    // The requestId is another integration's grant: not this request's, whatever its content.
    const other = created.existing ? otherIntegration(created.existing, caller.integration) : undefined;
    if (other) return publishRejection(deps, other, { request, caller });
    if (created.fingerprint !== fingerprintOf(request)) {
      return publishRejection(deps, idempotencyConflict(request.requestId), { request, caller });
    }
    // A repeat: finish the first delivery's work if it did not get to the end, else do nothing.
    if (created.existing && created.existing.status !== 'pending') {
      deps.log.info('duplicate request ignored', {
        requestId: request.requestId,
        status: created.existing.status,
      });
      return { status: 'duplicate', lease: created.existing };
    }
  }
  if (request.breakGlass) {
    deps.log.warn('break-glass grant requested', {
      requestId: request.requestId,
      clusterName: request.clusterName,
      principalArn: request.principalArn,
      policyArn: request.policyArn,
      requestedBy: request.requestedBy,
      reason: request.reason,
      integration: caller.integration,
      provenBy: caller.proven,
    });
  }
  return completeGrant(deps, lease, created.created ? created.lock : undefined);
}

/** Who completes a pending grant, and how its failure is answered: a delivery of it, or its dead letter. */
export interface Completion {
  /** On the audit events it writes. */
  readonly actor: string;
  /** The `Access Grant Failed` event of a grant that cannot be applied for good. */
  readonly failure: (failed: Lease, error: string) => Outcome;
}

const BY_DELIVERY: Completion = {
  actor: 'broker',
  failure: (failed, error) => outcomes.grantFailed(failed, error),
};

/**
 * Applies a pending lease's access, or rolls it back and reports the failure. Idempotent: whatever an earlier
 * attempt did (applied the access and announced it, marked it failing, died anywhere), this finishes it with the
 * answer it may already have given. `held`: the subject's lock when createLease took it; else it is taken here.
 */
export function completeGrant(
  deps: AppDeps,
  pending: Lease,
  held: HeldLock | undefined,
  by: Completion = BY_DELIVERY,
): Promise<HandleResult> {
  return underSubjectLock(
    deps,
    pending,
    async (lock): Promise<HandleResult> => {
      // The subject's leases (this one among them while it is not ended); EKS only as far as the plan needs.
      const reads = startReads(deps, pending, { deferEks: true });
      const lease = await rereadLease(deps, pending, reads);
      if (!lease) throw new Error(`Lease ${pending.requestId} vanished while it was being granted`);
      if (lease.status !== 'pending') return { status: 'duplicate', lease };
      if (lease.endReason === 'failed') {
        // An earlier attempt failed it and died before it ended it: that failure is finished, nothing else.
        const saved = await finishFailure(deps, lease, lock, by.actor, (failed) =>
          by.failure(failed, failed.lastError ?? 'the grant failed'),
        );
        return { status: 'failed', lease: saved, error: saved.lastError ?? 'the grant failed' };
      }
      if (lease.expiresAt <= nowSeconds(deps)) return expireLate(deps, lease, lock, reads, by.actor);
      let reconciled: ReconcileResult;
      try {
        reconciled = await reconcileSubject(deps, lease, nowSeconds(deps), lock, {
          reads,
          granting: lease.requestId,
        });
      } catch (error) {
        if (!(error instanceof PermanentError)) throw error;
        return failGrant(deps, lease, error, lock, by);
      }
      return { status: 'granted', lease: await announceGrant(deps, lease, lock, reconciled, by.actor) };
    },
    held ? { held } : {},
  );
}

/**
 * The end of a grant whose access is in place (`reconciled`: the reconcile that put it there, or found it
 * there): the lease runs for its duration from now, its timer is armed, `Access Granted` is published, then the
 * lease is saved active, freeing the lock in the same write. Published before the save, so a crash in between
 * leaves the lease pending and the next delivery (or the dead-letter function) announces it again: the
 * requester may hear `Access Granted` twice, never a contradicting answer. `actor`: who finished it, on the
 * audit event.
 */
async function announceGrant(
  deps: AppDeps,
  lease: Lease,
  lock: HeldLock,
  reconciled: Pick<ReconcileResult, 'effective' | 'actions'>,
  actor: string,
): Promise<Lease> {
  const effective = reconciled.effective[lease.policyArn] ?? lease.accessScope;
  const changes = reconciled.actions.length;
  const now = nowSeconds(deps);
  const active = activate(lease, now);
  await armIfSoon(deps, active, now);
  const published = [outcomes.granted(active, effective)];
  if (active.breakGlass) published.push(outcomes.breakGlassGranted(active));
  await deps.publisher.publish(published);
  const saved = await deps.store.saveLease(
    active,
    lease.version,
    auditEvent(deps, active, 'granted', actor, { effectiveScope: effective, eksChanges: changes }),
    { unlock: lock },
  );
  deps.metrics.add('AccessGranted');
  if (saved.breakGlass) deps.metrics.add('BreakGlassGranted');
  (saved.breakGlass ? deps.log.warn : deps.log.info).call(deps.log, 'access granted', {
    requestId: saved.requestId,
    clusterName: saved.clusterName,
    principalArn: saved.principalArn,
    policyArn: saved.policyArn,
    breakGlass: saved.breakGlass,
    expiresAt: saved.expiresAt,
    eksChanges: changes,
  });
  return saved;
}

/**
 * A pending lease whose duration passed before its grant was saved: an earlier delivery may have applied
 * the access and announced it (`Access Granted`) and then died before saving, so the lease ends as any
 * lease does at its expiry, with its access taken back and `Access Revoked` (expired). Announcing a
 * failure here would contradict the grant the requester may already have been told about.
 */
async function expireLate(
  deps: AppDeps,
  lease: Lease,
  lock: HeldLock,
  reads: SubjectReads,
  actor: string,
): Promise<HandleResult> {
  // A PermanentError here means nothing the broker may change (a node entry): the subject holds nothing of it.
  await rollBack(deps, lease, lock, reads);
  const expired = end(lease, 'expired', nowSeconds(deps));
  await deps.publisher.publish([outcomes.revoked(expired)]);
  const saved = await deps.store.saveLease(
    expired,
    lease.version,
    auditEvent(deps, expired, 'expired', actor, {
      reason: 'expired',
      note: 'its grant did not complete within its duration',
    }),
  );
  deps.log.warn('lease expired before its grant completed', { requestId: lease.requestId });
  return { status: 'revoked', lease: saved };
}

/**
 * A permanent failure: recorded on the lease first (markFailing), then whatever part of it was applied is
 * taken back, the failure published and the lease ended (finishFailure).
 */
async function failGrant(
  deps: AppDeps,
  lease: Lease,
  error: Error,
  lock: HeldLock,
  by: Completion,
): Promise<HandleResult> {
  const message = error.message;
  deps.log.error('access grant failed', { requestId: lease.requestId, error: message });
  const failing = await markFailing(deps, lease, message, by.actor);
  const saved = await finishFailure(deps, failing, lock, by.actor, (failed) =>
    by.failure(failed, failed.lastError ?? message),
  );
  return { status: 'failed', lease: saved, error: message };
}

/**
 * Records on a pending lease that its grant failed, before anything is taken back or said: it is no longer
 * wanted (its expiry moves to now, so it is due at once) and its end reason is `failed`, so whoever meets it
 * next (the redelivery, the sweeper, the dead-letter function) finishes the failure and answers
 * `Access Grant Failed` again, never a contradicting answer, even if this invocation dies after publishing.
 */
async function markFailing(deps: AppDeps, lease: Lease, error: string, actor: string): Promise<Lease> {
  if (lease.endReason === 'failed') return lease;
  const failing: Lease = {
    ...lease,
    endReason: 'failed',
    lastError: error,
    expiresAt: Math.min(lease.expiresAt, nowSeconds(deps)),
  };
  return deps.store.saveLease(failing, lease.version, auditEvent(deps, failing, 'failing', actor, { error }));
}

/**
 * The end of a grant marked failing: whatever part of it was applied is taken back, `answer` is published, the
 * lease is saved ended (freeing the lock with it), `actor` on its audit event. Until the end is saved the lease
 * stays pending and failing.
 */
async function finishFailure(
  deps: AppDeps,
  failing: Lease,
  lock: HeldLock,
  actor: string,
  answer: (failed: Lease) => Outcome,
): Promise<Lease> {
  const nothingToTakeBack = await rollBack(deps, failing, lock);
  if (nothingToTakeBack) {
    deps.log.warn('nothing to roll back after a failed grant', {
      requestId: failing.requestId,
      error: nothingToTakeBack.message,
    });
  }
  const failed = end(failing, 'failed', nowSeconds(deps), failing.lastError);
  await deps.publisher.publish([answer(failed)]);
  const saved = await deps.store.saveLease(
    failed,
    failing.version,
    auditEvent(deps, failed, 'failed', actor, { error: failed.lastError }),
    { unlock: lock },
  );
  deps.metrics.add('GrantFailed');
  return saved;
}
