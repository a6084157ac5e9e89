import type { Rejection } from './model';

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
