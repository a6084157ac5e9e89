import type { AccessEntryChange } from '../core/access-change';
import { PermanentError } from '../core/errors';
import type { Subject } from '../core/model';
import { type AppDeps, nowSeconds } from './deps';
import { findDrift, repairDrift, settledLeases } from './drift-repair';

export type ChangeResult =
  /** The cluster is not one of the rules', or not where the rules say it is. */
  | { readonly status: 'not-managed'; readonly reason: string }
  /** The broker holds no lease and no state for the subject: the change is nobody's business here. */
  | { readonly status: 'not-ours' }
  /** A lease is pending, due or irrevocable: the intake or the sweeper reconciles it, the periodic check after. */
  | { readonly status: 'left' }
  | { readonly status: 'in-sync' }
  /** The broker may change nothing there (a node entry took the principal's place): logged, not retried. */
  | { readonly status: 'not-manageable'; readonly reason: string }
  | { readonly status: 'repaired'; readonly actions: number };

/**
 * Someone other than the broker changed an access entry (CloudTrail saw the call): if the broker has leases on
 * that subject, it compares at once without the lock, and only a difference is repaired under the lock (waited
 * for as long as any request waits; busy after that is SubjectBusyError, retried), with an `Access Drift
 * Repaired` event that names the change. The periodic drift check covers whatever this misses (no trail, a
 * lost event).
 */
export async function repairAfterChange(deps: AppDeps, change: AccessEntryChange): Promise<ChangeResult> {
  const cluster = deps.rules.clusters.find((candidate) => candidate.name === change.clusterName);
  if (!cluster) return { status: 'not-managed', reason: `cluster ${change.clusterName} is not in the rules` };
  if (cluster.region !== change.region || cluster.accountId !== change.accountId) {
    return {
      status: 'not-managed',
      reason: `the rules' ${cluster.name} is in ${cluster.accountId} ${cluster.region}, the change in ${change.accountId} ${change.region}`,
    };
  }
  const subject: Subject = { clusterName: change.clusterName, principalArn: change.principalArn };
  const records = await deps.store.readSubject(subject);
  const remembered = records.state.entryOwned || Object.keys(records.state.touched).length > 0;
  if (records.leases.length === 0 && !remembered) return { status: 'not-ours' };
  const now = nowSeconds(deps);
  if (!settledLeases(records, now)) return { status: 'left' };
  const drift = await findDrift(deps, subject, records, now);
  if (drift !== 'unreadable' && drift.length === 0) return { status: 'in-sync' };
  let repair: Awaited<ReturnType<typeof repairDrift>>;
  try {
    repair = await repairDrift(deps, subject, {
      waitMs: deps.lockWaitMs,
      cause: {
        eventName: change.eventName,
        changedBy: change.changedBy,
        ...(change.eventId === undefined ? {} : { eventId: change.eventId }),
        ...(change.eventTime === undefined ? {} : { eventTime: change.eventTime }),
      },
    });
  } catch (error) {
    // Retrying cannot help; the periodic check meets it too, and fails its run (alarmed).
    if (!(error instanceof PermanentError)) throw error;
    deps.log.error('drift could not be repaired', {
      clusterName: subject.clusterName,
      principalArn: subject.principalArn,
      change,
      error: error.message,
    });
    return { status: 'not-manageable', reason: error.message };
  }
  return repair.actions.length > 0
    ? { status: 'repaired', actions: repair.actions.length }
    : { status: 'in-sync' };
}
