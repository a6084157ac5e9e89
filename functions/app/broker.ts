import { createHash, randomUUID } from 'node:crypto';
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
import { reconcileSubject } from './reconcile-subject';
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
    const created = await this.deps.store.createLease(
      lease,
      auditEvent(this.deps, lease, 'requested', request.requestedBy, { reason: request.reason }),
    );
    if (!created.created) {
      if (created.fingerprint !== fingerprintOf(request)) {
        return this.rejectRequest(request, {
          code: 'IDEMPOTENCY_CONFLICT',
          field: 'detail.requestId',
          reason: `requestId ${request.requestId} was already used for a different request; use a new requestId.`,
        });
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
    return this.completeGrant(request.requestId, lease);
  }

  /** Applies a pending lease's access, or rolls it back and reports the failure. Idempotent. */
  private async completeGrant(requestId: string, subject: Lease): Promise<HandleResult> {
    const owner = randomUUID();
    return this.deps.store.withLock(
      subject,
      owner,
      () => nowSeconds(this.deps),
      async (): Promise<HandleResult> => {
        const lease = await this.deps.store.getLease(requestId);
        if (!lease) throw new Error(`Lease ${requestId} vanished while it was being granted`);
        if (lease.status !== 'pending') return { status: 'duplicate', lease };
        if (lease.expiresAt <= nowSeconds(this.deps)) {
          // Delivered so late that it would already be over: nothing to grant, say so.
          return this.failGrant(
            lease,
            new PermanentError('The request arrived after its duration had passed'),
            owner,
          );
        }
        let effective: Lease['accessScope'];
        let changes: number;
        try {
          const result = await reconcileSubject(this.deps, lease, nowSeconds(this.deps), owner);
          effective = result.effective[lease.policyArn] ?? lease.accessScope;
          changes = result.actions.length;
        } catch (error) {
          if (!(error instanceof PermanentError)) throw error;
          return this.failGrant(lease, error, owner);
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
      { waitMs: this.deps.lockWaitMs },
    );
  }

  /**
   * A permanent failure: take back whatever part of the lease was applied, report it, then end the lease.
   * Until the end is saved the lease stays pending, so a crash here is finished by the redelivery.
   */
  private async failGrant(lease: Lease, error: Error, owner: string): Promise<HandleResult> {
    const message = error.message;
    this.deps.log.error('access grant failed', { requestId: lease.requestId, error: message });
    try {
      await reconcileSubject(this.deps, lease, nowSeconds(this.deps), owner, { excluding: lease.requestId });
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
    );
    this.deps.metrics.add('GrantFailed');
    return { status: 'failed', lease: saved, error: message };
  }

  /** "I'm done" or the ticket closed: the lease ends now. A failure to take the access back is retried. */
  private async revoke(request: RevokeRequest): Promise<HandleResult> {
    const found = await this.deps.store.getLease(request.requestId);
    if (!found) return this.rejectRequest(request, unknownRequest(request.requestId));
    const result = await takeBack(this.deps, request.requestId, {
      reason: 'requested',
      actor: request.requestedBy,
      onlyIfDue: false,
    });
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
    const found = await this.deps.store.getLease(request.requestId);
    if (!found) return this.rejectRequest(request, unknownRequest(request.requestId));
    const key = extensionKey(request);
    if (found.extensions?.includes(key)) {
      this.deps.metrics.add('DuplicateRequests');
      return { status: 'duplicate', lease: found };
    }
    const result = extend(found, request);
    if (!result.ok) return this.rejectRequest(request, result.rejection);
    const extended: Lease = { ...result.lease, extensions: [...(found.extensions ?? []), key] };
    const now = nowSeconds(this.deps);
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
  }

  private async rejectRequest(request: BrokerRequest, rejection: Rejection): Promise<HandleResult> {
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

function unknownRequest(requestId: string): Rejection {
  return {
    code: 'UNKNOWN_REQUEST',
    field: 'detail.requestId',
    reason: `No grant with requestId ${requestId} is known.`,
  };
}

function extensionKey(request: ExtendRequest): string {
  return createHash('sha256')
    .update(JSON.stringify([request.durationSeconds, request.requestedBy, request.reason]))
    .digest('base64url')
    .slice(0, 22);
}
