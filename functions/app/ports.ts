/**
 * What the use cases need from the world, named by the use cases. Adapters implement these (the lease table,
 * EKS, EventBridge, SQS); tests pass in-memory fakes kept honest by one contract suite (test/support/fakes).
 * Nothing here names an AWS service.
 */
import type { ActualAccess, Lease, Subject, SubjectState } from '../core/model';
import type { Outcome } from '../core/outcomes';
import type { Action } from '../core/planner';
import type { PresignedCall } from '../core/proof';
import type { TimerMessage } from '../core/timer-message';

/** One lease transition as the audit trail keeps it. */
export interface AuditEvent {
  readonly type: string;
  /** Epoch milliseconds: transitions of one request can happen within the same second. */
  readonly at: number;
  readonly actor: string;
  readonly requestId: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** Where a lease is stored: its subject and its requestId, all the `due` index gives without reading the lease. */
export interface LeaseRef extends Subject {
  readonly requestId: string;
}

/** An entry of the `due` index: a lease due at `dueAt`, as the index saw it (it lags the leases). */
export interface DueLease extends LeaseRef {
  readonly dueAt: number;
}

/**
 * A subject's lock while it is held. It carries the subject's state as the holder last read or saved it:
 * only the holder writes the state, so the copy stays true while the lock is held (undefined: read it).
 * The work may free the lock before it ends: with its last write (saveLease's `unlock`) or alone (release);
 * withLock frees it when the work ends if neither did.
 */
export interface HeldLock {
  readonly subject: Subject;
  readonly owner: string;
  state: SubjectState | undefined;
  /** False once freed: by release(), or by the save that freed it along with its own change. */
  readonly held: boolean;
  /** Frees the lock now. Later calls answer what the first did: false when it had been taken over. */
  release(): Promise<boolean>;
}

export type CreateLeaseResult =
  /** `lock`: the subject's lock, when it was asked for and free; taken in the same transaction. */
  | { readonly created: true; readonly lock?: HeldLock }
  | { readonly created: false; readonly existing: Lease | undefined; readonly fingerprint: string };

/** The leases, their request pointers (the idempotency keys), the subjects' states and the audit trail. */
export interface LeaseRepository {
  /**
   * Records a new lease, its request pointer and its first audit event, all or none. When the requestId is
   * taken, answers what is there, so the caller tells a replay (same fingerprint) from a conflicting reuse.
   * `lock`: also take the subject's lock, in the same write; a lock held by another leaves the lease created
   * without it.
   */
  createLease(
    lease: Lease,
    audit: AuditEvent,
    options?: { readonly lock?: { readonly owner: string; readonly now: number } },
  ): Promise<CreateLeaseResult>;
  /** The lease of grant `requestId`, strongly consistent. */
  findLease(requestId: string): Promise<Lease | undefined>;
  /** The lease of grant `requestId` when its subject is known: cheaper than findLease. */
  findSubjectLease(subject: Subject, requestId: string): Promise<Lease | undefined>;
  /** The subject's leases that still count (not ended) and its state, strongly consistent, in one read. */
  readSubject(subject: Subject): Promise<{ leases: Lease[]; state: SubjectState }>;
  /**
   * Writes `lease` as version `expectedVersion + 1` if the stored one is still `expectedVersion`, with its
   * audit event, all or none; a lost race throws ConcurrentModificationError. `unlock`: free the subject's
   * lock in the same write (if it was taken over meanwhile, the lease is saved without it).
   */
  saveLease(
    lease: Lease,
    expectedVersion: number,
    audit: AuditEvent,
    options?: { readonly unlock?: HeldLock },
  ): Promise<Lease>;
  /** Saves the subject's state, only while `lockOwner` holds its lock (else ConcurrentModificationError). */
  saveSubjectState(subject: Subject, state: SubjectState, lockOwner: string): Promise<void>;
  /** Due entries (due time <= now), at most `limit`, oldest first per shard, without reading the leases. */
  dueKeys(now: number, limit: number): Promise<DueLease[]>;
  /**
   * Leases due by `now` (after `after`, when given), oldest first, at most `limit`, each read again
   * strongly consistent (an entry that has meanwhile ended or moved is dropped).
   */
  dueLeases(now: number, limit: number, options?: { readonly after?: number }): Promise<Lease[]>;
  /** Leases not ended, soonest due first, at most `limit`. */
  listLiveLeases(limit: number): Promise<Lease[]>;
}

/** Serializes the work on one subject across invocations. */
export interface SubjectLocks {
  /**
   * Runs `work` holding the subject's lock, waiting up to `waitMs` for it (then SubjectBusyError, retryable),
   * and frees it however `work` ends. `now`: the clock of the lock's expiry (epoch seconds). `held`: a lock
   * `owner` already holds (taken with createLease): `work` then runs at once.
   */
  withLock<T>(
    subject: Subject,
    owner: string,
    now: () => number,
    work: (lock: HeldLock) => Promise<T>,
    options?: { readonly waitMs?: number; readonly held?: HeldLock },
  ): Promise<T>;
}

/** What the broker may read and change of a subject's EKS access. */
export interface AccessApi {
  /** The subject's access entry and its associations; null when it has none. */
  readActual(subject: Subject): Promise<ActualAccess | null>;
  /** Applies the planner's actions in order. */
  apply(subject: Subject, actions: readonly Action[]): Promise<void>;
}

/** Where outcome events go (EventBridge in AWS). Refused entries are thrown as retryable, never lost. */
export interface OutcomeSink {
  publish(outcomes: readonly Outcome[]): Promise<void>;
}

/** Precise expiry timers: a message that comes back `delaySeconds` from now. */
export interface Timers {
  /** The longest delay a timer can have; later leases are armed by the sweeper when they come within it. */
  readonly maxDelaySeconds: number;
  arm(timer: TimerMessage, delaySeconds: number): Promise<void>;
}

/**
 * Who sent an SQS message: SQS names the sender by its unique id (a role's `AROA…:session`, a user's `AIDA…`),
 * which the directory maps back to the principal ARN of an integration that may use the queue.
 */
export interface Senders {
  /** The ARN of the integration principal behind `senderId`; undefined when it is none of them. */
  principalOf(senderId: string): Promise<string | undefined>;
}

/** Asks STS who signed a requester's proof. */
export interface IdentityProofs {
  /**
   * Sends the presigned GetCallerIdentity to the broker's own STS endpoint and answers the caller's ARN;
   * undefined when STS refused it (or the proof's region is not the broker's). An outage is retryable.
   */
  callerOf(request: PresignedCall): Promise<string | undefined>;
}

/** The nonces of proofs already used. */
export interface NonceStore {
  /** Remembers `nonce` at least until `keepUntil` (epoch seconds); false when it was seen before. */
  remember(nonce: string, keepUntil: number): Promise<boolean>;
}
