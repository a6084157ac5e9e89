import type { BrokerRequest, Caller, Lease, Rejection } from '../core/model';
import type { AppDeps } from './deps';
import { extendLease } from './extend';
import { grantAccess } from './grant';
import { revokeLease } from './revoke';

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
 * The request use cases: grant, revoke, extend, for a caller already identified (identify-caller.ts). Each request is recorded before anything is changed, every
 * change of EKS goes through the planner under the subject's lock, and the outcome is published before the
 * lease reaches its final state, so a crash at any point is finished by the redelivery and nothing ends
 * silently.
 */
export function handleRequest(deps: AppDeps, request: BrokerRequest, caller: Caller): Promise<HandleResult> {
  switch (request.kind) {
    case 'grant':
      return grantAccess(deps, request, caller);
    case 'revoke':
      return revokeLease(deps, request, caller);
    case 'extend':
      return extendLease(deps, request, caller);
  }
}
