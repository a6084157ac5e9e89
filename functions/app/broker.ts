import { createHash, randomUUID } from 'node:crypto';
import type { HeldLock, SubjectLock } from '../adapters/lease-store';
import { PermanentError } from '../core/errors';
import { activate, end, extend, fingerprintOf, newLease } from '../core/leases';
import type {
  BrokerRequest,
  ExtendRequest,
  GrantRequest,
  Lease,
  Rejection,
  RevokeRequest,
} from '../core/model';
import * as outcomes from '../core/outcomes';
import { evaluateGrant } from '../core/rules';
import { type AppDeps, auditEvent, nowSeconds } from './deps';
import { armIfSoon } from './expiry';
import { reconcileSubject, type SubjectReads, startReads } from './reconcile-subject';
import { takeBack } from './revocation';

/** How a request ended, for the handler's result and the tests. */
export type HandleResult =
  | { readonly status: 'granted'; readonly lease: Lease }
  | { readonly status: 'rejected'; readonly rejection: Rejection }
  | { readonly status: 'failed'; readonly lease: Lease; readonly error: string }
  | { readonly status: 'revoked'; readonly lease: Lease }
  /** Revocation accepted, but taking the access back failed for now: the sweeper retries it. */
  | { readonly status: 'revoking'; readonly lease: Lease }
  | { readonly status: 'extended'; readonly lease: Lease }
  /** A repeat of a request that already has its outcome: nothing changed, nothing published. */
  | { readonly status: 'duplicate'; readonly lease?: Lease };

/**
 * The request use cases: grant, revoke, extend. Each request is recorded before anything is changed, every
 * change of EKS goes through the planner under the subject's lock, and the outcome is published before the
 * lease reaches its final state, so a crash at any point is finished by the redelivery and nothing ends
 * silently.
 */
export class Broker {
  constructor(private readonly deps: AppDeps) {}

  handle(request: BrokerRequest): Promise<HandleResult> {
    switch (request.kind) {
      case 'grant':
        return this.grant(request);
      case 'revoke':
        return this.revoke(request);
      case 'extend':
        return this.extend(request);
    }
  }

  /** Publishes the rejection of input that could not even be read as a request. */
  async reject(
    rejection: Rejection,
    context: { requestId?: string; requestType?: string },
  ): Promise<HandleResult> {
    this.deps.log.warn('request rejected', { ...context, ...rejection });
    this.deps.metrics.add('RequestRejected');
    await this.deps.publisher.publish([outcomes.rejected(rejection, context)]);
    return { status: 'rejected', rejection };
  }

  private async grant(request: GrantRequest): Promise<HandleResult> {
    const decision = evaluateGrant(this.deps.rules, request);
    if (!decision.allowed) return this.rejectRequest(request, decision.rejection);

    const lease = newLease(
      request,
      { ruleId: decision.rule.id, maxDurationSeconds: decision.maxDurationSeconds },
      nowSeconds(this.deps),
    );
    // A fresh grant needs the subject's lock next: it is taken with the lease, in one transaction.
    const owner = randomUUID();
    const created = await this.deps.store.createLease(
      lease,
      auditEvent(this.deps, lease, 'requested', request.requestedBy, { reason: request.reason }),
      { lock: { owner, now: nowSeconds(this.deps) } },
    );
    if (!created.created) {
      if (created.fingerprint !== fingerprintOf(request)) {
        return this.rejectRequest(request, idempotencyConflict(request.requestId));
      }
      // A repeat: finish the first delivery's work if it did not get to the end, else do nothing.
      if (created.existing && created.existing.status !== 'pending') {
        this.deps.log.info('duplicate request ignored', {
          requestId: request.requestId,
          status: created.existing.status,
        });
        return { status: 'duplicate', lease: created.existing };
      }
    }
    if (request.breakGlass) {
      this.deps.log.warn('break-glass grant requested', {
        requestId: request.requestId,
        clusterName: request.clusterName,
        principalArn: request.principalArn,
        policyArn: request.policyArn,
        requestedBy: request.requestedBy,
        reason: request.reason,
      });
    }
    return this.completeGrant(request.requestId, lease, owner, created.created ? created.lock : undefined);
  }

