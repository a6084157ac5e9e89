import { checkAudit } from '../../../functions/adapters/lease-table/lease-records';
import { OwnLock } from '../../../functions/adapters/lease-table/subject-lock';
import type {
  AuditEvent,
  CreateLeaseResult,
  DueLease,
  HeldLock,
  LeaseRepository,
  SubjectLocks,
} from '../../../functions/app/ports';
import {
  ConcurrentModificationError,
  PermanentError,
  SubjectBusyError,
} from '../../../functions/core/errors';
import {
  EMPTY_SUBJECT_STATE,
  type Lease,
  type Subject,
  type SubjectState,
} from '../../../functions/core/model';
import { describeSubject, sameSubject, subjectKey } from '../../../functions/core/subject';

/** The real table's lock lifetime (functions/adapters/lease-table/subject-lock.ts): a crashed holder blocks this long. */
const LOCK_TTL_SECONDS = 60;
/** The real table's default wait for a busy subject, when the caller names none. */
const DEFAULT_WAIT_MS = 5_000;
const BACKOFF_BASE_MS = 25;
const BACKOFF_CAP_MS = 500;

/** The subject's item as the real table keeps it: the lock and the state live together. */
interface SubjectRecord {
  lockOwner?: string;
  /** Epoch seconds of the lock holder's clock. */
  lockUntil?: number;
  state?: SubjectState;
}

export type MemoryLeaseTableOperation = keyof LeaseRepository | 'withLock' | 'release' | 'remember';

export interface MemoryLeaseTableOptions {
  /** How the busy wait sleeps between attempts; real time by default, as the real table waits. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * The lease table in memory, with the semantics the DynamoDB adapter has (functions/adapters/lease-table):
 * the request pointer as idempotency key, the lock taken in createLease's transaction or the lease created
 * alone, version conditions, unlock in the same write, the lock's owner condition on the subject's state,
 * lock expiry in the caller's epoch seconds, and the `due` index. Everything is copied in and out the way
 * marshalling does (undefined dropped at any depth), so a caller cannot change stored state by mutating what
 * it passed or got. test/support/lease-table-contract.ts runs the same tests against both, so they cannot drift.
 */
export class MemoryLeaseTable implements LeaseRepository, SubjectLocks {
  /** Calls per operation, so a test can say "nothing was written". */
  readonly calls = new Map<MemoryLeaseTableOperation, number>();
  private readonly pointers = new Map<string, { subject: Subject; fingerprint: string }>();
  private readonly leases = new Map<string, Map<string, Lease>>();
  private readonly subjects = new Map<string, SubjectRecord>();
  /** Per requestId, keyed as the real audit items are (time, then lease version): a Put on the same key replaces. */
  private readonly audits = new Map<string, Map<string, AuditEvent>>();
  private readonly failures: { operation: MemoryLeaseTableOperation; error: Error }[] = [];
  /** Proof nonces and until when they are kept (the real table's item `N#<nonce>`, TTL purgeAt). */
  private readonly nonces = new Map<string, number>();
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: MemoryLeaseTableOptions = {}) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** The next call of `operation` throws `error` and changes nothing: an outage of the table, once. */
  failNext(operation: MemoryLeaseTableOperation, error: Error): void {
    this.failures.push({ operation, error });
  }

  async createLease(
    lease: Lease,
    audit: AuditEvent,
    options: { readonly lock?: { readonly owner: string; readonly now: number } } = {},
  ): Promise<CreateLeaseResult> {
    this.enter('createLease');
    checkAudit(lease, audit);
    const pointer = this.pointers.get(lease.requestId);
    if (pointer !== undefined) {
      return {
        created: false,
        existing: this.leaseAt(pointer.subject, lease.requestId),
        fingerprint: pointer.fingerprint,
      };
    }
    const orphan = this.leaseAt(lease, lease.requestId);
    // The lease without its pointer: only TTL removing the pointer first gets there in DynamoDB.
    if (orphan !== undefined) return { created: false, existing: orphan, fingerprint: orphan.fingerprint };

    const stored = storedLease(lease);
    this.pointers.set(lease.requestId, {
      subject: { clusterName: lease.clusterName, principalArn: lease.principalArn },
      fingerprint: lease.fingerprint,
    });
    this.leasesOf(lease).set(lease.requestId, stored);
    this.putAudit(audit, lease.version);
    const lock = options.lock;
    // A lock held by another leaves the lease created alone: the real adapter retries the transaction without it.
    if (lock === undefined || !this.takeLockRecord(lease, lock.owner, lock.now)) return { created: true };
    // The lock comes without the subject's state, as from the transaction: the holder reads it when needed.
    return { created: true, lock: this.newLock(lease, lock.owner, undefined) };
  }

