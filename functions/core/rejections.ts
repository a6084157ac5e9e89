import { sameRole } from './integrations';
import type { Caller, Lease, Rejection } from './model';

/** A revoke or extend of a grant the broker does not know. */
export function unknownRequest(requestId: string): Rejection {
  return {
    code: 'UNKNOWN_REQUEST',
    field: 'detail.requestId',
    reason: `No grant with requestId ${requestId} is known.`,
  };
}

/** A requestId reused for a request with other content. */
export function idempotencyConflict(requestId: string): Rejection {
  return {
    code: 'IDEMPOTENCY_CONFLICT',
    field: 'detail.requestId',
    reason: `requestId ${requestId} was already used for a different request; use a new requestId.`,
  };
}

/**
 * A revoke or extend must come through the integration the grant came through: knowing a requestId is not
 * enough to end or prolong someone else's access. Leases recorded before integrations existed have no origin
 * and take any integration's request.
 */
export function integrationMismatch(lease: Lease, caller: Caller): Rejection | undefined {
  const other = otherIntegration(lease, caller.integration);
  if (other) return other;
  const origin = lease.origin;
  // A proven grant is its requester's: another person of the same integration may not end or prolong it.
  if (origin?.provenBy !== undefined && !sameRequester(origin.provenBy, caller.proven)) {
    return {
      code: 'NOT_SELF',
      field: 'detail.proof',
      reason: `grant ${lease.requestId} was proven by ${origin.provenBy}; only that requester may revoke or extend it`,
    };
  }
  return undefined;
}

/**
 * The grant came through another integration than `integration` (leases without an origin: none): only that
 * integration may repeat, revoke or extend it.
 */
export function otherIntegration(lease: Lease, integration: string): Rejection | undefined {
  const origin = lease.origin;
  if (origin === undefined || origin.integration === integration) return undefined;
  return {
    code: 'INTEGRATION_MISMATCH',
    field: 'detail.requestId',
    reason: `grant ${lease.requestId} came through integration ${origin.integration}; only it may repeat, revoke or extend it`,
  };
}

/** Two callers STS vouched for are one requester: the same user, or sessions of the same role. */
function sameRequester(provenBy: string, caller: string | undefined): boolean {
  if (caller === undefined) return false;
  const session = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(provenBy);
  return session
    ? sameRole(`arn:${session[1]}:iam::${session[2]}:role/${session[3]}`, caller)
    : provenBy === caller;
}