  /**
   * Applies a pending lease's access, or rolls it back and reports the failure. Idempotent. `held`: the
   * subject's lock when createLease took it (for `owner`); else it is taken here.
   */
  private async completeGrant(
    requestId: string,
    subject: Lease,
    owner: string,
    held: HeldLock | undefined,
  ): Promise<HandleResult> {
    return this.deps.store.withLock(
      subject,
      owner,
      () => nowSeconds(this.deps),
      async (lock): Promise<HandleResult> => {
        // The subject's leases (this one among them while it is not ended) and EKS, read at once.
        const reads = startReads(this.deps, subject);
        const lease =
          (await reads.leases).find((candidate) => candidate.requestId === requestId) ??
          (await this.deps.store.findSubjectLease(subject, requestId));
        if (!lease) throw new Error(`Lease ${requestId} vanished while it was being granted`);
        if (lease.status !== 'pending') return { status: 'duplicate', lease };
        if (lease.expiresAt <= nowSeconds(this.deps)) return this.expireLate(lease, lock, reads);
        let effective: Lease['accessScope'];
        let changes: number;
        try {
          const result = await reconcileSubject(this.deps, lease, nowSeconds(this.deps), lock, { reads });
          effective = result.effective[lease.policyArn] ?? lease.accessScope;
          changes = result.actions.length;
        } catch (error) {
          if (!(error instanceof PermanentError)) throw error;
          return this.failGrant(lease, error, lock);
        }
        const now = nowSeconds(this.deps);
        const active = activate(lease, now);
        await armIfSoon(this.deps, active, now);
        const published = [outcomes.granted(active, effective)];
        if (active.breakGlass) published.push(outcomes.breakGlassGranted(active));
        await this.deps.publisher.publish(published);
        const saved = await this.deps.store.saveLease(
          active,
          lease.version,
          auditEvent(this.deps, active, 'granted', 'broker', {
            effectiveScope: effective,
            eksChanges: changes,
          }),
          { unlock: lock },
        );
        this.deps.metrics.add('AccessGranted');
        if (saved.breakGlass) this.deps.metrics.add('BreakGlassGranted');
        (saved.breakGlass ? this.deps.log.warn : this.deps.log.info).call(this.deps.log, 'access granted', {
          requestId,
          clusterName: saved.clusterName,
          principalArn: saved.principalArn,
          policyArn: saved.policyArn,
          breakGlass: saved.breakGlass,
          expiresAt: saved.expiresAt,
          eksChanges: changes,
        });
        return { status: 'granted', lease: saved };
      },
      { waitMs: this.deps.lockWaitMs, ...(held ? { held } : {}) },
    );
  }

  /**
   * A pending lease whose duration passed before its grant was saved: an earlier delivery may have applied
   * the access and announced it (`Access Granted`) and then died before saving, so the lease ends as any
   * lease does at its expiry, with its access taken back and `Access Revoked` (expired). Announcing a
   * failure here would contradict the grant the requester may already have been told about.
   */
  private async expireLate(lease: Lease, lock: SubjectLock, reads: SubjectReads): Promise<HandleResult> {
    try {
      await reconcileSubject(this.deps, lease, nowSeconds(this.deps), lock, {
        excluding: lease.requestId,
        reads,
      });
    } catch (error) {
      // Nothing the broker may change (a node entry): the subject holds nothing of this lease.
      if (!(error instanceof PermanentError)) throw error;
    }
    const expired = end(lease, 'expired', nowSeconds(this.deps));
    await this.deps.publisher.publish([outcomes.revoked(expired)]);
    const saved = await this.deps.store.saveLease(
      expired,
      lease.version,
      auditEvent(this.deps, expired, 'expired', 'broker', {
        reason: 'expired',
        note: 'its grant did not complete within its duration',
      }),
    );
    this.deps.log.warn('lease expired before its grant completed', { requestId: lease.requestId });
    return { status: 'revoked', lease: saved };
  }

  /**
   * A permanent failure: take back whatever part of the lease was applied, report it, then end the lease.
   * Until the end is saved the lease stays pending, so a crash here is finished by the redelivery.
   * `reads`: the subject's reads, when nothing has changed since they were made.
   */
  private async failGrant(lease: Lease, error: Error, lock: HeldLock): Promise<HandleResult> {
    const message = error.message;
    this.deps.log.error('access grant failed', { requestId: lease.requestId, error: message });
    try {
      await reconcileSubject(this.deps, lease, nowSeconds(this.deps), lock, { excluding: lease.requestId });
    } catch (rollback) {
      if (!(rollback instanceof PermanentError)) throw rollback;
      // Nothing the broker may change: the subject holds nothing of this lease that it could take back.
      this.deps.log.warn('nothing to roll back after a failed grant', {
        requestId: lease.requestId,
        error: rollback.message,
      });
    }
    const failed = end(lease, 'failed', nowSeconds(this.deps), message);
    await this.deps.publisher.publish([outcomes.grantFailed(failed, message)]);
    const saved = await this.deps.store.saveLease(
      failed,
      lease.version,
      auditEvent(this.deps, failed, 'failed', 'broker', { error: message }),
      { unlock: lock },
    );
    this.deps.metrics.add('GrantFailed');
    return { status: 'failed', lease: saved, error: message };
  }

