import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { EksAccess } from '../adapters/eks-access';
import type { AuditEvent, LeaseStore } from '../adapters/lease-store';
import type { OutcomePublisher } from '../adapters/outcome-publisher';
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
import { type AccessRules, evaluateGrant } from '../core/rules';
import { reconcileSubject } from './reconcile-subject';

/** The structured logger the use cases write to: Powertools' Logger, or a test's recorder. */
export type Log = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface BrokerDeps {
  readonly store: LeaseStore;
  readonly eks: EksAccess;
  readonly publisher: OutcomePublisher;
  readonly rules: AccessRules;
  /** Epoch milliseconds. */
  readonly clock: () => number;
  readonly log: Log;
  /** How long to wait for a subject another invocation is reconciling before giving the message back. */
  readonly lockWaitMs?: number;
}

/** How a request ended, for the handler's result and the tests. */
export type HandleResult =
  | { readonly status: 'granted'; readonly lease: Lease }
  | { readonly status: 'rejected'; readonly rejection: Rejection }
  | { readonly status: 'failed'; readonly lease: Lease; readonly error: string }
  | { readonly status: 'revoked'; readonly lease: Lease }
  | { readonly status: 'extended'; readonly lease: Lease }
  /** A repeat of a request that already has its outcome: nothing changed, nothing published. */
  | { readonly status: 'duplicate'; readonly lease: Lease };

/**
 * The use cases: grant, revoke, extend. Each request is recorded before anything is changed, every change
 * of EKS goes through the planner under the subject's lock, and the outcome is published before the lease
 * reaches its final state, so a crash at any point is finished by the redelivery and nothing ends silently.
 */
export class Broker {
  constructor(private readonly deps: BrokerDeps) {}

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

  /** Publishes the rejection of a request that could not even be read as one. */
  async reject(
    rejection: Rejection,
    context: { requestId?: string; requestType?: string },
  ): Promise<HandleResult> {
    this.deps.log.warn('request rejected', {
      ...context,
      code: rejection.code,
      field: rejection.field,
      reason: rejection.reason,
    });
    await this.deps.publisher.publish([outcomes.rejected(rejection, context)]);
    return { status: 'rejected', rejection };
  }