  async findLease(requestId: string): Promise<Lease | undefined> {
    this.enter('findLease');
    const pointer = this.pointers.get(requestId);
    return pointer === undefined ? undefined : this.leaseAt(pointer.subject, requestId);
  }

  async findSubjectLease(subject: Subject, requestId: string): Promise<Lease | undefined> {
    this.enter('findSubjectLease');
    return this.leaseAt(subject, requestId);
  }

  async readSubject(subject: Subject): Promise<{ leases: Lease[]; state: SubjectState }> {
    this.enter('readSubject');
    // The real Query returns the subject's partition in sort-key order: `L#<requestId>`.
    const leases = [...(this.leases.get(subjectKey(subject))?.values() ?? [])]
      .filter((lease) => lease.status !== 'ended')
      .sort((a, b) => compareStrings(a.requestId, b.requestId))
      .map(copy);
    return { leases, state: this.stateOf(subject) };
  }

  async saveLease(
    lease: Lease,
    expectedVersion: number,
    audit: AuditEvent,
    options: { readonly unlock?: HeldLock } = {},
  ): Promise<Lease> {
    this.enter('saveLease');
    checkAudit(lease, audit);
    // Like the real adapter, only a lock this table took and still holds is freed along with the save.
    const unlock = options.unlock instanceof OwnLock && options.unlock.held ? options.unlock : undefined;
    if (unlock !== undefined && !sameSubject(unlock.subject, lease)) {
      throw new PermanentError(`saveLease of ${lease.requestId} was given the lock of another subject`);
    }
    const current = this.leaseAt(lease, lease.requestId);
    if (current === undefined || current.version !== expectedVersion) {
      throw new ConcurrentModificationError('saveLease: the item changed meanwhile (condition failed)');
    }
    const saved: Lease = { ...lease, version: expectedVersion + 1 };
    this.leasesOf(lease).set(lease.requestId, storedLease(saved));
    this.putAudit(audit, saved.version);
    if (unlock !== undefined) {
      // A lock taken over meanwhile does not stop the save: the lease is written without freeing it.
      const freed = this.subjects.get(subjectKey(lease))?.lockOwner === unlock.owner;
      if (freed) this.removeLock(lease);
      unlock.freedWith(freed);
    }
    return copy(saved);
  }

  async saveSubjectState(subject: Subject, state: SubjectState, lockOwner: string): Promise<void> {
    this.enter('saveSubjectState');
    const record = this.subjects.get(subjectKey(subject));
    // The condition is the owner alone, as in the real update: a lock past its time still counts until taken over.
    if (record?.lockOwner !== lockOwner) {
      throw new ConcurrentModificationError(
        `The lock on ${describeSubject(subject)} is not held by ${lockOwner}: its state was not saved`,
      );
    }
    record.state = stored(state);
  }

  async dueKeys(now: number, limit: number): Promise<DueLease[]> {
    this.enter('dueKeys');
    checkLimit(limit);
    return this.dueEntries(now, undefined)
      .slice(0, limit)
      .map(({ lease, dueAt }) => ({
        clusterName: lease.clusterName,
        principalArn: lease.principalArn,
        requestId: lease.requestId,
        dueAt,
      }));
  }

  async dueLeases(now: number, limit: number, options: { readonly after?: number } = {}): Promise<Lease[]> {
    this.enter('dueLeases');
    checkLimit(limit);
    return this.dueEntries(now, options.after)
      .slice(0, limit)
      .map(({ lease }) => copy(lease));
  }

