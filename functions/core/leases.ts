import { createHash } from 'node:crypto';
import type {
  Association,
  Caller,
  EndReason,
  ExtendRequest,
  GrantRequest,
  Lease,
  Rejection,
  RequestOrigin,
} from './model';

/**
 * The content of a grant request that makes it the same request: everything the requester said, nothing
 * about how it arrived. Keys are sorted so that field order in the event does not matter.
 */
export function fingerprintOf(request: GrantRequest): string {
  const content = {
    clusterName: request.clusterName,
    principalArn: request.principalArn,
    policyArn: request.policyArn,
    accessScope: request.accessScope,
    durationSeconds: request.durationSeconds,
    requestedBy: request.requestedBy,
    reason: request.reason,
    ticket: request.ticket ?? null,
    breakGlass: request.breakGlass,
  };
  return createHash('sha256').update(canonicalJson(content)).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A lease for an allowed grant request, pending until its access is applied. */
export function newLease(
  request: GrantRequest,
  allowed: { ruleId: string; maxDurationSeconds: number },
  now: number,
  caller: Caller,
): Lease {
  return {
    requestId: request.requestId,
    clusterName: request.clusterName,
    principalArn: request.principalArn,
    policyArn: request.policyArn,
    accessScope: request.accessScope,
    status: 'pending',
    breakGlass: request.breakGlass,
    requestedBy: request.requestedBy,
    reason: request.reason,
    ...(request.ticket ? { ticket: request.ticket } : {}),
    ruleId: allowed.ruleId,
    maxDurationSeconds: allowed.maxDurationSeconds,
    durationSeconds: request.durationSeconds,
    requestedAt: now,
    expiresAt: now + request.durationSeconds,
    fingerprint: fingerprintOf(request),
    version: 1,
    origin: originOf(caller),
  };
}

/** What a lease keeps of the caller that asked for it. */
export function originOf(caller: Caller): RequestOrigin {
  return {
    integration: caller.integration,
    sender: caller.sender,
    requestedByProof: caller.proven !== undefined ? 'proven' : caller.readBack ? 'read-back' : 'asserted',
    ...(caller.proven === undefined ? {} : { provenBy: caller.proven }),
    ...(caller.readBack?.approvedBy === undefined ? {} : { approvedBy: caller.readBack.approvedBy }),
  };
}

/** A lease still needs its access while it is pending or active and not yet expired. */
export function needsAccess(lease: Lease, now: number): boolean {
  return (lease.status === 'pending' || lease.status === 'active') && lease.expiresAt > now;
}

/** The access a subject's leases need now: the planner's `wanted`. */
export function wantedAccess(leases: readonly Lease[], now: number): Association[] {
  return leases
    .filter((lease) => needsAccess(lease, now))
    .map((lease) => ({ policyArn: lease.policyArn, accessScope: lease.accessScope }));
}

/** Access applied: the lease runs for its duration from now. */
export function activate(lease: Lease, now: number): Lease {
  return { ...lease, status: 'active', grantedAt: now, expiresAt: now + lease.durationSeconds };
}

export function end(lease: Lease, reason: EndReason, now: number, error?: string): Lease {
  return {
    ...lease,
    status: 'ended',
    endReason: reason,
    endedAt: now,
    ...(error ? { lastError: error } : {}),
  };
}

/**
 * Moves the expiry by `request.durationSeconds`, never past the rule's max duration counted from the first
 * grant: an extension cannot turn a short grant into a long one. A lease that has expired (even if its
 * revocation has not run yet) cannot be extended: its access may already be gone, and reviving it would make
 * a lease valid again without its access.
 */
export function extend(
  lease: Lease,
  request: ExtendRequest,
  now: number,
): { ok: true; lease: Lease } | { ok: false; rejection: Rejection } {
  if (lease.status !== 'active' || lease.endReason !== undefined) {
    return {
      ok: false,
      rejection: {
        code: 'LEASE_NOT_ACTIVE',
        reason: `Lease ${lease.requestId} is ${lease.status}, so it cannot be extended.`,
      },
    };
  }
  if (lease.expiresAt <= now) {
    return {
      ok: false,
      rejection: {
        code: 'LEASE_NOT_ACTIVE',
        reason: `Lease ${lease.requestId} expired at ${new Date(lease.expiresAt * 1000).toISOString()}, so it cannot be extended: request a new grant.`,
      },
    };
  }
  const grantedAt = lease.grantedAt ?? lease.requestedAt;
  const cap = grantedAt + lease.maxDurationSeconds;
  const expiresAt = lease.expiresAt + request.durationSeconds;
  if (expiresAt > cap) {
    return {
      ok: false,
      rejection: {
        code: 'EXTENSION_CAP_EXCEEDED',
        field: 'detail.durationSeconds',
        reason: `Extending by ${request.durationSeconds}s would end the lease at ${new Date(expiresAt * 1000).toISOString()}, past the rule's cap of ${lease.maxDurationSeconds}s from the grant (${new Date(cap * 1000).toISOString()}).`,
      },
    };
  }
  return { ok: true, lease: { ...lease, expiresAt, durationSeconds: expiresAt - grantedAt } };
}
