import { ConcurrentModificationError } from '../core/errors';
import { wantedAccess } from '../core/leases';
import type { AccessScope, ActualAccess, Lease, Subject, SubjectState } from '../core/model';
import { type Action, plan } from '../core/planner';
import { SubjectNotManageableError } from './errors';
import type { AccessApi, HeldLock, LeaseRepository } from './ports';

type ReconcileDeps = { readonly store: LeaseRepository; readonly eks: AccessApi };

export interface ReconcileResult {
  /** The scope each wanted policy has now. */
  readonly effective: Readonly<Record<string, AccessScope>>;
  /** What was changed in EKS (empty when it already matched). */
  readonly actions: readonly Action[];
  /** The subject's leases as read for this reconcile (not ended). */
  readonly leases: readonly Lease[];
}

const MAX_ATTEMPTS = 3;

/** The reads a reconcile starts from, already under way. */
export interface SubjectReads {
  readonly leases: Promise<Lease[]>;
  /** The subject's state as stored, read with its leases (one request). */
  readonly state: Promise<SubjectState>;
  readonly actual: Promise<ActualAccess | null>;
}

/**
 * Starts reading the subject's leases and state (one Query) and what EKS holds, together, so that EKS's
 * latency hides DynamoDB's. A caller that needs the leases before it decides to reconcile (is this lease
 * still pending? still due?) reads them from here and hands the reads to reconcileSubject. Any read may end
 * up unused when the caller finds nothing to do: none then becomes an unhandled rejection.
 */
export function startReads(deps: ReconcileDeps, subject: Subject): SubjectReads {
  const stored = deps.store.readSubject(subject);
  const reads = {
    leases: stored.then((records) => records.leases),
    state: stored.then((records) => records.state),
    actual: deps.eks.readActual(subject),
  };
  for (const read of [reads.leases, reads.state, reads.actual]) read.catch(() => undefined);
  return reads;
}

/**
 * Brings EKS to baseline + the union of the subject's valid leases. Must run holding the subject's lock; the
 * lock carries the subject state as read when it was taken and as saved since (only the holder writes it).
 * The subject state is written ahead of the EKS changes (see Plan.stateBefore) and after them, each only
 * when it changes, so a crash anywhere leaves a state from which the next reconcile finishes the job. A
 * change that raced with ours (an entry appearing or vanishing) is met by reading again and planning again.
 * `lock`: the subject's lock, held; its `state` is the cache of the subject's state described above.
 * `reads`: reads made since the lock was taken (see startReads), used by the first attempt.
 */
export async function reconcileSubject(
  deps: ReconcileDeps,
  subject: Subject,
  now: number,
  lock: HeldLock,
  options: { readonly excluding?: string; readonly reads?: SubjectReads } = {},
): Promise<ReconcileResult> {
  for (let attempt = 1; ; attempt++) {
    const reads = attempt === 1 && options.reads ? options.reads : startReads(deps, subject);
    // The lock's state is the freshest (only the holder writes it); a lock taken along with a lease's
    // creation comes without it, and the state read with the leases, after the lock was taken, is as good.
    const [state, leases, actual] = await Promise.all([
      lock.state ?? reads.state,
      reads.leases,
      reads.actual,
    ]);
    // `excluding`: a lease being ended by this invocation, whose end is saved once its access is gone.
    const counted = leases.filter((lease) => lease.requestId !== options.excluding);
    const result = plan({ state, wanted: wantedAccess(counted, now), actual });
    if (!result.ok) throw new SubjectNotManageableError(result.message);

    await saveIfChanged(deps.store, subject, state, result.stateBefore, lock);
    try {
      await deps.eks.apply(subject, result.actions);
    } catch (error) {
      if (error instanceof ConcurrentModificationError && attempt < MAX_ATTEMPTS) continue;
      throw error;
    }
    await saveIfChanged(deps.store, subject, result.stateBefore, result.stateAfter, lock);
    return { effective: result.effective, actions: result.actions, leases };
  }
}

async function saveIfChanged(
  store: LeaseRepository,
  subject: Subject,
  previous: SubjectState,
  next: SubjectState,
  lock: HeldLock,
): Promise<void> {
  if (JSON.stringify(previous) === JSON.stringify(next)) {
    lock.state = next;
    return;
  }
  // Unknown until the write is known to have happened: a failed save makes the next attempt read it.
  lock.state = undefined;
  await store.saveSubjectState(subject, next, lock.owner);
  lock.state = next;
}
