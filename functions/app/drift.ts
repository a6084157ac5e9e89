import { randomUUID } from 'node:crypto';
import { SubjectBusyError } from '../core/errors';
import type { Lease, Subject } from '../core/model';
import * as outcomes from '../core/outcomes';
import { type AppDeps, nowSeconds } from './deps';
import { forEachLimited } from './expiry';
import { reconcileSubject } from './reconcile-subject';

export interface DriftReport {
  readonly subjects: number;
  readonly repaired: number;
  /** Subjects left for the sweeper or the intake (a lease is due or pending there) or held by another invocation. */
  readonly skipped: number;
}

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
  const live = await deps.store.dueLeases(Number.MAX_SAFE_INTEGER, options.limit ?? 1000);
  const bySubject = new Map<string, Lease[]>();
  for (const lease of live) {
    const key = `${lease.clusterName}\u0000${lease.principalArn}`;
    bySubject.set(key, [...(bySubject.get(key) ?? []), lease]);
  }
  deps.metrics.add('DriftSubjectsChecked', bySubject.size);
  let repaired = 0;
  let skipped = 0;
  const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
  await forEachLimited([...bySubject.values()], options.concurrency ?? 4, async (leases) => {
    const subject: Subject = leases[0] as Lease;
    if (Date.now() >= deadline || !leases.every((l) => l.status === 'active' && l.expiresAt > now)) {
      skipped++;
      return;
    }
    try {
      await deps.store.withLock(
        subject,
        randomUUID(),
        () => nowSeconds(deps),
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
      if (!(error instanceof SubjectBusyError)) throw error;
      skipped++;
    }
  });
  return { subjects: bySubject.size, repaired, skipped };
}
