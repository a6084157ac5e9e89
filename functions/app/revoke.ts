import { originOf } from '../core/leases';
import type { Caller, RevokeRequest } from '../core/model';
import { integrationMismatch, unknownRequest } from '../core/rejections';
import type { AppDeps } from './deps';
import type { HandleResult } from './handle-request';
import { publishRejection } from './reject';
import { endLease } from './revocation';

/** "I'm done" or the ticket closed: the lease ends now. A failure to take the access back is retried. */
export async function revokeLease(
  deps: AppDeps,
  request: RevokeRequest,
  caller: Caller,
): Promise<HandleResult> {
  const found = await deps.store.findLease(request.requestId);
  if (!found) return publishRejection(deps, unknownRequest(request.requestId), { request, caller });
  const mismatch = integrationMismatch(found, caller);
  if (mismatch) return publishRejection(deps, mismatch, { request, caller });
  const result = await endLease(
    deps,
    request.requestId,
    { reason: 'requested', actor: request.requestedBy, onlyIfDue: false, origin: originOf(caller) },
    found,
  );
  switch (result.status) {
    case 'revoked':
      return { status: 'revoked', lease: result.lease };
    case 'already-ended':
    case 'not-due':
      deps.metrics.add('DuplicateRequests');
      return { status: 'duplicate', ...(result.lease ? { lease: result.lease } : {}) };
    case 'retry-scheduled':
    case 'irrevocable':
      return { status: 'revoking', lease: result.lease };
  }
}
