import { randomUUID } from 'node:crypto';
import { PermanentError } from '../core/errors';
import { activate, end, fingerprintOf, newLease } from '../core/leases';
import type { Caller, GrantRequest, Lease } from '../core/model';
import * as outcomes from '../core/outcomes';
import { idempotencyConflict } from '../core/rejections';
import { evaluateGrant } from '../core/rule-decision';
import { type AppDeps, auditEvent, nowSeconds } from './deps';
import { armIfSoon } from './expiry';
import type { HandleResult } from './handle-request';
import type { HeldLock } from './ports';
import { reconcileSubject, type SubjectReads, startReads } from './reconcile-subject';
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
      origin: lease.origin,
    }),
    { lock: { owner: randomUUID(), now: nowSeconds(deps) } },
  );
  if (!created.created) {
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

/**
 * Applies a pending lease's access, or rolls it back and reports the failure. Idempotent. `held`: the
 * subject's lock when createLease took it; else it is taken here.
 */
function completeGrant(deps: AppDeps, pending: Lease, held: HeldLock | undefined): Promise<HandleResult> {
  return underSubjectLock(
    deps,
    pending,
    async (lock): Promise<HandleResult> => {
      // The subject's leases (this one among them while it is not ended) and EKS, read at once.
      const reads = startReads(deps, pending);
      const lease = await rereadLease(deps, pending, reads);
      if (!lease) throw new Error(`Lease ${pending.requestId} vanished while it was being granted`);
      if (lease.status !== 'pending') return { status: 'duplicate', lease };
      if (lease.expiresAt <= nowSeconds(deps)) return expireLate(deps, lease, lock, reads);
      let effective: Lease['accessScope'];
      let changes: number;
      try {
        const result = await reconcileSubject(deps, lease, nowSeconds(deps), lock, { reads });
        effective = result.effective[lease.policyArn] ?? lease.accessScope;
        changes = result.actions.length;
      } catch (error) {
        if (!(error instanceof PermanentError)) throw error;
        return failGrant(deps, lease, error, lock);
      }
      const now = nowSeconds(deps);
      const active = activate(lease, now);
      await armIfSoon(deps, active, now);
      const published = [outcomes.granted(active, effective)];
      if (active.breakGlass) published.push(outcomes.breakGlassGranted(active));
      await deps.publisher.publish(published);
      const saved = await deps.store.saveLease(
        active,
        lease.version,
        auditEvent(deps, active, 'granted', 'broker', { effectiveScope: effective, eksChanges: changes }),
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
      return { status: 'granted', lease: saved };
    },
    held ? { held } : {},
  );
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
): Promise<HandleResult> {
  // A PermanentError here means nothing the broker may change (a node entry): the subject holds nothing of it.
  await rollBack(deps, lease, lock, reads);
  const expired = end(lease, 'expired', nowSeconds(deps));
  await deps.publisher.publish([outcomes.revoked(expired)]);
  const saved = await deps.store.saveLease(
    expired,
    lease.version,
    auditEvent(deps, expired, 'expired', 'broker', {
      reason: 'expired',
      note: 'its grant did not complete within its duration',
    }),
  );
  deps.log.warn('lease expired before its grant completed', { requestId: lease.requestId });
  return { status: 'revoked', lease: saved };
}

/**
 * A permanent failure: take back whatever part of the lease was applied, report it, then end the lease.
 * Until the end is saved the lease stays pending, so a crash here is finished by the redelivery.
 */
async function failGrant(deps: AppDeps, lease: Lease, error: Error, lock: HeldLock): Promise<HandleResult> {
  const message = error.message;
  deps.log.error('access grant failed', { requestId: lease.requestId, error: message });
  const nothingToTakeBack = await rollBack(deps, lease, lock);
  if (nothingToTakeBack) {
    deps.log.warn('nothing to roll back after a failed grant', {
      requestId: lease.requestId,
      error: nothingToTakeBack.message,
    });
  }
  const failed = end(lease, 'failed', nowSeconds(deps), message);
  await deps.publisher.publish([outcomes.grantFailed(failed, message)]);
  const saved = await deps.store.saveLease(
    failed,
    lease.version,
    auditEvent(deps, failed, 'failed', 'broker', { error: message }),
    { unlock: lock },
  );
  deps.metrics.add('GrantFailed');
  return { status: 'failed', lease: saved, error: message };
}