  async listLiveLeases(limit: number): Promise<Lease[]> {
    this.enter('listLiveLeases');
    checkLimit(limit);
    return this.dueEntries(Number.MAX_SAFE_INTEGER, undefined)
      .slice(0, limit)
      .map(({ lease }) => copy(lease));
  }

  async withLock<T>(
    subject: Subject,
    owner: string,
    now: () => number,
    work: (lock: HeldLock) => Promise<T>,
    options: { readonly waitMs?: number; readonly held?: HeldLock } = {},
  ): Promise<T> {
    this.enter('withLock');
    const deadline = Date.now() + (options.waitMs ?? DEFAULT_WAIT_MS);
    if (
      options.held !== undefined &&
      (options.held.owner !== owner || !sameSubject(options.held.subject, subject))
    ) {
      throw new Error(`withLock: the lock handed in is not ${owner}'s on ${describeSubject(subject)}`);
    }
    let lock = options.held ?? this.takeLock(subject, owner, now());
    for (let attempt = 0; lock === undefined; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0)
        throw new SubjectBusyError(`${describeSubject(subject)} is locked by another invocation`);
      await this.sleep(
        Math.min(remaining, Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt)),
      );
      lock = this.takeLock(subject, owner, now());
    }
    const held = lock;
    let result: T;
    try {
      result = await work(held);
    } catch (error) {
      await held.release().catch(() => false);
      throw error;
    }
    await held.release();
    return result;
  }

  /** Like the real table's conditional Put: the first remember of a nonce wins, any later one is false. */
  async remember(nonce: string, keepUntil: number): Promise<boolean> {
    this.enter('remember');
    if (this.nonces.has(nonce)) return false;
    this.nonces.set(nonce, keepUntil);
    return true;
  }

  // ---- Inspection for tests: what DynamoDB would show in the table --------------------------------------

  /** Until when (epoch seconds) `nonce` is kept; undefined when it was never remembered. */
  nonceKeptUntil(nonce: string): number | undefined {
    return this.nonces.get(nonce);
  }

  /** Every audit event of grant `requestId`, in the order of their keys (time, then lease version). */
  history(requestId: string): AuditEvent[] {
    const events = this.audits.get(requestId) ?? new Map<string, AuditEvent>();
    return [...events.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, event]) => copy(event));
  }

  /** Who holds the subject's lock and until when (epoch seconds); undefined when it is free. */
  lockOf(subject: Subject): { readonly owner: string; readonly until: number } | undefined {
    const record = this.subjects.get(subjectKey(subject));
    if (record?.lockOwner === undefined || record.lockUntil === undefined) return undefined;
    return { owner: record.lockOwner, until: record.lockUntil };
  }

  /** The subject's state as stored (the empty state when none was saved). */
  stateOf(subject: Subject): SubjectState {
    const state = this.subjects.get(subjectKey(subject))?.state;
    return state === undefined ? EMPTY_SUBJECT_STATE : copy(state);
  }

  // ---- Internals ------------------------------------------------------------------------------------------

  private enter(operation: MemoryLeaseTableOperation): void {
    this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
    const index = this.failures.findIndex((failure) => failure.operation === operation);
    if (index < 0) return;
    const [failure] = this.failures.splice(index, 1);
    if (failure) throw failure.error;
  }

  private leasesOf(subject: Subject): Map<string, Lease> {
    const key = subjectKey(subject);
    let leases = this.leases.get(key);
    if (leases === undefined) {
      leases = new Map();
      this.leases.set(key, leases);
    }
    return leases;
  }

  private leaseAt(subject: Subject, requestId: string): Lease | undefined {
    const lease = this.leases.get(subjectKey(subject))?.get(requestId);
    return lease === undefined ? undefined : copy(lease);
  }

  private putAudit(audit: AuditEvent, version: number): void {
    let events = this.audits.get(audit.requestId);
    if (events === undefined) {
      events = new Map();
      this.audits.set(audit.requestId, events);
    }
    events.set(auditKey(audit.at, version), stored(audit));
  }

  /** The `due` index: every lease not ended, at its next attempt else its expiry, in the index's order. */
  private dueEntries(now: number, after: number | undefined): { lease: Lease; dueAt: number }[] {
    const entries: { lease: Lease; dueAt: number }[] = [];
    for (const leases of this.leases.values()) {
      for (const lease of leases.values()) {
        if (lease.status === 'ended') continue;
        const dueAt = lease.nextAttemptAt ?? lease.expiresAt;
        if (dueAt <= now && (after === undefined || dueAt > after)) entries.push({ lease, dueAt });
      }
    }
    return entries.sort((a, b) => a.dueAt - b.dueAt || compareStrings(a.lease.requestId, b.lease.requestId));
  }

  /** The lock update's condition: free, expired (by the taker's clock), or already `owner`'s (re-entry extends it). */
  private takeLockRecord(subject: Subject, owner: string, now: number): boolean {
    const key = subjectKey(subject);
    const record = this.subjects.get(key) ?? {};
    const free =
      record.lockOwner === undefined || (record.lockUntil ?? 0) <= now || record.lockOwner === owner;
    if (!free) return false;
    record.lockOwner = owner;
    record.lockUntil = now + LOCK_TTL_SECONDS;
    this.subjects.set(key, record);
    return true;
  }

  /** A lock taken alone answers the subject's state with it, as the real update does (ReturnValues ALL_NEW). */
  private takeLock(subject: Subject, owner: string, now: number): OwnLock | undefined {
    if (!this.takeLockRecord(subject, owner, now)) return undefined;
    return this.newLock(subject, owner, this.stateOf(subject));
  }

  private newLock(subject: Subject, owner: string, state: SubjectState | undefined): OwnLock {
    const own = { clusterName: subject.clusterName, principalArn: subject.principalArn };
    return new OwnLock(async () => this.releaseLock(own, owner), own, owner, state);
  }

  private releaseLock(subject: Subject, owner: string): boolean {
    this.enter('release');
    if (this.subjects.get(subjectKey(subject))?.lockOwner !== owner) return false;
    this.removeLock(subject);
    return true;
  }

  private removeLock(subject: Subject): void {
    const record = this.subjects.get(subjectKey(subject));
    if (record === undefined) return;
    delete record.lockOwner;
    delete record.lockUntil;
  }
}

