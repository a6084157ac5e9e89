import { SubjectBusyError } from '../core/errors';
import type { Lease, Subject } from '../core/model';
import * as outcomes from '../core/outcomes';
import { subjectKey } from '../core/subject';
import { forEachLimited } from './concurrency';
import { type AppDeps, nowSeconds } from './deps';
import { ScheduledRunError } from './errors';
import { reconcileSubject } from './reconcile-subject';
import { underSubjectLock } from './subject-work';

export interface DriftReport {
  readonly subjects: number;
  readonly repaired: number;
  /** Subjects left for the sweeper or the intake (a lease is due or pending there) or held by another invocation. */
  readonly skipped: number;
  /** Subjects whose check failed (logged each); the run finishes the others, then throws DriftCheckError. */
  readonly errors: number;
  /** True when more live leases exist than one run reads (`limit`): those due last were not checked. */
  readonly truncated: boolean;
}

/** Live leases one run reads, soonest due first. */
export const DRIFT_LEASE_LIMIT = 1000;

/**
 * Notices when EKS no longer matches what the leases need (an entry deleted by hand, a scope changed) and
 * repairs it through the planner, with an `Access Drift Repaired` event. Only subjects whose leases are all
 * active and unexpired are checked: anything else is the sweeper's or the intake's work, and repairing it
 * here would report an ordinary expiry or grant as drift.
 */
export async function checkDrift(
  deps: AppDeps,
  options: { readonly limit?: number; readonly concurrency?: number; readonly deadline?: number } = {},
): Promise<DriftReport> {
  const now = nowSeconds(deps);
  const limit = options.limit ?? DRIFT_LEASE_LIMIT;
  const live = await deps.store.listLiveLeases(limit);
  const truncated = live.length >= limit;
  if (truncated) {
    deps.metrics.add('DriftCheckTruncated');
    deps.log.warn('drift check read only the live leases due soonest', { limit });
  }
  const bySubject = new Map<string, Lease[]>();
  for (const lease of live) {
    const key = subjectKey(lease);
    const leases = bySubject.get(key);
    if (leases) leases.push(lease);
    else bySubject.set(key, [lease]);
  }
  deps.metrics.add('DriftSubjectsChecked', bySubject.size);
  let repaired = 0;
  let skipped = 0;
  const failures: unknown[] = [];
  const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
  await forEachLimited([...bySubject.values()], options.concurrency ?? 4, async (leases) => {
    const subject: Subject = leases[0] as Lease;
    if (Date.now() >= deadline || !leases.every((l) => l.status === 'active' && l.expiresAt > now)) {
      skipped++;
      return;
    }
    try {
      await underSubjectLock(
        deps,
        subject,
        async (lock) => {
          const result = await reconcileSubject(deps, subject, nowSeconds(deps), lock);
          if (result.actions.length === 0) return;
          repaired++;
          const requestIds = result.leases.map((l) => l.requestId);
          await deps.publisher.publish([outcomes.driftRepaired(subject, result.actions, requestIds)]);
          deps.metrics.add('DriftRepaired');
          deps.log.warn('access drift repaired', {
            clusterName: subject.clusterName,
            principalArn: subject.principalArn,
            actions: result.actions,
            requestIds,
          });
        },
        { waitMs: 0 },
      );
    } catch (error) {
      if (error instanceof SubjectBusyError) {
        skipped++;
        return;
      }
      // One subject's failure (a node entry put in its place, an EKS error) must not stop the others.
      failures.push(error);
      deps.log.error('drift check could not check a subject', {
        clusterName: subject.clusterName,
        principalArn: subject.principalArn,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  });
  const report = { subjects: bySubject.size, repaired, skipped, errors: failures.length, truncated };
  if (failures.length > 0) throw new DriftCheckError(report, failures);
  return report;
}

/** A drift run that checked every subject it could but failed on some: the scheduled run errors (and alarms). */
export class DriftCheckError extends ScheduledRunError<DriftReport> {
  override readonly name = 'DriftCheckError';
  constructor(
    report: DriftReport,
    readonly failures: readonly unknown[],
  ) {
    super(`The drift check failed on ${report.errors} of ${report.subjects} subject(s)`, report);
  }
}