  private async grant(request: GrantRequest): Promise<HandleResult> {
    const decision = evaluateGrant(this.deps.rules, request);
    if (!decision.allowed) return this.rejectRequest(request, decision.rejection);

    const now = this.now();
    const lease = newLease(
      request,
      { ruleId: decision.rule.id, maxDurationSeconds: decision.maxDurationSeconds },
      now,
    );
    const created = await this.deps.store.createLease(
      lease,
      this.audit(lease, 'requested', request.requestedBy),
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
      () => this.now(),
      async () => {
        const lease = await this.deps.store.getLease(requestId);
        if (!lease) throw new Error(`Lease ${requestId} vanished while it was being granted`);
        if (lease.status !== 'pending') return { status: 'duplicate', lease } as const;
        try {
          const result = await reconcileSubject(this.deps, lease, this.now(), owner);
          const active = activate(lease, this.now());
          const effective = result.effective[lease.policyArn] ?? lease.accessScope;
          const published = [outcomes.granted(active, effective)];
          if (active.breakGlass) published.push(outcomes.breakGlassGranted(active));
          await this.deps.publisher.publish(published);
          const saved = await this.deps.store.saveLease(
            active,
            lease.version,
            this.audit(active, 'granted', 'broker', {
              effectiveScope: effective,
              actions: result.actions.length,
            }),
          );
          this.deps.log.info('access granted', {
            requestId,
            clusterName: saved.clusterName,
            principalArn: saved.principalArn,
            policyArn: saved.policyArn,
            expiresAt: saved.expiresAt,
            eksChanges: result.actions.length,
          });
          return { status: 'granted', lease: saved } as const;
        } catch (error) {
          if (!(error instanceof PermanentError)) throw error;
          return this.failGrant(lease, error, owner);
        }
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
      await reconcileSubject(this.deps, lease, this.now(), owner, { excluding: lease.requestId });
    } catch (rollback) {
      if (!(rollback instanceof PermanentError)) throw rollback;
      // Nothing the broker may change: the subject holds nothing of this lease that it could take back.
      this.deps.log.warn('nothing to roll back after a failed grant', {
        requestId: lease.requestId,
        error: rollback.message,
      });
    }
    const failed = end(lease, 'failed', this.now(), message);
    await this.deps.publisher.publish([outcomes.grantFailed(failed, message)]);
    const saved = await this.deps.store.saveLease(
      failed,
      lease.version,
      this.audit(failed, 'failed', 'broker', { error: message }),
    );
    return { status: 'failed', lease: saved, error: message };
  }

  private async revoke(request: RevokeRequest): Promise<HandleResult> {
    const found = await this.deps.store.getLease(request.requestId);
    if (!found) {
      return this.rejectRequest(request, {
        code: 'UNKNOWN_REQUEST',
        field: 'detail.requestId',
        reason: `No grant with requestId ${request.requestId} is known.`,
      });
    }
    const owner = randomUUID();
    return this.deps.store.withLock(
      found,
      owner,
      () => this.now(),
      async () => {
        const lease = await this.deps.store.getLease(request.requestId);
        if (!lease) throw new Error(`Lease ${request.requestId} vanished while it was being revoked`);
        if (lease.status === 'ended') return { status: 'duplicate', lease } as const;
        // Access first, then the outcome, then the lease's end: a crash before the end is saved is redone.
        await reconcileSubject(this.deps, lease, this.now(), owner, { excluding: lease.requestId });
        const ended = end(lease, 'requested', this.now());
        await this.deps.publisher.publish([outcomes.revoked(ended)]);
        const saved = await this.deps.store.saveLease(
          ended,
          lease.version,
          this.audit(ended, 'revoked', request.requestedBy, { reason: request.reason }),
        );
        this.deps.log.info('access revoked', {
          requestId: saved.requestId,
          reason: 'requested',
          requestedBy: request.requestedBy,
        });
        return { status: 'revoked', lease: saved } as const;
      },
      { waitMs: this.deps.lockWaitMs },
    );
  }

  private async extend(request: ExtendRequest): Promise<HandleResult> {
    const found = await this.deps.store.getLease(request.requestId);
    if (!found) {
      return this.rejectRequest(request, {
        code: 'UNKNOWN_REQUEST',
        field: 'detail.requestId',
        reason: `No grant with requestId ${request.requestId} is known.`,
      });
    }
    const result = extend(found, request);
    if (!result.ok) return this.rejectRequest(request, result.rejection);
    const saved = await this.deps.store.saveLease(
      result.lease,
      found.version,
      this.audit(result.lease, 'extended', request.requestedBy, {
        reason: request.reason,
        addedSeconds: request.durationSeconds,
        previousExpiresAt: found.expiresAt,
      }),
    );
    await this.deps.publisher.publish([outcomes.extended(saved, found.expiresAt)]);
    this.deps.log.info('access extended', { requestId: saved.requestId, expiresAt: saved.expiresAt });
    return { status: 'extended', lease: saved };
  }

  private async rejectRequest(request: BrokerRequest, rejection: Rejection): Promise<HandleResult> {
    this.deps.log.warn('request rejected', {
      requestId: request.requestId,
      kind: request.kind,
      code: rejection.code,
      field: rejection.field,
      reason: rejection.reason,
    });
    await this.deps.publisher.publish([outcomes.rejected(rejection, { request })]);
    return { status: 'rejected', rejection };
  }

  private audit(lease: Lease, type: string, actor: string, detail?: Record<string, unknown>): AuditEvent {
    return { type, at: this.deps.clock(), actor, requestId: lease.requestId, ...(detail ? { detail } : {}) };
  }

  private now(): number {
    return Math.floor(this.deps.clock() / 1000);
  }
}
