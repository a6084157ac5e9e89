import { end } from '../core/leases';
import type { Lease } from '../core/model';
import * as outcomes from '../core/outcomes';
import { type AppDeps, auditEvent, nowSeconds } from './deps';

/**
 * An operator's last resort for an irrevocable lease (Vault's revoke-force): the broker stops tracking it
 * and stops retrying. Its access may remain in EKS until the next reconcile of the subject manages to take it
 * back; the `Access Revoked` event says so (reason `forgotten`), and the audit trail names the operator.
 */
export async function forgetLease(
  deps: Pick<AppDeps, 'store' | 'publisher' | 'log' | 'clock'>,
  requestId: string,
  actor: string,
  reason: string,
): Promise<Lease | undefined> {
  const lease = await deps.store.findLease(requestId);
  if (!lease || lease.status === 'ended') return lease;
  const forgotten = end(lease, 'forgotten', nowSeconds(deps), lease.lastError);
  await deps.publisher.publish([outcomes.revoked(forgotten)]);
  const saved = await deps.store.saveLease(
    forgotten,
    lease.version,
    auditEvent(deps, forgotten, 'forgotten', actor, {
      reason,
      lastError: lease.lastError,
      status: lease.status,
    }),
  );
  deps.log.warn('lease forgotten by an operator', { requestId, actor, reason, lastError: lease.lastError });
  return saved;
}
