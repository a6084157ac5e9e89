import { createHash } from 'node:crypto';
import { extend, originOf } from '../core/leases';
import type { Caller, ExtendRequest, Lease } from '../core/model';
import * as outcomes from '../core/outcomes';
import { integrationMismatch, unknownRequest } from '../core/rejections';
import { type AppDeps, auditEvent } from './deps';
import { armIfSoon } from './expiry';
import type { HandleResult } from './handle-request';
import { publishRejection } from './reject';
import { rereadLease, underSubjectLock } from './subject-work';

/**
 * Moves the expiry, capped by the rule's max duration from the first grant, and re-arms the timer (the old
 * one becomes stale). An extension is known by its content, so a repeated delivery extends only once.
 */
export async function extendLease(
  deps: AppDeps,
  request: ExtendRequest,
  caller: Caller,
): Promise<HandleResult> {
  const known = await deps.store.findLease(request.requestId);
  if (!known) return publishRejection(deps, unknownRequest(request.requestId), { request, caller });
  const mismatch = integrationMismatch(known, caller);
  if (mismatch) return publishRejection(deps, mismatch, { request, caller });
  const key = extensionKey(request);
  if (known.extensions?.includes(key)) {
    deps.metrics.add('DuplicateRequests');
    return { status: 'duplicate', lease: known };
  }
  // Under the subject's lock, so that an extension cannot interleave with the expiry of the same lease
  // (taking its access back, then finding it extended) nor revive one whose access is already gone.
  return underSubjectLock(deps, known, async (): Promise<HandleResult> => {
    const found = (await rereadLease(deps, known)) ?? known;
    if (found.extensions?.includes(key)) {
      deps.metrics.add('DuplicateRequests');
      return { status: 'duplicate', lease: found };
    }
    // The instant of the decision is the instant on its audit event: an extension decided before the expiry
    // is recorded before it, however long arming and publishing take afterwards (the lock is held meanwhile).
    const decidedAt = deps.clock();
    const now = Math.floor(decidedAt / 1000);
    const result = extend(found, request, now);
    if (!result.ok) return publishRejection(deps, result.rejection, { request, caller });
    const extended: Lease = { ...result.lease, extensions: [...(found.extensions ?? []), key] };
    await armIfSoon(deps, extended, now);
    const origin = originOf(caller);
    await deps.publisher.publish([outcomes.extended(extended, found.expiresAt, origin)]);
    const saved = await deps.store.saveLease(extended, found.version, {
      ...auditEvent(deps, extended, 'extended', request.requestedBy, {
        reason: request.reason,
        addedSeconds: request.durationSeconds,
        previousExpiresAt: found.expiresAt,
        expiresAt: extended.expiresAt,
        origin,
      }),
      at: decidedAt,
    });
    deps.metrics.add('AccessExtended');
    deps.log.info('access extended', { requestId: saved.requestId, expiresAt: saved.expiresAt });
    return { status: 'extended', lease: saved };
  });
}

/** What makes two extend requests the same extension: a repeat of one is applied once. */
export function extensionKey(request: ExtendRequest): string {
  return createHash('sha256')
    .update(JSON.stringify([request.durationSeconds, request.requestedBy, request.reason]))
    .digest('base64url')
    .slice(0, 22);
}