  /** "I'm done" or the ticket closed: the lease ends now. A failure to take the access back is retried. */
  private async revoke(request: RevokeRequest): Promise<HandleResult> {
    const found = await this.deps.store.findLease(request.requestId);
    if (!found) return this.rejectRequest(request, unknownRequest(request.requestId));
    const result = await takeBack(
      this.deps,
      request.requestId,
      { reason: 'requested', actor: request.requestedBy, onlyIfDue: false },
      found,
    );
    switch (result.status) {
      case 'revoked':
        return { status: 'revoked', lease: result.lease };
      case 'already-ended':
      case 'not-due':
        this.deps.metrics.add('DuplicateRequests');
        return { status: 'duplicate', ...(result.lease ? { lease: result.lease } : {}) };
      case 'retry-scheduled':
      case 'irrevocable':
        return { status: 'revoking', lease: result.lease };
    }
  }

  /**
   * Moves the expiry, capped by the rule's max duration from the first grant, and re-arms the timer (the old
   * one becomes stale). An extension is known by its content, so a repeated delivery extends only once.
   */
  private async extend(request: ExtendRequest): Promise<HandleResult> {
    const known = await this.deps.store.findLease(request.requestId);
    if (!known) return this.rejectRequest(request, unknownRequest(request.requestId));
    const key = extensionKey(request);
    if (known.extensions?.includes(key)) {
      this.deps.metrics.add('DuplicateRequests');
      return { status: 'duplicate', lease: known };
    }
    // Under the subject's lock, so that an extension cannot interleave with the expiry of the same lease
    // (taking its access back, then finding it extended) nor revive one whose access is already gone.
    return this.deps.store.withLock(
      known,
      randomUUID(),
      () => nowSeconds(this.deps),
      async (): Promise<HandleResult> => {
        const found = (await this.deps.store.findSubjectLease(known, request.requestId)) ?? known;
        if (found.extensions?.includes(key)) {
          this.deps.metrics.add('DuplicateRequests');
          return { status: 'duplicate', lease: found };
        }
        const now = nowSeconds(this.deps);
        const result = extend(found, request, now);
        if (!result.ok) return this.rejectRequest(request, result.rejection);
        const extended: Lease = { ...result.lease, extensions: [...(found.extensions ?? []), key] };
        await armIfSoon(this.deps, extended, now);
        await this.deps.publisher.publish([outcomes.extended(extended, found.expiresAt)]);
        const saved = await this.deps.store.saveLease(
          extended,
          found.version,
          auditEvent(this.deps, extended, 'extended', request.requestedBy, {
            reason: request.reason,
            addedSeconds: request.durationSeconds,
            previousExpiresAt: found.expiresAt,
            expiresAt: extended.expiresAt,
          }),
        );
        this.deps.metrics.add('AccessExtended');
        this.deps.log.info('access extended', { requestId: saved.requestId, expiresAt: saved.expiresAt });
        return { status: 'extended', lease: saved };
      },
      { waitMs: this.deps.lockWaitMs },
    );
  }

  /** Publishes the rejection of a request, logged and counted. */
  async rejectRequest(request: BrokerRequest, rejection: Rejection): Promise<HandleResult> {
    this.deps.log.warn('request rejected', {
      requestId: request.requestId,
      kind: request.kind,
      ...rejection,
    });
    this.deps.metrics.add('RequestRejected');
    await this.deps.publisher.publish([outcomes.rejected(rejection, { request })]);
    return { status: 'rejected', rejection };
  }
}

export function unknownRequest(requestId: string): Rejection {
  return {
    code: 'UNKNOWN_REQUEST',
    field: 'detail.requestId',
    reason: `No grant with requestId ${requestId} is known.`,
  };
}

export function idempotencyConflict(requestId: string): Rejection {
  return {
    code: 'IDEMPOTENCY_CONFLICT',
    field: 'detail.requestId',
    reason: `requestId ${requestId} was already used for a different request; use a new requestId.`,
  };
}

/** What makes two extend requests the same extension: a repeat of one is applied once. */
export function extensionKey(request: ExtendRequest): string {
  return createHash('sha256')
    .update(JSON.stringify([request.durationSeconds, request.requestedBy, request.reason]))
    .digest('base64url')
    .slice(0, 22);
}
