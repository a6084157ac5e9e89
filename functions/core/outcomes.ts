import { DETAIL_TYPES } from './contract';
import { originOf } from './leases';
import type {
  AccessScope,
  BrokerRequest,
  Caller,
  Lease,
  Rejection,
  RequestOrigin,
  Subject,
  Ticket,
} from './model';
import type { Action } from './planner';

type OutcomeType =
  | 'Access Granted'
  | 'Access Grant Rejected'
  | 'Access Grant Failed'
  | 'Access Extended'
  | 'Access Revoked'
  | 'Access Revocation Failed'
  | 'Break Glass Access Granted'
  | 'Access Drift Repaired';

/** One event for EventBridge: what happened to a request, for the ticket and the audit trail. */
export interface Outcome {
  readonly detailType: OutcomeType;
  readonly detail: Readonly<Record<string, unknown>>;
}

const iso = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString();

function leaseDetail(lease: Lease): Record<string, unknown> {
  return {
    requestId: lease.requestId,
    clusterName: lease.clusterName,
    principalArn: lease.principalArn,
    policyArn: lease.policyArn,
    accessScope: lease.accessScope,
    breakGlass: lease.breakGlass,
    requestedBy: lease.requestedBy,
    ...(lease.ticket ? { ticket: lease.ticket } : {}),
    // Who asked, as the transport and STS told it: what a ticket or an auditor can rely on.
    ...(lease.origin ? { origin: lease.origin } : {}),
  };
}

/** `effectiveScope`: what the principal holds for the policy, which may be wider than this lease asked. */
export function granted(lease: Lease, effectiveScope: AccessScope): Outcome {
  return {
    detailType: 'Access Granted',
    detail: {
      ...leaseDetail(lease),
      effectiveScope,
      grantedAt: iso(lease.grantedAt ?? lease.requestedAt),
      expiresAt: iso(lease.expiresAt),
      durationSeconds: lease.durationSeconds,
    },
  };
}

export function breakGlassGranted(lease: Lease): Outcome {
  return {
    detailType: 'Break Glass Access Granted',
    detail: { ...leaseDetail(lease), reason: lease.reason, expiresAt: iso(lease.expiresAt) },
  };
}

export function grantFailed(lease: Lease, error: string): Outcome {
  return { detailType: 'Access Grant Failed', detail: { ...leaseDetail(lease), error } };
}

/** `by`: who asked for a requested revocation (the lease's own origin is the grant's). */
export function revoked(lease: Lease, by?: RequestOrigin): Outcome {
  return {
    detailType: 'Access Revoked',
    detail: {
      ...leaseDetail(lease),
      ...(by ? { revokedBy: by } : {}),
      reason: lease.endReason ?? 'requested',
      expiresAt: iso(lease.expiresAt),
      revokedAt: iso(lease.endedAt ?? lease.expiresAt),
      // Forgotten by an operator after revocation kept failing: the broker no longer vouches for EKS.
      ...(lease.endReason === 'forgotten' ? { accessMayRemain: true, lastError: lease.lastError } : {}),
    },
  };
}

/** `by`: who asked for the extension. */
export function extended(lease: Lease, previousExpiresAt: number, by?: RequestOrigin): Outcome {
  return {
    detailType: 'Access Extended',
    detail: {
      ...leaseDetail(lease),
      ...(by ? { extendedBy: by } : {}),
      previousExpiresAt: iso(previousExpiresAt),
      expiresAt: iso(lease.expiresAt),
    },
  };
}

export function revocationFailed(lease: Lease, error: string): Outcome {
  return { detailType: 'Access Revocation Failed', detail: { ...leaseDetail(lease), error } };
}

/**
 * A refused request of any kind. The contract has one rejection event; `requestType` says which request it
 * answers, and `requestId` is there whenever the input had a readable one.
 */
export function rejected(
  rejection: Rejection,
  context: {
    requestId?: string;
    requestType?: string;
    request?: BrokerRequest;
    caller?: Caller;
    ticket?: Ticket;
  },
): Outcome {
  const request = context.request;
  // The ticket the refusal answers, so it can be written back to it.
  const ticket = context.ticket ?? (request?.kind === 'grant' ? request.ticket : undefined);
  return {
    detailType: 'Access Grant Rejected',
    detail: {
      requestId: context.requestId ?? request?.requestId,
      requestType: context.requestType ?? (request ? DETAIL_TYPES[request.kind] : undefined),
      code: rejection.code,
      ...(rejection.field ? { field: rejection.field } : {}),
      reason: rejection.reason,
      ...(request?.kind === 'grant'
        ? {
            clusterName: request.clusterName,
            principalArn: request.principalArn,
            policyArn: request.policyArn,
          }
        : {}),
      ...(request ? { requestedBy: request.requestedBy } : {}),
      ...(ticket ? { ticket } : {}),
      ...(context.caller ? { origin: originOf(context.caller) } : {}),
    },
  };
}

/**
 * A request the broker gave up on after every retry (it ended in a dead-letter queue): `Access Grant Failed`
 * for a grant or an extension, `Access Revocation Failed` for a revocation (whose lease the sweeper keeps
 * taking back). `requestType` says which request it answers; the lease's details are there when it has one.
 */
export function deadLettered(request: BrokerRequest, error: string, lease?: Lease): Outcome {
  const subject =
    request.kind === 'grant'
      ? {
          clusterName: request.clusterName,
          principalArn: request.principalArn,
          policyArn: request.policyArn,
          accessScope: request.accessScope,
          breakGlass: request.breakGlass,
          ...(request.ticket ? { ticket: request.ticket } : {}),
        }
      : {};
  return {
    detailType: request.kind === 'revoke' ? 'Access Revocation Failed' : 'Access Grant Failed',
    detail: {
      ...subject,
      ...(lease ? leaseDetail(lease) : {}),
      requestId: request.requestId,
      requestType: DETAIL_TYPES[request.kind],
      requestedBy: request.requestedBy,
      deadLettered: true,
      error,
    },
  };
}

/**
 * EKS had changed under active leases (by hand); the broker put back what they need. `change`: the call
 * CloudTrail recorded that set the repair off (absent when the periodic check found the drift).
 */
export function driftRepaired(
  subject: Subject,
  actions: readonly Action[],
  requestIds: readonly string[],
  change?: {
    readonly eventName: string;
    readonly changedBy: string;
    readonly eventId?: string;
    readonly eventTime?: string;
  },
): Outcome {
  return {
    detailType: 'Access Drift Repaired',
    detail: {
      clusterName: subject.clusterName,
      principalArn: subject.principalArn,
      actions: actions.map((a) => ({ ...a })),
      requestIds: [...requestIds],
      ...(change ? { change: { ...change } } : {}),
    },
  };
}
