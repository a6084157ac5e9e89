import { checkAudit } from '../../../functions/adapters/lease-table/lease-records';
import { OwnLock } from '../../../functions/adapters/lease-table/subject-lock';
import type {
  AuditEvent,
  CreateLeaseResult,
  DriftCursor,
  DueLease,
  HeldLock,
  LeaseRepository,
  LiveLeasePage,
  SubjectLocks,
  WebhookDeliveries,
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

export type MemoryLeaseTableOperation =
  | keyof LeaseRepository
  | 'withLock'
  /** One attempt to take a subject's lock (the real table's conditional UpdateItem). */
  | 'lock'
  | 'release'
  | 'remember'
  | 'seenDelivery'
  | 'rememberDelivery';

export interface MemoryLeaseTableOptions {
  /** How the busy wait sleeps between attempts; real time by default, as the real table waits. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** The busy wait's clock (epoch ms) and the jitter of its backoff: real time and Math.random by default. */
  readonly now?: () => number;
  readonly random?: () => number;
  /** How each request travels to the table and back (see TableRequests); instantly when absent. */
  readonly requests?: TableRequests;
}

/**
 * The way to the table and back, for a simulator: `send` runs before a request reaches the table (it may wait,
 * letting other calls go first, or throw: the request failed on the way and changed nothing), `answer` after
 * the table did it (it may wait, or throw: the answer was lost and the change stays, as when a connection drops
 * after DynamoDB committed). Every request of the real adapter has its counterpart here, lock attempts and
 * releases included.
 */
export interface TableRequests {
  send(operation: MemoryLeaseTableOperation): Promise<void>;
  answer(operation: MemoryLeaseTableOperation): Promise<void>;
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
  /** Webhook deliveries queued and until when they are kept (the real table's item `D#<integration>#<id>`). */
  private readonly deliveryIds = new Map<string, number>();
  /** The drift check's cursor (the real table's item `C#drift`), in a box every view of `through` shares. */
  private readonly drift: { cursor?: DriftCursor } = {};
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly requests: TableRequests | undefined;

  constructor(options: MemoryLeaseTableOptions = {}) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.requests = options.requests;
  }

  /**
   * The same table through other requests: what one client (one invocation, in a simulator) sees, with its own
   * latency, faults and crash, over the shared items.
   */
  through(requests: TableRequests): MemoryLeaseTable {
    return Object.create(this, { requests: { value: requests } }) as MemoryLeaseTable;
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
    await this.request('createLease');
    checkAudit(lease, audit);
    const pointer = this.pointers.get(lease.requestId);
    if (pointer !== undefined) {
      return this.answer('createLease', {
        created: false,
        existing: this.leaseAt(pointer.subject, lease.requestId),
        fingerprint: pointer.fingerprint,
      });
    }
    const orphan = this.leaseAt(lease, lease.requestId);
    // The lease without its pointer: only TTL removing the pointer first gets there in DynamoDB.
    if (orphan !== undefined) {
      return this.answer('createLease', {
        created: false,
        existing: orphan,
        fingerprint: orphan.fingerprint,
      });
    }

    const stored = storedLease(lease);
    this.pointers.set(lease.requestId, {
      subject: { clusterName: lease.clusterName, principalArn: lease.principalArn },
      fingerprint: lease.fingerprint,
    });
    this.leasesOf(lease).set(lease.requestId, stored);
    this.putAudit(audit, lease.version);
    const lock = options.lock;
    // A lock held by another leaves the lease created alone: the real adapter retries the transaction without it.
    if (lock === undefined || !this.takeLockRecord(lease, lock.owner, lock.now)) {
      return this.answer('createLease', { created: true });
    }
    // The lock comes without the subject's state, as from the transaction: the holder reads it when needed.
    return this.answer('createLease', { created: true, lock: this.newLock(lease, lock.owner, undefined) });
  }

  async findLease(requestId: string): Promise<Lease | undefined> {
    await this.request('findLease');
    const pointer = this.pointers.get(requestId);
    return this.answer(
      'findLease',
      pointer === undefined ? undefined : this.leaseAt(pointer.subject, requestId),
    );
  }

  async findSubjectLease(subject: Subject, requestId: string): Promise<Lease | undefined> {
    await this.request('findSubjectLease');
    return this.answer('findSubjectLease', this.leaseAt(subject, requestId));
  }

  async readSubject(subject: Subject): Promise<{ leases: Lease[]; state: SubjectState }> {
    await this.request('readSubject');
    // The real Query returns the subject's partition in sort-key order: `L#<requestId>`.
    const leases = [...(this.leases.get(subjectKey(subject))?.values() ?? [])]
      .filter((lease) => lease.status !== 'ended')
      .sort((a, b) => compareStrings(a.requestId, b.requestId))
      .map(copy);
    return this.answer('readSubject', { leases, state: this.stateOf(subject) });
  }

  async saveLease(
    lease: Lease,
    expectedVersion: number,
    audit: AuditEvent,
    options: { readonly unlock?: HeldLock } = {},
  ): Promise<Lease> {
    await this.request('saveLease');
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
    return this.answer('saveLease', copy(saved));
  }

  async saveSubjectState(subject: Subject, state: SubjectState, lockOwner: string): Promise<void> {
    await this.request('saveSubjectState');
    const record = this.subjects.get(subjectKey(subject));
    // The condition is the owner alone, as in the real update: a lock past its time still counts until taken over.
    if (record?.lockOwner !== lockOwner) {
      throw new ConcurrentModificationError(
        `The lock on ${describeSubject(subject)} is not held by ${lockOwner}: its state was not saved`,
      );
    }
    record.state = stored(state);
    await this.answer('saveSubjectState', undefined);
  }

  async dueKeys(now: number, limit: number): Promise<DueLease[]> {
    await this.request('dueKeys');
    checkLimit(limit);
    const due = this.dueEntries(now, undefined)
      .slice(0, limit)
      .map(({ lease, dueAt }) => ({
        clusterName: lease.clusterName,
        principalArn: lease.principalArn,
        requestId: lease.requestId,
        dueAt,
      }));
    return this.answer('dueKeys', due);
  }

  async dueLeases(now: number, limit: number, options: { readonly after?: number } = {}): Promise<Lease[]> {
    await this.request('dueLeases');
    checkLimit(limit);
    const due = this.dueEntries(now, options.after)
      .slice(0, limit)
      .map(({ lease }) => copy(lease));
    return this.answer('dueLeases', due);
  }

  async listLiveLeases(limit: number): Promise<Lease[]> {
    await this.request('listLiveLeases');
    checkLimit(limit);
    const live = this.dueEntries(Number.MAX_SAFE_INTEGER, undefined)
      .slice(0, limit)
      .map(({ lease }) => copy(lease));
    return this.answer('listLiveLeases', live);
  }

  /**
   * One order for every live lease (due time, request id, subject), as the real table's is one per shard; a
   * position is the last entry's place in it, and stays valid once that lease ended.
   */
  async liveLeasePage(after: string | undefined, limit: number): Promise<LiveLeasePage> {
    await this.request('liveLeasePage');
    checkLimit(limit);
    const from = after === undefined ? undefined : (JSON.parse(after) as PagePosition);
    const entries = this.dueEntries(Number.MAX_SAFE_INTEGER, undefined)
      .map(
        ({ lease, dueAt }): PagePosition => [dueAt, lease.requestId, lease.clusterName, lease.principalArn],
      )
      .sort(comparePositions)
      .filter((position) => from === undefined || comparePositions(position, from) > 0);
    const page = entries.slice(0, limit).map((position) => ({
      clusterName: position[2],
      principalArn: position[3],
      requestId: position[1],
      position: JSON.stringify(position),
    }));
    return this.answer('liveLeasePage', { entries: page, done: entries.length <= limit });
  }

  async readDriftCursor(): Promise<DriftCursor | undefined> {
    await this.request('readDriftCursor');
    return this.answer(
      'readDriftCursor',
      this.drift.cursor === undefined ? undefined : copy(this.drift.cursor),
    );
  }

  async saveDriftCursor(cursor: DriftCursor): Promise<void> {
    await this.request('saveDriftCursor');
    this.drift.cursor = copy(cursor);
    return this.answer('saveDriftCursor', undefined);
  }

  async withLock<T>(
    subject: Subject,
    owner: string,
    now: () => number,
    work: (lock: HeldLock) => Promise<T>,
    options: { readonly waitMs?: number; readonly held?: HeldLock } = {},
  ): Promise<T> {
    this.enter('withLock');
    const deadline = this.now() + (options.waitMs ?? DEFAULT_WAIT_MS);
    if (
      options.held !== undefined &&
      (options.held.owner !== owner || !sameSubject(options.held.subject, subject))
    ) {
      throw new Error(`withLock: the lock handed in is not ${owner}'s on ${describeSubject(subject)}`);
    }
    let lock = options.held ?? (await this.takeLock(subject, owner, now));
    for (let attempt = 0; lock === undefined; attempt++) {
      const remaining = deadline - this.now();
      if (remaining <= 0)
        throw new SubjectBusyError(`${describeSubject(subject)} is locked by another invocation`);
      await this.sleep(
        Math.min(remaining, this.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt)),
      );
      lock = await this.takeLock(subject, owner, now);
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
    await this.request('remember');
    if (this.nonces.has(nonce)) return this.answer('remember', false);
    this.nonces.set(nonce, keepUntil);
    return this.answer('remember', true);
  }

  /** As the real table's (deliveries.ts): a plain read, and an unconditional Put that only moves the TTL. */
  readonly deliveries: WebhookDeliveries = {
    seen: async (integration, deliveryId) => {
      this.enter('seenDelivery');
      return this.deliveryIds.has(deliveryKey(integration, deliveryId));
    },
    remember: async (integration, deliveryId, keepUntil) => {
      this.enter('rememberDelivery');
      this.deliveryIds.set(deliveryKey(integration, deliveryId), keepUntil);
    },
  };

  // ---- Inspection for tests: what DynamoDB would show in the table --------------------------------------

  /** Until when (epoch seconds) `nonce` is kept; undefined when it was never remembered. */
  nonceKeptUntil(nonce: string): number | undefined {
    return this.nonces.get(nonce);
  }

  /** Until when (epoch seconds) a webhook delivery is kept; undefined when it was never remembered. */
  deliveryKeptUntil(integration: string, deliveryId: string): number | undefined {
    return this.deliveryIds.get(deliveryKey(integration, deliveryId));
  }

  /** Every audit event of grant `requestId`, in the order of their keys (time, then lease version). */
  history(requestId: string): AuditEvent[] {
    const events = this.audits.get(requestId) ?? new Map<string, AuditEvent>();
    return [...events.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, event]) => copy(event));
  }

  /**
   * The subject's leases as stored, ended ones included, in key order: the stored objects themselves, not
   * copies, for a simulator that looks after every step (they must not be changed).
   */
  peekLeases(subject: Subject): readonly Lease[] {
    return [...(this.leases.get(subjectKey(subject))?.values() ?? [])];
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

  /** A request on its way: counted, failed if a test said so, then through `requests` when given. */
  private async request(operation: MemoryLeaseTableOperation): Promise<void> {
    this.enter(operation);
    if (this.requests !== undefined) await this.requests.send(operation);
  }

  /** The table's answer on its way back. */
  private async answer<T>(operation: MemoryLeaseTableOperation, value: T): Promise<T> {
    if (this.requests !== undefined) await this.requests.answer(operation);
    return value;
  }

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

  /**
   * A lock taken alone answers the subject's state with it, as the real update does (ReturnValues ALL_NEW).
   * `now` is read when the request reaches the table, as the real update carries the caller's time.
   */
  private async takeLock(subject: Subject, owner: string, now: () => number): Promise<OwnLock | undefined> {
    await this.request('lock');
    if (!this.takeLockRecord(subject, owner, now())) return this.answer('lock', undefined);
    return this.answer('lock', this.newLock(subject, owner, this.stateOf(subject)));
  }

  private newLock(subject: Subject, owner: string, state: SubjectState | undefined): OwnLock {
    const own = { clusterName: subject.clusterName, principalArn: subject.principalArn };
    return new OwnLock(() => this.releaseLock(own, owner), own, owner, state);
  }

  private async releaseLock(subject: Subject, owner: string): Promise<boolean> {
    await this.request('release');
    if (this.subjects.get(subjectKey(subject))?.lockOwner !== owner) return this.answer('release', false);
    this.removeLock(subject);
    return this.answer('release', true);
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
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const list: unknown[] = [];
    for (const element of value) if (element !== undefined) list.push(withoutUndefined(element));
    return list;
  }
  // A plain loop rather than entries/filter/fromEntries: a simulator copies millions of leases.
  const copied: Record<string, unknown> = {};
  for (const key in value) {
    const field = (value as Record<string, unknown>)[key];
    if (field !== undefined) copied[key] = withoutUndefined(field);
  }
  return copied;
}

function auditKey(at: number, version: number): string {
  return `${String(at).padStart(15, '0')}#${String(version).padStart(10, '0')}`;
}

/** A live lease's place in liveLeasePage's order: due time, request id, cluster, principal. */
type PagePosition = [number, string, string, string];

function comparePositions(a: PagePosition, b: PagePosition): number {
  return (
    a[0] - b[0] || compareStrings(a[1], b[1]) || compareStrings(a[2], b[2]) || compareStrings(a[3], b[3])
  );
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`limit must be a positive integer: ${limit}`);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function deliveryKey(integration: string, deliveryId: string): string {
  return `${integration}#${deliveryId}`;
}
