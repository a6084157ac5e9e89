import type { EksAccess } from '../adapters/eks-access';
import type { LeaseStore } from '../adapters/lease-store';
import { ConcurrentModificationError, PermanentError } from '../core/errors';
import { wantedAccess } from '../core/leases';
import type { AccessScope, Lease, Subject, SubjectState } from '../core/model';
import { type Action, plan } from '../core/planner';

/** The principal already has an access entry the broker must never change (a node entry, for one). */
export class SubjectNotManageableError extends PermanentError {
  override readonly name = 'SubjectNotManageableError';
}

export interface ReconcileResult {
  /** The scope each wanted policy has now. */
  readonly effective: Readonly<Record<string, AccessScope>>;
  /** What was changed in EKS (empty when it already matched). */
  readonly actions: readonly Action[];
  /** The subject's leases as read for this reconcile (not ended). */
  readonly leases: readonly Lease[];
}

const MAX_ATTEMPTS = 3;

/**
 * Brings EKS to baseline + the union of the subject's valid leases. Must run holding the subject's lock.
 * The subject state is written ahead of the EKS changes (see Plan.stateBefore) and after them, so a crash
 * anywhere leaves a state from which the next reconcile finishes the job. A change that raced with ours
 * (an entry appearing or vanishing) is met by reading again and planning again.
 */
export async function reconcileSubject(
  deps: { store: LeaseStore; eks: EksAccess },
  subject: Subject,
  now: number,
  lockOwner: string,
  options: { readonly excluding?: string } = {},
): Promise<ReconcileResult> {
  for (let attempt = 1; ; attempt++) {
    const [state, leases, actual] = await Promise.all([
      deps.store.getSubjectState(subject),
      deps.store.leasesOf(subject),
      deps.eks.readActual(subject),
    ]);
    // `excluding`: a lease being ended by this invocation, whose end is saved once its access is gone.
    const counted = leases.filter((lease) => lease.requestId !== options.excluding);
    const result = plan({ state, wanted: wantedAccess(counted, now), actual });
    if (!result.ok) throw new SubjectNotManageableError(result.message);

    await saveIfChanged(deps.store, subject, state, result.stateBefore, lockOwner);
    try {
      await deps.eks.apply(subject, result.actions);
    } catch (error) {
      if (error instanceof ConcurrentModificationError && attempt < MAX_ATTEMPTS) continue;
      throw error;
    }
    await saveIfChanged(deps.store, subject, result.stateBefore, result.stateAfter, lockOwner);
    return { effective: result.effective, actions: result.actions, leases };
  }
}

async function saveIfChanged(
  store: LeaseStore,
  subject: Subject,
  previous: SubjectState,
  next: SubjectState,
  lockOwner: string,
): Promise<void> {
  if (JSON.stringify(previous) === JSON.stringify(next)) return;
  await store.saveSubjectState(subject, next, lockOwner);
}
