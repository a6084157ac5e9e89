import { ConcurrentModificationError, PermanentError } from '../core/errors';
import { wantedAccess } from '../core/leases';
import {
  type AccessScope,
  type ActualAccess,
  type Association,
  EMPTY_SUBJECT_STATE,
  type Lease,
  OWNER_TAG_KEY,
  OWNER_TAG_VALUE,
  type Subject,
  type SubjectState,
} from '../core/model';
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
  /** What EKS holds (entry and associations): read from the start, or at the first look when deferred. */
  readonly actual: Promise<ActualAccess | null>;
}

/**
 * Starts reading the subject's leases and state (one Query) and what EKS holds, together, so that EKS's
 * latency hides DynamoDB's. A caller that needs the leases before it decides to reconcile (is this lease
 * still pending? still due?) reads them from here and hands the reads to reconcileSubject. Any read may end
 * up unused when the caller finds nothing to do: none then becomes an unhandled rejection.
 * `deferEks`: EKS is read only if `actual` is looked at (a grant reads it no further than its plan needs).
 */
export function startReads(
  deps: ReconcileDeps,
  subject: Subject,
  options: { readonly deferEks?: boolean } = {},
): SubjectReads {
  const stored = deps.store.readSubject(subject);
  const leases = stored.then((records) => records.leases);
  const state = stored.then((records) => records.state);
  for (const read of [leases, state]) read.catch(() => undefined);
  let actual: Promise<ActualAccess | null> | undefined;
  const readActual = (): Promise<ActualAccess | null> => {
    if (!actual) {
      actual = deps.eks.readActual(subject);
      actual.catch(() => undefined);
    }
    return actual;
  };
  if (!options.deferEks) readActual();
  return {
    leases,
    state,
    get actual() {
      return readActual();
    },
  };
}

/**
 * Brings EKS to baseline + the union of the subject's valid leases. Must run holding the subject's lock; the
 * lock carries the subject state as read when it was taken and as saved since (only the holder writes it).
 * The subject state is written ahead of the EKS changes (see Plan.stateBefore) and after them, each only
 * when it changes, so a crash anywhere leaves a state from which the next reconcile finishes the job. A
 * change that raced with ours (an entry appearing or vanishing) is met by reading again and planning again.
 * `lock`: the subject's lock, held; its `state` is the cache of the subject's state described above.
 * `reads`: reads made since the lock was taken (see startReads), used by the first attempt.
 * `granting`: the requestId of the lease this reconcile grants; the first attempt reads EKS no further than
 * the grant's plan needs (see readForGrant).
 */
export async function reconcileSubject(
  deps: ReconcileDeps,
  subject: Subject,
  now: number,
  lock: HeldLock,
  options: { readonly excluding?: string; readonly reads?: SubjectReads; readonly granting?: string } = {},
): Promise<ReconcileResult> {
  /** The state the next plan starts from instead of the stored one (see the retry below). */
  let restart: SubjectState | undefined;
  for (let attempt = 1; ; attempt++) {
    const reads = attempt === 1 && options.reads ? options.reads : startReads(deps, subject);
    // The lock's state is the freshest (only the holder writes it); a lock taken along with a lease's
    // creation comes without it, and the state read with the leases, after the lock was taken, is as good.
    const [stored, leases] = await Promise.all([lock.state ?? reads.state, reads.leases]);
    const state = restart ?? stored;
    restart = undefined;
    const actual =
      attempt === 1 && options.granting !== undefined
        ? await readForGrant(deps, subject, { state, leases, requestId: options.granting, reads })
        : await reads.actual;
    // `excluding`: a lease being ended by this invocation, whose end is saved once its access is gone.
    const counted = leases.filter((lease) => lease.requestId !== options.excluding);
    const result = plan({ state, wanted: wantedAccess(counted, now), actual });
    if (!result.ok) throw new SubjectNotManageableError(result.message);

    await saveIfChanged(deps.store, subject, stored, result.stateBefore, lock);
    try {
      await deps.eks.apply(subject, result.actions);
    } catch (error) {
      if (error instanceof ConcurrentModificationError && attempt < MAX_ATTEMPTS) {
        // A plan that began by creating the entry leaves nothing of it when it meets another's change (an entry
        // was there first: ResourceInUse; or ours vanished at once): what it recorded ahead went with it, and
        // whatever entry is there now is someone else's, never adopted. The next plan starts from nothing.
        if (result.actions[0]?.kind === 'createEntry') restart = EMPTY_SUBJECT_STATE;
        continue;
      }
      throw error;
    }
    await saveIfChanged(deps.store, subject, result.stateBefore, result.stateAfter, lock);
    return { effective: result.effective, actions: result.actions, leases };
  }
}

/**
 * What EKS holds, read no further than a grant's plan needs:
 * - nothing at all for a subject the broker holds nothing of (no state, no lease but this one): its entry is
 *   planned as absent, so it is created (tagged) and the policy associated, two calls; if an entry was there
 *   after all, the create is refused (ResourceInUse) and the retry reads it and plans again;
 * - its associations alone (one call) for a subject with an active lease besides: its entry was a STANDARD
 *   one when that lease was granted, and its tags are taken as the state remembers them, as the drift check
 *   does (a grant's plan never deletes the entry; the next full read, a revocation's, finds an entry someone
 *   replaced); the entry in full when EKS refuses to list them after all (a node entry in its place);
 * - the entry in full (the reads' own) otherwise.
 */
async function readForGrant(
  deps: ReconcileDeps,
  subject: Subject,
  known: {
    readonly state: SubjectState;
    readonly leases: readonly Lease[];
    readonly requestId: string;
    readonly reads: SubjectReads;
  },
): Promise<ActualAccess | null> {
  const { state, leases, requestId, reads } = known;
  const holdsNothing = !state.entryOwned && Object.keys(state.touched).length === 0;
  if (holdsNothing && leases.every((lease) => lease.requestId === requestId)) return null;
  const granted = leases.some((lease) => lease.requestId !== requestId && lease.status === 'active');
  if (!granted) return reads.actual;
  const associated = await readAssociatedAccess(deps, subject, state);
  return associated === 'unlisted' ? reads.actual : associated;
}

/**
 * What EKS holds, from one call that lists the entry's associations: the entry is taken as a STANDARD one
 * tagged as `state` remembers it (only a full read decides ownership; the plan of a full read finds an entry
 * someone replaced). null: no entry. `unlisted`: EKS refuses to list them (a node entry in its place), which
 * only a full read can tell.
 */
export async function readAssociatedAccess(
  deps: Pick<ReconcileDeps, 'eks'>,
  subject: Subject,
  state: SubjectState,
): Promise<ActualAccess | null | 'unlisted'> {
  let associations: Association[] | null;
  try {
    associations = await deps.eks.readAssociations(subject);
  } catch (error) {
    if (error instanceof PermanentError) return 'unlisted';
    throw error;
  }
  if (associations === null) return null;
  const tags: Record<string, string> = state.entryOwned ? { [OWNER_TAG_KEY]: OWNER_TAG_VALUE } : {};
  return { entryType: 'STANDARD', tags, associations };
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