/** The fields the real item mapping keeps: anything else a caller puts on a lease is not stored. */
const LEASE_FIELDS: readonly (keyof Lease)[] = [
  'requestId',
  'clusterName',
  'principalArn',
  'policyArn',
  'accessScope',
  'status',
  'breakGlass',
  'requestedBy',
  'reason',
  'ticket',
  'ruleId',
  'maxDurationSeconds',
  'durationSeconds',
  'requestedAt',
  'grantedAt',
  'expiresAt',
  'endedAt',
  'endReason',
  'lastError',
  'nextAttemptAt',
  'revokeAttempts',
  'extensions',
  'fingerprint',
  'version',
  'origin',
];

function storedLease(lease: Lease): Lease {
  const picked: Partial<Record<keyof Lease, unknown>> = {};
  for (const field of LEASE_FIELDS) picked[field] = lease[field];
  if (lease.status === 'ended' && lease.endedAt === undefined) {
    throw new PermanentError(`Lease ${lease.requestId} is ended but has no endedAt`);
  }
  return stored(picked as Lease);
}

/** A value as it comes back from DynamoDB through the document client: undefined dropped at any depth. */
function stored<T>(value: T): T {
  return copy(value);
}

function copy<T>(value: T): T {
  return withoutUndefined(value) as T;
}

function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) {
    const list: unknown[] = value;
    return list.filter((element) => element !== undefined).map(withoutUndefined);
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, field]) => field !== undefined)
        .map(([key, field]) => [key, withoutUndefined(field)]),
    );
  }
  return value;
}

function auditKey(at: number, version: number): string {
  return `${String(at).padStart(15, '0')}#${String(version).padStart(10, '0')}`;
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`limit must be a positive integer: ${limit}`);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
