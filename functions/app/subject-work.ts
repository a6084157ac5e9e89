import { randomUUID } from 'node:crypto';
import { PermanentError } from '../core/errors';
import type { Lease, Subject } from '../core/model';
import { type AppDeps, nowSeconds } from './deps';
import type { HeldLock, LeaseRef } from './ports';
import { reconcileSubject, type SubjectReads } from './reconcile-subject';

/**
 * The one way a use case works on a subject: holding its lock, waited for up to the configured time (then
 * SubjectBusyError, so the message comes back later), freed however the work ends.
 * `held`: the lock createLease already took for this invocation; the work then runs at once.
 * `waitMs`: another wait than the configured one (0: give up at once when the subject is busy).
 */
export function underSubjectLock<T>(
  deps: Pick<AppDeps, 'locks' | 'clock' | 'lockWaitMs'>,
  subject: Subject,
  work: (lock: HeldLock) => Promise<T>,
  options: { readonly held?: HeldLock; readonly waitMs?: number } = {},
): Promise<T> {
  const held = options.held;
  return deps.locks.withLock(subject, held?.owner ?? randomUUID(), () => nowSeconds(deps), work, {
    waitMs: options.waitMs ?? deps.lockWaitMs,
    ...(held ? { held } : {}),
  });
}

/**
 * A lease as it is now, read under its subject's lock: from the subject's reads when it is among them (a
 * lease that has not ended), else by key. Undefined: it is not there at all.
 */
export async function rereadLease(
  deps: Pick<AppDeps, 'store'>,
  ref: LeaseRef,
  reads?: SubjectReads,
): Promise<Lease | undefined> {
  const read = reads ? (await reads.leases).find((lease) => lease.requestId === ref.requestId) : undefined;
  return read ?? deps.store.findSubjectLease(ref, ref.requestId);
}

/**
 * Takes back whatever part of `lease` the subject holds, keeping what its other leases and the baseline need.
 * Answers the PermanentError when the broker may change nothing there (a node entry in its place): the subject
 * then holds nothing of this lease to take back. Anything else is thrown.
 */
export async function rollBack(
  deps: AppDeps,
  lease: Lease,
  lock: HeldLock,
  reads?: SubjectReads,
): Promise<PermanentError | undefined> {
  try {
    await reconcileSubject(deps, lease, nowSeconds(deps), lock, {
      excluding: lease.requestId,
      ...(reads ? { reads } : {}),
    });
    return undefined;
  } catch (error) {
    if (error instanceof PermanentError) return error;
    throw error;
  }
}
