/**
 * What the use cases need from the world, named by the use cases. Adapters implement these (the lease table,
 * EKS, EventBridge, SQS); tests pass in-memory fakes kept honest by one contract suite (test/support/fakes).
 * Nothing here names an AWS service.
 */
import type { ActualAccess, Association, Lease, Subject, SubjectState } from '../core/model';
import type { Outcome } from '../core/outcomes';
import type { Action } from '../core/planner';
import type { PresignedCall } from '../core/proof';
import type { SecretRef } from '../core/tickets/config';
import type { JiraChange, JiraIssue, PagerDutyIncident } from '../core/tickets/read-back';
import type { TicketEvent } from '../core/tickets/ticket-event';
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
  /**
   * Up to `limit` live leases (not ended) in the store's own stable order, after `after` (a position an earlier
   * page gave; absent: from the first), keys only. `done`: nothing follows the last one, the pass is over. A
   * position stays valid after its lease ended. A lease whose due time moved during a pass (an extension) may be
   * met twice or not at all in that pass, never in two passes running.
   */
  liveLeasePage(after: string | undefined, limit: number): Promise<LiveLeasePage>;
  /** Where the drift check is in its pass over the live leases; undefined before its first run. */
  readDriftCursor(): Promise<DriftCursor | undefined>;
  /** Saves it (one drift check runs at a time: the last save wins). */
  saveDriftCursor(cursor: DriftCursor): Promise<void>;
}

/** A live lease as a page of liveLeasePage lists it, with the position the next page resumes after it. */
export interface LiveLeaseEntry extends LeaseRef {
  readonly position: string;
}

export interface LiveLeasePage {
  readonly entries: readonly LiveLeaseEntry[];
  readonly done: boolean;
}

/** The drift check's progress through the live leases, carried from one run to the next. */
export interface DriftCursor {
  /** The last position checked in the current pass; absent: the pass starts from the first live lease. */
  readonly position?: string;
  /** When the current pass started (epoch seconds). */
  readonly passStartedAt: number;
  /** Passes completed so far. */
  readonly passes: number;
  /** How long the last completed pass took (seconds): how stale a check can be. */
  readonly lastPassSeconds?: number;
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
  /**
   * The subject's associations alone, with one call where EKS answers them on one page (the drift check's
   * cheap read); null when it has no entry. An entry that is not STANDARD is EKS's refusal, thrown.
   */
  readAssociations(subject: Subject): Promise<Association[] | null>;
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

/**
 * A Jira site, read and written with the broker's own API token. Vendor outages and throttling are thrown as
 * RetryableError; anything else the vendor refuses as PermanentError (functions/core/errors.ts).
 */
export interface JiraApi {
  /** The issue; undefined when Jira answers 404 (deleted, or not visible to the broker's account). */
  issue(key: string): Promise<JiraIssue | undefined>;
  /** Every entry of the issue's changelog, all pages, oldest first. */
  changelog(key: string): Promise<JiraChange[]>;
  /** The names of the groups the account belongs to. */
  groupsOf(accountId: string): Promise<string[]>;
  /** Adds a comment (plain text; paragraphs separated by blank lines). */
  comment(key: string, text: string): Promise<void>;
}

/** A PagerDuty account's REST API, with the broker's API key. Errors as JiraApi's. */
export interface PagerDutyApi {
  /** The incident; undefined when PagerDuty answers 404. */
  incident(id: string): Promise<PagerDutyIncident | undefined>;
  /** Adds a note to the incident (as the integration's `from` user). */
  note(id: string, text: string): Promise<void>;
}

/** The vendor APIs of the webhook integrations, by integration id (one client per integration, built once). */
export interface TicketSystems {
  jira(integrationId: string): JiraApi;
  pagerDuty(integrationId: string): PagerDutyApi;
}

/** Secrets named in the access rules (SSM parameters or Secrets Manager secrets), cached for a few minutes. */
export interface Secrets {
  /** The secret's value; a missing secret is a PermanentError that names it. */
  get(ref: SecretRef): Promise<string>;
}

/** Where the webhook function hands a verified webhook to the intake: the requests queue. */
export interface TicketEventQueue {
  send(event: TicketEvent): Promise<void>;
}

/** The vendors' delivery ids already queued, so a redelivered webhook queues nothing. */
export interface WebhookDeliveries {
  /** Whether `deliveryId` of the integration was queued before. */
  seen(integration: string, deliveryId: string): Promise<boolean>;
  /** Remembers it at least until `keepUntil` (epoch seconds). */
  remember(integration: string, deliveryId: string, keepUntil: number): Promise<void>;
}
