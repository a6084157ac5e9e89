import { wantedAccess } from '../core/leases';
import type { Lease, Subject, SubjectState } from '../core/model';
import * as outcomes from '../core/outcomes';
import type { Action } from '../core/planner';
import { plan } from '../core/planner';
import { type AppDeps, nowSeconds } from './deps';
import { readAssociatedAccess, reconcileSubject } from './reconcile-subject';
import { underSubjectLock } from './subject-work';

/** A subject's leases (not ended) and state, as one read of the lease table gives them. */
export interface SubjectRecords {
  readonly leases: readonly Lease[];
  readonly state: SubjectState;
}

/**
 * Whether the subject is the drift check's to look at: it has leases, and every one is active and unexpired.
 * A pending lease is a grant under way, an expired or irrevocable one the sweeper's; repairing those here would
 * report an ordinary grant or expiry as drift, and their own reconcile reads EKS under the lock anyway.
 */
export function settledLeases(records: SubjectRecords, now: number): boolean {
  return (
    records.leases.length > 0 &&
    records.leases.every((lease) => lease.status === 'active' && lease.expiresAt > now)
  );
}

/**
 * Compares what EKS holds with what the leases need, without the subject's lock, with one EKS read (its
 * associations). The actions the planner would take: none means in sync. Only the lock holder changes EKS, so
 * a difference seen here is checked again under the lock before anything is repaired. The entry's tags are
 * not read: taken as the state remembers them, since only the repair's own full read decides ownership. An
 * entry EKS refuses to list (a node entry) is a difference: the repair's read tells what it is.
 */
export async function findDrift(
  deps: Pick<AppDeps, 'eks'>,
  subject: Subject,
  records: SubjectRecords,
  now: number,
): Promise<readonly Action[] | 'unreadable'> {
  const actual = await readAssociatedAccess(deps, subject, records.state);
  if (actual === 'unlisted') return 'unreadable';
  const result = plan({ state: records.state, wanted: wantedAccess(records.leases, now), actual });
  return result.ok ? result.actions : 'unreadable';
}

/** What a repair changed in EKS; empty when, under the lock, EKS was found in sync after all. */
export interface Repair {
  readonly actions: readonly Action[];
}

/** The change CloudTrail recorded that set a repair off, reported with it. */
export interface RepairCause {
  readonly eventName: string;
  readonly changedBy: string;
  readonly eventId?: string;
  readonly eventTime?: string;
}

/**
 * Puts back what the subject's leases need, holding its lock (waited for up to `waitMs`, then
 * SubjectBusyError): reconciles through the planner, and when that changed EKS publishes `Access Drift
 * Repaired` with the actions and the leases that needed them.
 */
export async function repairDrift(
  deps: AppDeps,
  subject: Subject,
  options: { readonly waitMs: number; readonly cause?: RepairCause },
): Promise<Repair> {
  return underSubjectLock(
    deps,
    subject,
    async (lock) => {
      const result = await reconcileSubject(deps, subject, nowSeconds(deps), lock);
      if (result.actions.length === 0) return { actions: [] };
      const requestIds = result.leases.map((lease) => lease.requestId);
      await deps.publisher.publish([
        outcomes.driftRepaired(subject, result.actions, requestIds, options.cause),
      ]);
      deps.metrics.add('DriftRepaired');
      deps.log.warn('access drift repaired', {
        clusterName: subject.clusterName,
        principalArn: subject.principalArn,
        actions: result.actions,
        requestIds,
        ...(options.cause ? { change: options.cause } : {}),
      });
      return { actions: result.actions };
    },
    { waitMs: options.waitMs },
  );
}
