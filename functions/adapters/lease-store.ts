import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { DUE_INDEX, LEASE_TABLE_TTL_ATTRIBUTE, SUBJECT_AUDIT_INDEX } from '../../infra/lease-table';
import {
  ConcurrentModificationError,
  ConfigurationError,
  PermanentError,
  RetryableError,
  SubjectBusyError,
} from '../core/errors';
import {
  type AccessScope,
  EMPTY_SUBJECT_STATE,
  type EndReason,
  type Lease,
  type LeaseStatus,
  type Subject,
  type SubjectState,
  type Ticket,
} from '../core/model';

/** One lease transition as the audit trail keeps it. */
export interface AuditEvent {
  readonly type: string;
  /** Epoch milliseconds: transitions of one request can happen within the same second. */
  readonly at: number;
  readonly actor: string;
  readonly requestId: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface LeaseStoreOptions {
  /** Created once per cold start and injected, so tests can pass a mock or point it at DynamoDB Local. */
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /**
   * Partitions of the `due` index. Existing items keep the shard they were written with, so this may grow
   * but must never shrink while leases are live (leases in dropped shards would never be found).
   */
  readonly dueShards?: number;
  /** How long ended leases and their history are kept before DynamoDB TTL removes them. */
  readonly retentionDays?: number;
}

/** Where a lease is stored: its subject and its requestId, all the `due` index gives without reading the lease. */
export interface LeaseRef extends Subject {
  readonly requestId: string;
}

/** An entry of the `due` index: a lease due at `dueAt`, as the index saw it (it lags the table). */
export interface DueLease extends LeaseRef {
  readonly dueAt: number;
}

/**
 * A subject's lock while it is held, with the subject's state as the lock holder last read or saved it.
 * Only the holder writes the state, so the copy stays true while the lock is held; undefined: read it.
 */
export interface SubjectLock {
  readonly owner: string;
  state: SubjectState | undefined;
}

/**
 * The lock as withLock hands it to its work. The work may free it before it ends: with its last write
 * (saveLease's `unlock`), or alone (release); withLock frees it when the work ends if neither did.
 */
export interface HeldLock extends SubjectLock {
  readonly subject: Subject;
  /** False once freed: by release(), or by the save that freed it along with its own change. */
  readonly held: boolean;
  /** Frees the lock now. Later calls answer what the first did: false when it had been taken over. */
  release(): Promise<boolean>;
}

export type CreateLeaseResult =
  /** `lock`: the subject's lock, when it was asked for and free; taken in the same transaction. */
  | { readonly created: true; readonly lock?: HeldLock }
  | { readonly created: false; readonly existing: Lease | undefined; readonly fingerprint: string };

/** Counters for benchmarks and tests: the sweeper's reads must grow with the due leases, not the table. */
export interface LeaseStoreStats {
  /** Every request sent to DynamoDB. */
  requests: number;
  /** Items DynamoDB read for us: ScannedCount of queries (index or table) plus items returned by key reads. */
  itemsRead: number;
  /** Audit items of ended leases whose purgeAt could not be set after the lease was saved (see saveLease). */
  auditItemsLeftUnpurged: number;
}

export const DEFAULT_DUE_SHARDS = 8;
export const DEFAULT_RETENTION_DAYS = 90;
export const DEFAULT_LOCK_TTL_SECONDS = 60;
export const DEFAULT_LOCK_WAIT_MS = 5_000;

const SECONDS_PER_DAY = 86_400;
const MAX_TRANSACTION_ITEMS = 100;
const MAX_BATCH_GET_KEYS = 100;
const BATCH_GET_ATTEMPTS = 6;
const LOCK_BACKOFF_BASE_MS = 25;
const LOCK_BACKOFF_CAP_MS = 500;
const POINTER_SK = 'R';
const SUBJECT_SK = '#SUBJECT';
const LEASE_SK_PREFIX = 'L#';
const AUDIT_SK_PREFIX = 'A#';
const LEASE_STATUSES: readonly LeaseStatus[] = ['pending', 'active', 'ended', 'irrevocable'];
const END_REASONS: readonly EndReason[] = ['expired', 'requested', 'failed', 'forgotten'];
const OPTION_NAMES = new Set(['client', 'tableName', 'dueShards', 'retentionDays']);

type Item = Record<string, unknown>;
type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];
interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

/** The document client the store expects: undefined values dropped rather than refused. */
export function leaseDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/**
 * The lease table (see infra/lease-table.ts for its design). Every write that can race is conditional, and
 * every SDK error leaves here translated: a failed condition becomes a domain outcome or a
 * ConcurrentModificationError, throttling and outages a RetryableError, anything unknown is rethrown as is.
 */
export class LeaseStore {
  readonly stats: LeaseStoreStats = { requests: 0, itemsRead: 0, auditItemsLeftUnpurged: 0 };
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly dueShards: number;
  private readonly retentionSeconds: number;

  constructor(options: LeaseStoreOptions) {
    const unknown = Object.keys(options).filter((name) => !OPTION_NAMES.has(name));
    if (unknown.length > 0)
      throw new ConfigurationError(`LeaseStore: unknown option(s) ${unknown.join(', ')}`);
    if (typeof options.tableName !== 'string' || options.tableName === '') {
      throw new ConfigurationError('LeaseStore: tableName is required');
    }
    const dueShards = options.dueShards ?? DEFAULT_DUE_SHARDS;
    if (!Number.isInteger(dueShards) || dueShards < 1 || dueShards > 100) {
      throw new ConfigurationError(
        `LeaseStore: dueShards must be an integer from 1 to 100, got ${dueShards}`,
      );
    }
    const retentionDays = options.retentionDays ?? DEFAULT_RETENTION_DAYS;
    if (!Number.isFinite(retentionDays) || retentionDays <= 0) {
      throw new ConfigurationError(`LeaseStore: retentionDays must be positive, got ${retentionDays}`);
    }
    this.client = options.client;
    this.tableName = options.tableName;
    this.dueShards = dueShards;
    this.retentionSeconds = Math.round(retentionDays * SECONDS_PER_DAY);
  }

  /**
   * Records a new lease, its request pointer (the idempotency key) and its first audit event, all or none.
   * When the requestId is taken, returns what is there so the caller can tell a replay (same fingerprint)
   * from a conflicting reuse of the id.
   * `lock`: also take the subject's lock in the same transaction, sparing a fresh grant the round trip of
   * taking it after (the lock comes without the subject's state, which the holder reads when it needs it).
   * A lock held by another invocation does not stop the lease: it is then created alone, without the lock.
   */
  async createLease(
    lease: Lease,
    audit: AuditEvent,
    options: {
      readonly lock?: { readonly owner: string; readonly now: number; readonly ttlSeconds?: number };
    } = {},
  ): Promise<CreateLeaseResult> {
    checkAudit(lease, audit);
    const purgeAt = lease.status === 'ended' ? this.purgeAtOf(lease) : undefined;
    const transactItems: TransactItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: pointerItem(lease, purgeAt),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Put: {
          TableName: this.tableName,
          Item: this.leaseItem(lease),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      { Put: { TableName: this.tableName, Item: auditItem(audit, lease, lease.version, purgeAt) } },
    ];
    const lock = options.lock;
    if (lock !== undefined) {
      const ttlSeconds = lock.ttlSeconds ?? DEFAULT_LOCK_TTL_SECONDS;
      try {
        await this.call('createLease', () =>
          this.client.send(
            new TransactWriteCommand({
              TransactItems: [
                ...transactItems,
                {
                  Update: {
                    TableName: this.tableName,
                    ...lockUpdate(lease, lock.owner, lock.now, ttlSeconds),
                  },
                },
              ],
            }),
          ),
        );
        return {
          created: true,
          lock: new OwnLock(() => this.releaseLock(lease, lock.owner), lease, lock.owner, undefined),
        };
      } catch (error) {
        if (!(error instanceof ConcurrentModificationError)) throw error;
        const [pointer, item] = cancellationCodes(error.cause);
        if (pointer === 'ConditionalCheckFailed' || item === 'ConditionalCheckFailed') {
          return this.takenOrThrow(lease, error);
        }
        // Only the lock was refused (or DynamoDB did not say which): the lease alone, as without `lock`.
      }
    }
    try {
      await this.call('createLease', () =>
        this.client.send(new TransactWriteCommand({ TransactItems: transactItems })),
      );
      return { created: true };
    } catch (error) {
      if (!(error instanceof ConcurrentModificationError)) throw error;
      return this.takenOrThrow(lease, error);
    }
  }

  private async takenOrThrow(lease: Lease, error: ConcurrentModificationError): Promise<CreateLeaseResult> {
    const taken = await this.takenBy(lease);
    if (taken === undefined) throw error;
    return { created: false, ...taken };
  }

  /** The lease of grant `requestId`, read strongly consistent through its pointer. */
  async findLease(requestId: string): Promise<Lease | undefined> {
    const pointer = await this.getItem('findLease', { pk: requestPk(requestId), sk: POINTER_SK });
    if (pointer === undefined) return undefined;
    const subject = subjectOfPointer(pointer);
    const item = await this.getItem('findLease', { pk: subjectPk(subject), sk: leaseSk(requestId) });
    return item === undefined ? undefined : leaseFromItem(item);
  }

  /** The lease of grant `requestId` when its subject is known: one strongly consistent read by key. */
  async findSubjectLease(subject: Subject, requestId: string): Promise<Lease | undefined> {
    const item = await this.getItem('findSubjectLease', { pk: subjectPk(subject), sk: leaseSk(requestId) });
    return item === undefined ? undefined : leaseFromItem(item);
  }

  /**
   * The subject's leases that still count (pending, active, irrevocable) and its state: one strongly
   * consistent Query of the subject's partition, which holds its lease items and its subject item. The base
   * table, not an index: the planner must see a lease written a moment ago, which an index cannot promise.
   * Ended leases are read and filtered out until TTL removes them, a bounded cost per subject.
   */
  async readSubject(subject: Subject): Promise<{ leases: Lease[]; state: SubjectState }> {
    const items = await this.queryAll('readSubject', {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      // A filter cannot name the sort key: the subject item is told by its kind.
      FilterExpression: '#kind = :subject OR #status <> :ended',
      ExpressionAttributeNames: { '#kind': 'kind', '#status': 'status' },
      ExpressionAttributeValues: { ':pk': subjectPk(subject), ':subject': 'subject', ':ended': 'ended' },
      ConsistentRead: true,
    });
    return {
      leases: items.filter((item) => item.sk !== SUBJECT_SK).map(leaseFromItem),
      state: subjectStateFromItem(items.find((item) => item.sk === SUBJECT_SK)),
    };
  }

  /** The subject's leases that still count (see readSubject). */
  async leasesOf(subject: Subject): Promise<Lease[]> {
    return (await this.readSubject(subject)).leases;
  }

  /**
   * Writes `lease` as version `expectedVersion + 1` if the stored one is still `expectedVersion`, with its
   * audit event, in one transaction. Ending a lease also stamps purgeAt on its pointer and audit items.
   * A lost race throws ConcurrentModificationError: read again and redo the work.
   * `unlock`: the subject's lock, freed in the same transaction (the lease's last write under it), which
   * spares a request. If the lock turns out to have been taken over meanwhile, the lease is saved without it,
   * as it would have been with the lock released on its own afterwards.
   */
  async saveLease(
    lease: Lease,
    expectedVersion: number,
    audit: AuditEvent,
    options: { readonly unlock?: HeldLock } = {},
  ): Promise<Lease> {
    checkAudit(lease, audit);
    const unlock = options.unlock instanceof OwnLock && options.unlock.held ? options.unlock : undefined;
    if (unlock !== undefined && subjectPk(unlock.subject) !== subjectPk(lease)) {
      throw new PermanentError(`saveLease of ${lease.requestId} was given the lock of another subject`);
    }
    const saved: Lease = { ...lease, version: expectedVersion + 1 };
    const purgeAt = saved.status === 'ended' ? this.purgeAtOf(saved) : undefined;
    const transactItems: TransactItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: this.leaseItem(saved),
          ConditionExpression: '#version = :expected',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':expected': expectedVersion },
        },
      },
      { Put: { TableName: this.tableName, Item: auditItem(audit, saved, saved.version, purgeAt) } },
    ];
    const unlockAt = transactItems.length;
    if (unlock !== undefined) {
      transactItems.push({
        Update: { TableName: this.tableName, ...unlockUpdate(unlock.subject, unlock.owner) },
      });
    }
    let overflow: ItemKey[] = [];
    if (purgeAt !== undefined) {
      transactItems.push({
        Update: this.purgeAtUpdate({ pk: requestPk(saved.requestId), sk: POINTER_SK }, purgeAt),
      });
      // The version condition above makes this list exact: every audit write also bumps the lease version.
      // A racing save may already have written an audit under our new key: it is not ours to stamp, and a
      // transaction may not touch one item twice; our Put of it fails on the version condition anyway.
      const ownAuditSk = auditSk(audit.at, saved.version);
      const unstamped = (await this.auditKeysWithout(saved.requestId, purgeAt)).filter(
        (key) => key.sk !== ownAuditSk,
      );
      const room = MAX_TRANSACTION_ITEMS - transactItems.length;
      for (const key of unstamped.slice(0, room)) {
        transactItems.push({ Update: this.purgeAtUpdate(key, purgeAt) });
      }
      overflow = unstamped.slice(room);
    }
    try {
      await this.call('saveLease', () =>
        this.client.send(new TransactWriteCommand({ TransactItems: transactItems })),
      );
    } catch (error) {
      const codes = error instanceof ConcurrentModificationError ? cancellationCodes(error.cause) : [];
      const lockLostOnly =
        unlock !== undefined &&
        codes[unlockAt] === 'ConditionalCheckFailed' &&
        codes.every((code, index) => index === unlockAt || code === 'None');
      if (!lockLostOnly) throw error;
      unlock.freedWith(false);
      return this.saveLease(lease, expectedVersion, audit);
    }
    unlock?.freedWith(true);
    if (purgeAt !== undefined && overflow.length > 0) await this.stampOverflow(overflow, purgeAt);
    return saved;
  }

  /**
   * Leases whose due time (`nextAttemptAt`, else `expiresAt`) has come, oldest first, at most `limit`.
   * One Query per shard of the sparse `due` index reads only due entries, up to `limit` from each shard so
   * that the oldest `limit` of all are among them; each candidate is then re-read by key, strongly
   * consistent, since the index lags: one that has meanwhile ended or moved is dropped.
   * With `after`, only those due in (after, now]: the leases about to expire, for arming their timers.
   */
  async dueLeases(now: number, limit: number, options: { readonly after?: number } = {}): Promise<Lease[]> {
    const after = options.after;
    checkLimit(limit);
    const perShard = await Promise.all(
      this.shards().map((shard) =>
        this.queryAll('dueLeases', { ...this.dueQuery(shard, now, after), Limit: limit }, limit),
      ),
    );
    const candidates = oldestDue(perShard.flat().map(dueLeaseFromItem), limit, after);
    const items = await this.batchGet(
      'dueLeases',
      candidates.map((due) => ({ pk: subjectPk(due), sk: leaseSk(due.requestId) })),
    );
    return items
      .map(leaseFromItem)
      .filter(
        (lease) =>
          lease.status !== 'ended' &&
          dueAtOf(lease) <= now &&
          (after === undefined || dueAtOf(lease) > after),
      )
      .sort((a, b) => dueAtOf(a) - dueAtOf(b) || compareStrings(a.requestId, b.requestId));
  }

  /**
   * The sweeper's read of the `due` index: entries due by `now`, at most `limit`, oldest first, without
   * reading the leases (the sweeper reads each one anyway, under its subject's lock). About `limit` entries are
   * read however large the backlog: each shard is asked for its share of `limit`, then the shards that have
   * more for what the others could not fill. So the oldest entries of each shard come first rather than the
   * oldest `limit` of all, which a backlog does not need: what is left waits for the next run.
   */
  async dueKeys(now: number, limit: number): Promise<DueLease[]> {
    checkLimit(limit);
    const entries: DueLease[] = [];
    let open: { shard: string; startKey?: Record<string, unknown> }[] = this.shards().map((shard) => ({
      shard,
    }));
    while (open.length > 0 && entries.length < limit) {
      const share = Math.ceil((limit - entries.length) / open.length);
      const next = await Promise.all(
        open.map(async ({ shard, startKey }) => {
          const page = await this.call('dueKeys', () =>
            this.client.send(
              new QueryCommand({
                ...this.dueQuery(shard, now, undefined),
                Limit: share,
                ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
              }),
            ),
          );
          this.stats.itemsRead += page.ScannedCount ?? page.Items?.length ?? 0;
          entries.push(...(page.Items ?? []).map(dueLeaseFromItem));
          return { shard, startKey: page.LastEvaluatedKey };
        }),
      );
      open = next.filter((cursor) => cursor.startKey !== undefined);
    }
    return oldestDue(entries, limit, undefined);
  }

  private shards(): string[] {
    return Array.from({ length: this.dueShards }, (_, shard) => String(shard));
  }

  private dueQuery(shard: string, now: number, after: number | undefined): QueryCommandInput {
    return {
      TableName: this.tableName,
      IndexName: DUE_INDEX,
      ...(after === undefined
        ? {
            KeyConditionExpression: 'dueShard = :shard AND dueAt <= :now',
            ExpressionAttributeValues: { ':shard': shard, ':now': now },
          }
        : {
            // `after` is exclusive; BETWEEN is inclusive, and oldestDue drops dueAt == after.
            KeyConditionExpression: 'dueShard = :shard AND dueAt BETWEEN :after AND :now',
            ExpressionAttributeValues: { ':shard': shard, ':after': after, ':now': now },
          }),
    };
  }

  /** Every transition of grant `requestId`, in order. */
  async history(requestId: string): Promise<AuditEvent[]> {
    const items = await this.queryAll('history', {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :audit)',
      ExpressionAttributeValues: { ':pk': requestPk(requestId), ':audit': AUDIT_SK_PREFIX },
      ConsistentRead: true,
    });
    return items.map(auditFromItem);
  }

  /**
   * The subject's latest `limit` transitions across all its requests (all when absent), oldest first.
   * Read from the `subject-audit` index, so a transition of the last second may be missing.
   */
  async subjectHistory(subject: Subject, limit?: number): Promise<AuditEvent[]> {
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      throw new RangeError(`limit must be a positive integer: ${limit}`);
    }
    const items = await this.queryAll(
      'subjectHistory',
      {
        TableName: this.tableName,
        IndexName: SUBJECT_AUDIT_INDEX,
        KeyConditionExpression: 'auditSubject = :subject',
        ExpressionAttributeValues: { ':subject': subjectPk(subject) },
        ScanIndexForward: false,
        ...(limit === undefined ? {} : { Limit: limit }),
      },
      limit,
    );
    // Events of one millisecond have no order in the index: restore it (time, request, lease version).
    return items
      .slice(0, limit)
      .map((item) => ({ event: auditFromItem(item), sk: readString(item, 'sk') }))
      .sort(
        (a, b) =>
          a.event.at - b.event.at ||
          compareStrings(a.event.requestId, b.event.requestId) ||
          compareStrings(a.sk, b.sk),
      )
      .map(({ event }) => event);
  }

  /** Saves the subject's state, only while `lockOwner` holds its lock (else ConcurrentModificationError). */
  async saveSubjectState(subject: Subject, state: SubjectState, lockOwner: string): Promise<void> {
    try {
      await this.call('saveSubjectState', () =>
        this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: subjectPk(subject), sk: SUBJECT_SK },
            UpdateExpression:
              'SET #entryOwned = :entryOwned, #touched = :touched, #version = if_not_exists(#version, :zero) + :one',
            ConditionExpression: '#lockOwner = :owner',
            ExpressionAttributeNames: {
              '#entryOwned': 'entryOwned',
              '#touched': 'touched',
              '#version': 'version',
              '#lockOwner': 'lockOwner',
            },
            ExpressionAttributeValues: {
              ':entryOwned': state.entryOwned,
              ':touched': touchedItem(state.touched),
              ':zero': 0,
              ':one': 1,
              ':owner': lockOwner,
            },
          }),
        ),
      );
    } catch (error) {
      if (!(error instanceof ConcurrentModificationError)) throw error;
      throw new ConcurrentModificationError(
        `The lock on ${describeSubject(subject)} is not held by ${lockOwner}: its state was not saved`,
        { cause: error.cause },
      );
    }
  }

  /**
   * Takes the subject's lock until `now + ttlSeconds` (epoch seconds) if it is free, expired, or already
   * `owner`'s (re-entry extends it). False when someone else holds it.
   */
  async acquireLock(subject: Subject, owner: string, now: number, ttlSeconds: number): Promise<boolean> {
    return (await this.takeLock(subject, owner, now, ttlSeconds)) !== undefined;
  }

  /**
   * acquireLock that also returns the subject's state: the lock lives on the subject's item, so the write
   * that takes it reads the state too (ReturnValues ALL_NEW), sparing the holder a read. Undefined when
   * someone else holds the lock.
   */
  private async takeLock(
    subject: Subject,
    owner: string,
    now: number,
    ttlSeconds: number,
  ): Promise<HeldLock | undefined> {
    try {
      const output = await this.call('acquireLock', () =>
        this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            ...lockUpdate(subject, owner, now, ttlSeconds),
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return new OwnLock(
        () => this.releaseLock(subject, owner),
        subject,
        owner,
        output?.Attributes === undefined ? undefined : subjectStateFromItem(output.Attributes),
      );
    } catch (error) {
      if (error instanceof ConcurrentModificationError) return undefined;
      throw error;
    }
  }

  /** Frees the lock if `owner` still holds it. False when it had expired and been taken over meanwhile. */
  async releaseLock(subject: Subject, owner: string): Promise<boolean> {
    try {
      await this.call('releaseLock', () =>
        this.client.send(new UpdateCommand({ TableName: this.tableName, ...unlockUpdate(subject, owner) })),
      );
      return true;
    } catch (error) {
      if (error instanceof ConcurrentModificationError) return false;
      throw error;
    }
  }

  /**
   * Runs `fn` holding the subject's lock: retries taking it with jittered backoff for up to `waitMs`, then
   * throws SubjectBusyError (retryable: the message comes back later). The lock is released however `fn`
   * ends. `now` is the clock for lock expiry (epoch seconds); the wait is measured in real time. `fn` gets
   * the lock with the subject's state read as it was taken.
   * `held`: the lock, already taken by `owner` (createLease's `lock`); `fn` then runs at once.
   */
  async withLock<T>(
    subject: Subject,
    owner: string,
    now: () => number,
    fn: (lock: HeldLock) => Promise<T>,
    options: { readonly ttlSeconds?: number; readonly waitMs?: number; readonly held?: HeldLock } = {},
  ): Promise<T> {
    const ttlSeconds = options.ttlSeconds ?? DEFAULT_LOCK_TTL_SECONDS;
    const deadline = Date.now() + (options.waitMs ?? DEFAULT_LOCK_WAIT_MS);
    if (
      options.held !== undefined &&
      (options.held.owner !== owner || !sameSubject(options.held.subject, subject))
    ) {
      throw new Error(`withLock: the lock handed in is not ${owner}'s on ${describeSubject(subject)}`);
    }
    let lock = options.held ?? (await this.takeLock(subject, owner, now(), ttlSeconds));
    for (let attempt = 0; lock === undefined; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new SubjectBusyError(`${describeSubject(subject)} is locked by another invocation`);
      }
      await sleep(Math.min(remaining, fullJitter(attempt)));
      lock = await this.takeLock(subject, owner, now(), ttlSeconds);
    }
    const held = lock;
    let result: T;
    try {
      result = await fn(held);
    } catch (error) {
      // fn's error is the one the caller must act on (it is retried or reported); a failed release only
      // leaves the lock to expire after ttlSeconds, which the retry will wait out.
      await held.release().catch(() => false);
      throw error;
    }
    await held.release();
    return result;
  }

  /**
   * The items createLease writes for `lease` (its lease item and request pointer, not its audit event), and
   * with `state` the subject's item as saveSubjectState leaves it, unlocked: for loading many leases at once
   * with BatchWriteItem (benchmarks, migrations), where one transaction per lease would take too long.
   */
  bulkItems(lease: Lease, state?: SubjectState): { lease: Item; pointer: Item; subject?: Item } {
    const purgeAt = lease.status === 'ended' ? this.purgeAtOf(lease) : undefined;
    return {
      lease: this.leaseItem(lease),
      pointer: pointerItem(lease, purgeAt),
      ...(state === undefined
        ? {}
        : {
            subject: {
              pk: subjectPk(lease),
              sk: SUBJECT_SK,
              kind: 'subject',
              clusterName: lease.clusterName,
              principalArn: lease.principalArn,
              entryOwned: state.entryOwned,
              touched: touchedItem(state.touched),
              version: 1,
            },
          }),
    };
  }

  private leaseItem(lease: Lease): Item {
    const live = lease.status !== 'ended';
    return compact({
      pk: subjectPk(lease),
      sk: leaseSk(lease.requestId),
      kind: 'lease',
      requestId: lease.requestId,
      clusterName: lease.clusterName,
      principalArn: lease.principalArn,
      policyArn: lease.policyArn,
      accessScope: scopeItem(lease.accessScope),
      status: lease.status,
      breakGlass: lease.breakGlass,
      requestedBy: lease.requestedBy,
      reason: lease.reason,
      ticket: lease.ticket === undefined ? undefined : compact({ ...lease.ticket }),
      ruleId: lease.ruleId,
      maxDurationSeconds: lease.maxDurationSeconds,
      durationSeconds: lease.durationSeconds,
      requestedAt: lease.requestedAt,
      grantedAt: lease.grantedAt,
      expiresAt: lease.expiresAt,
      endedAt: lease.endedAt,
      endReason: lease.endReason,
      lastError: lease.lastError,
      nextAttemptAt: lease.nextAttemptAt,
      revokeAttempts: lease.revokeAttempts,
      extensions: lease.extensions === undefined ? undefined : [...lease.extensions],
      fingerprint: lease.fingerprint,
      version: lease.version,
      dueShard: live ? dueShardOf(lease.requestId, this.dueShards) : undefined,
      dueAt: live ? dueAtOf(lease) : undefined,
      [LEASE_TABLE_TTL_ATTRIBUTE]: live ? undefined : this.purgeAtOf(lease),
    });
  }

  private purgeAtOf(lease: Lease): number {
    if (lease.endedAt === undefined) {
      throw new PermanentError(`Lease ${lease.requestId} is ended but has no endedAt`);
    }
    return lease.endedAt + this.retentionSeconds;
  }

  /** After a createLease condition failure: who holds the requestId (undefined if nobody, a lost race). */
  private async takenBy(
    lease: Lease,
  ): Promise<{ existing: Lease | undefined; fingerprint: string } | undefined> {
    const pointer = await this.getItem('createLease', { pk: requestPk(lease.requestId), sk: POINTER_SK });
    if (pointer !== undefined) {
      const subject = subjectOfPointer(pointer);
      const item = await this.getItem('createLease', {
        pk: subjectPk(subject),
        sk: leaseSk(lease.requestId),
      });
      return {
        existing: item === undefined ? undefined : leaseFromItem(item),
        fingerprint: readString(pointer, 'fingerprint'),
      };
    }
    // The lease item exists without its pointer: only TTL removing the pointer first gets here.
    const item = await this.getItem('createLease', { pk: subjectPk(lease), sk: leaseSk(lease.requestId) });
    if (item === undefined) return undefined;
    const existing = leaseFromItem(item);
    return { existing, fingerprint: existing.fingerprint };
  }

  private purgeAtUpdate(key: ItemKey, purgeAt: number) {
    return {
      TableName: this.tableName,
      Key: { pk: key.pk, sk: key.sk },
      UpdateExpression: 'SET #purgeAt = :purgeAt',
      ExpressionAttributeNames: { '#purgeAt': LEASE_TABLE_TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':purgeAt': purgeAt },
    };
  }

  private async auditKeysWithout(requestId: string, purgeAt: number): Promise<ItemKey[]> {
    const items = await this.queryAll('saveLease', {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :audit)',
      ProjectionExpression: 'pk, sk, #purgeAt',
      ExpressionAttributeNames: { '#purgeAt': LEASE_TABLE_TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':pk': requestPk(requestId), ':audit': AUDIT_SK_PREFIX },
      ConsistentRead: true,
    });
    return items
      .filter((item) => item[LEASE_TABLE_TTL_ATTRIBUTE] !== purgeAt)
      .map((item) => ({ pk: readString(item, 'pk'), sk: readString(item, 'sk') }));
  }

  /**
   * Audit items beyond one transaction's capacity, stamped once the lease is saved. Not thrown: the lease
   * write is committed and a retry could not redo it; a missing purgeAt only keeps history longer.
   */
  private async stampOverflow(keys: readonly ItemKey[], purgeAt: number): Promise<void> {
    const outcomes = await Promise.allSettled(
      keys.map((key) =>
        this.call('saveLease', () => this.client.send(new UpdateCommand(this.purgeAtUpdate(key, purgeAt)))),
      ),
    );
    this.stats.auditItemsLeftUnpurged += outcomes.filter((outcome) => outcome.status === 'rejected').length;
  }

  private async getItem(operation: string, key: ItemKey): Promise<Item | undefined> {
    const output = await this.call(operation, () =>
      this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { pk: key.pk, sk: key.sk }, ConsistentRead: true }),
      ),
    );
    if (output.Item !== undefined) this.stats.itemsRead += 1;
    return output.Item;
  }

  /** Pages to the end, or until at least `max` items are in hand. */
  private async queryAll(operation: string, input: QueryCommandInput, max?: number): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.call(operation, () =>
        this.client.send(
          new QueryCommand(startKey === undefined ? input : { ...input, ExclusiveStartKey: startKey }),
        ),
      );
      this.stats.itemsRead += page.ScannedCount ?? page.Items?.length ?? 0;
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined && (max === undefined || items.length < max));
    return items;
  }

  /** Strongly consistent reads by key, in chunks, retrying what DynamoDB leaves unprocessed. Order is lost. */
  private async batchGet(operation: string, keys: readonly ItemKey[]): Promise<Item[]> {
    const items: Item[] = [];
    for (let offset = 0; offset < keys.length; offset += MAX_BATCH_GET_KEYS) {
      let pending: Record<string, unknown>[] = keys.slice(offset, offset + MAX_BATCH_GET_KEYS).map((key) => ({
        pk: key.pk,
        sk: key.sk,
      }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt === BATCH_GET_ATTEMPTS) {
          throw new RetryableError(`${operation}: DynamoDB left ${pending.length} keys unprocessed`);
        }
        if (attempt > 0) await sleep(fullJitter(attempt));
        const request = pending;
        const output = await this.call(operation, () =>
          this.client.send(
            new BatchGetCommand({
              RequestItems: { [this.tableName]: { Keys: request, ConsistentRead: true } },
            }),
          ),
        );
        const found = output.Responses?.[this.tableName] ?? [];
        this.stats.itemsRead += found.length;
        items.push(...found);
        pending = output.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return items;
  }

  private async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    this.stats.requests += 1;
    try {
      return await send();
    } catch (error) {
      throw translateDynamoDbError(error, operation);
    }
  }
}

const RETRYABLE_ERROR_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TransactionConflictException',
  'TransactionInProgressException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);
const RETRYABLE_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN']);
const RETRYABLE_CANCELLATION_CODES = new Set([
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
]);

/**
 * Turns an SDK error into the broker's vocabulary. A failed condition (alone or inside a cancelled
 * transaction) is a lost race, ConcurrentModificationError, which callers that expect it turn into an
 * outcome; the original stays as `cause`. Unknown errors come back unchanged.
 */
export function translateDynamoDbError(error: unknown, operation: string): unknown {
  if (!(error instanceof Error)) return error;
  const name = error.name;
  if (name === 'ConditionalCheckFailedException') {
    return new ConcurrentModificationError(`${operation}: the item changed meanwhile (condition failed)`, {
      cause: error,
    });
  }
  if (name === 'TransactionCanceledException') {
    const codes = cancellationCodes(error);
    if (codes.includes('ConditionalCheckFailed')) {
      return new ConcurrentModificationError(`${operation}: the item changed meanwhile (condition failed)`, {
        cause: error,
      });
    }
    if (codes.some((code) => RETRYABLE_CANCELLATION_CODES.has(code))) {
      return new RetryableError(`${operation}: transaction cancelled (${codes.join(', ')})`, {
        cause: error,
      });
    }
    if (codes.includes('ValidationError')) {
      return new PermanentError(`${operation}: transaction refused as invalid (${error.message})`, {
        cause: error,
      });
    }
    return error;
  }
  if (
    RETRYABLE_ERROR_NAMES.has(name) ||
    RETRYABLE_NETWORK_CODES.has(networkCode(error)) ||
    httpStatus(error) >= 500
  ) {
    return new RetryableError(`${operation}: DynamoDB is throttling or unavailable (${name})`, {
      cause: error,
    });
  }
  if (name === 'ValidationException') {
    return new PermanentError(`${operation}: DynamoDB refused the request as invalid (${error.message})`, {
      cause: error,
    });
  }
  return error;
}

/** The cancellation code of each item of a cancelled transaction, in request order ('None' for fine ones). */
export function cancellationCodes(error: unknown): string[] {
  if (typeof error !== 'object' || error === null || !('CancellationReasons' in error)) return [];
  const reasons: unknown = error.CancellationReasons;
  if (!Array.isArray(reasons)) return [];
  return reasons.map((reason: unknown) =>
    typeof reason === 'object' && reason !== null && 'Code' in reason && typeof reason.Code === 'string'
      ? reason.Code
      : 'None',
  );
}

function networkCode(error: Error): string {
  return 'code' in error && typeof error.code === 'string' ? error.code : '';
}

function httpStatus(error: Error): number {
  if (!('$metadata' in error)) return 0;
  const metadata: unknown = error.$metadata;
  return typeof metadata === 'object' &&
    metadata !== null &&
    'httpStatusCode' in metadata &&
    typeof metadata.httpStatusCode === 'number'
    ? metadata.httpStatusCode
    : 0;
}

/** FNV-1a over the UTF-8 bytes: stable across processes and releases, unlike anything seeded. */
export function dueShardOf(requestId: string, shards: number): string {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(requestId, 'utf8')) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return String(hash % shards);
}

function dueAtOf(lease: Lease): number {
  return lease.nextAttemptAt ?? lease.expiresAt;
}

function subjectPk(subject: Subject): string {
  return `S#${subject.clusterName}#${subject.principalArn}`;
}

function leaseSk(requestId: string): string {
  return `${LEASE_SK_PREFIX}${requestId}`;
}

function requestPk(requestId: string): string {
  return `R#${requestId}`;
}

/** Zero-padded so the string order of the keys is the numeric order of time, then of lease version. */
function auditSk(at: number, version: number): string {
  return `${AUDIT_SK_PREFIX}${String(at).padStart(15, '0')}#${String(version).padStart(10, '0')}`;
}

function describeSubject(subject: Subject): string {
  return `${subject.principalArn} on ${subject.clusterName}`;
}

function checkAudit(lease: Lease, audit: AuditEvent): void {
  if (audit.requestId !== lease.requestId) {
    throw new PermanentError(`Audit event of ${audit.requestId} given with lease ${lease.requestId}`);
  }
  if (!Number.isSafeInteger(audit.at) || audit.at < 0) {
    throw new PermanentError(`Audit event time must be epoch milliseconds, got ${audit.at}`);
  }
  if (!Number.isSafeInteger(lease.version) || lease.version < 0) {
    throw new PermanentError(`Lease ${lease.requestId} has an invalid version ${lease.version}`);
  }
}

function auditItem(audit: AuditEvent, subject: Subject, version: number, purgeAt: number | undefined): Item {
  return compact({
    pk: requestPk(audit.requestId),
    sk: auditSk(audit.at, version),
    kind: 'audit',
    requestId: audit.requestId,
    eventType: audit.type,
    actor: audit.actor,
    detail: audit.detail === undefined ? undefined : withoutUndefined(audit.detail),
    leaseVersion: version,
    clusterName: subject.clusterName,
    principalArn: subject.principalArn,
    auditSubject: subjectPk(subject),
    auditAt: audit.at,
    [LEASE_TABLE_TTL_ATTRIBUTE]: purgeAt,
  });
}

function auditFromItem(item: Item): AuditEvent {
  const detail = item.detail;
  if (detail !== undefined && !isRecord(detail)) throw corrupt(item, 'detail');
  return compact({
    type: readString(item, 'eventType'),
    at: readNumber(item, 'auditAt'),
    actor: readString(item, 'actor'),
    requestId: readString(item, 'requestId'),
    detail,
  });
}

function leaseFromItem(item: Item): Lease {
  return compact({
    requestId: readString(item, 'requestId'),
    clusterName: readString(item, 'clusterName'),
    principalArn: readString(item, 'principalArn'),
    policyArn: readString(item, 'policyArn'),
    accessScope: scopeFrom(item.accessScope, item, 'accessScope'),
    status: readOneOf(item, 'status', LEASE_STATUSES),
    breakGlass: readBoolean(item, 'breakGlass'),
    requestedBy: readString(item, 'requestedBy'),
    reason: readString(item, 'reason'),
    ticket: item.ticket === undefined ? undefined : ticketFrom(item),
    ruleId: readString(item, 'ruleId'),
    maxDurationSeconds: readNumber(item, 'maxDurationSeconds'),
    durationSeconds: readNumber(item, 'durationSeconds'),
    requestedAt: readNumber(item, 'requestedAt'),
    grantedAt: readOptionalNumber(item, 'grantedAt'),
    expiresAt: readNumber(item, 'expiresAt'),
    endedAt: readOptionalNumber(item, 'endedAt'),
    endReason: item.endReason === undefined ? undefined : readOneOf(item, 'endReason', END_REASONS),
    lastError: readOptionalString(item, 'lastError'),
    nextAttemptAt: readOptionalNumber(item, 'nextAttemptAt'),
    revokeAttempts: readOptionalNumber(item, 'revokeAttempts'),
    extensions: readOptionalStringList(item, 'extensions'),
    fingerprint: readString(item, 'fingerprint'),
    version: readNumber(item, 'version'),
  });
}

/**
 * Takes the subject's lock (its item, created if need be): free, expired, or already `owner`'s. One update,
 * sent alone (takeLock) or inside createLease's transaction.
 */
function lockUpdate(subject: Subject, owner: string, now: number, ttlSeconds: number) {
  return {
    Key: { pk: subjectPk(subject), sk: SUBJECT_SK },
    UpdateExpression:
      'SET #lockOwner = :owner, #lockUntil = :until, #kind = :kind, #clusterName = :clusterName, #principalArn = :principalArn',
    ConditionExpression: 'attribute_not_exists(#lockOwner) OR #lockUntil <= :now OR #lockOwner = :owner',
    ExpressionAttributeNames: {
      '#lockOwner': 'lockOwner',
      '#lockUntil': 'lockUntil',
      '#kind': 'kind',
      '#clusterName': 'clusterName',
      '#principalArn': 'principalArn',
    },
    ExpressionAttributeValues: {
      ':owner': owner,
      ':until': now + ttlSeconds,
      ':now': now,
      ':kind': 'subject',
      ':clusterName': subject.clusterName,
      ':principalArn': subject.principalArn,
    },
  };
}

/** Frees the subject's lock if `owner` holds it. Sent alone (releaseLock) or with a lease's last save. */
function unlockUpdate(subject: Subject, owner: string) {
  return {
    Key: { pk: subjectPk(subject), sk: SUBJECT_SK },
    UpdateExpression: 'REMOVE #lockOwner, #lockUntil',
    ConditionExpression: '#lockOwner = :owner',
    ExpressionAttributeNames: { '#lockOwner': 'lockOwner', '#lockUntil': 'lockUntil' },
    ExpressionAttributeValues: { ':owner': owner },
  };
}

function sameSubject(a: Subject, b: Subject): boolean {
  return a.clusterName === b.clusterName && a.principalArn === b.principalArn;
}

/** A lock this store took: it knows whether it has been freed, by release() or along with a save. */
class OwnLock implements HeldLock {
  private freed: Promise<boolean> | undefined;

  constructor(
    private readonly free: () => Promise<boolean>,
    readonly subject: Subject,
    readonly owner: string,
    public state: SubjectState | undefined,
  ) {}

  get held(): boolean {
    return this.freed === undefined;
  }

  release(): Promise<boolean> {
    this.freed ??= this.free();
    return this.freed;
  }

  /** Freed by a write that did it along with its own change (true), or found taken over (false). */
  freedWith(outcome: boolean): void {
    this.freed ??= Promise.resolve(outcome);
  }
}

/** The item also exists when only a lock was ever taken: no state means the empty state. */
function subjectStateFromItem(item: Item | undefined): SubjectState {
  if (item === undefined || item.entryOwned === undefined) return EMPTY_SUBJECT_STATE;
  return { entryOwned: readBoolean(item, 'entryOwned'), touched: touchedFromItem(item) };
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`limit must be a positive integer: ${limit}`);
  }
}

/** Index entries oldest first, at most `limit`, those due exactly at `after` left out. */
function oldestDue(entries: readonly DueLease[], limit: number, after: number | undefined): DueLease[] {
  return entries
    .filter((due) => after === undefined || due.dueAt > after)
    .sort((a, b) => a.dueAt - b.dueAt || compareStrings(a.requestId, b.requestId))
    .slice(0, limit);
}

/** A keys-only entry of the `due` index: the lease's table keys name its subject and its requestId. */
function dueLeaseFromItem(item: Item): DueLease {
  const pk = readString(item, 'pk');
  const sk = readString(item, 'sk');
  // Cluster names never contain '#' (EKS allows [A-Za-z0-9_-]); the principal ARN is the rest of the key.
  const separator = pk.indexOf('#', 2);
  if (!pk.startsWith('S#') || separator < 0 || !sk.startsWith(LEASE_SK_PREFIX)) throw corrupt(item, 'pk');
  return {
    clusterName: pk.slice(2, separator),
    principalArn: pk.slice(separator + 1),
    requestId: sk.slice(LEASE_SK_PREFIX.length),
    dueAt: readNumber(item, 'dueAt'),
  };
}

function pointerItem(lease: Lease, purgeAt: number | undefined): Item {
  return compact({
    pk: requestPk(lease.requestId),
    sk: POINTER_SK,
    kind: 'pointer',
    requestId: lease.requestId,
    clusterName: lease.clusterName,
    principalArn: lease.principalArn,
    fingerprint: lease.fingerprint,
    [LEASE_TABLE_TTL_ATTRIBUTE]: purgeAt,
  });
}

function subjectOfPointer(pointer: Item): Subject {
  return {
    clusterName: readString(pointer, 'clusterName'),
    principalArn: readString(pointer, 'principalArn'),
  };
}

function scopeItem(scope: AccessScope): Item {
  return scope.type === 'cluster'
    ? { type: 'cluster' }
    : { type: 'namespace', namespaces: [...scope.namespaces] };
}

function scopeFrom(value: unknown, item: Item, name: string): AccessScope {
  if (isRecord(value) && value.type === 'cluster') return { type: 'cluster' };
  if (isRecord(value) && value.type === 'namespace') {
    const namespaces: unknown = value.namespaces;
    if (Array.isArray(namespaces)) {
      const list: unknown[] = namespaces;
      if (list.every((namespace) => typeof namespace === 'string')) {
        return { type: 'namespace', namespaces: list.filter((namespace) => typeof namespace === 'string') };
      }
    }
  }
  throw corrupt(item, name);
}

function ticketFrom(item: Item): Ticket {
  const ticket = item.ticket;
  if (!isRecord(ticket)) throw corrupt(item, 'ticket');
  return compact({
    system: readString(ticket, 'system'),
    key: readString(ticket, 'key'),
    url: readOptionalString(ticket, 'url'),
  });
}

function touchedItem(touched: SubjectState['touched']): Item {
  return Object.fromEntries(
    Object.entries(touched).map(([policyArn, scope]) => [
      policyArn,
      scope === null ? null : scopeItem(scope),
    ]),
  );
}

function touchedFromItem(item: Item): SubjectState['touched'] {
  const touched = item.touched;
  if (touched === undefined) return {};
  if (!isRecord(touched)) throw corrupt(item, 'touched');
  return Object.fromEntries(
    Object.entries(touched).map(([policyArn, scope]) => [
      policyArn,
      scope === null ? null : scopeFrom(scope, item, `touched.${policyArn}`),
    ]),
  );
}

function readString(item: Item, name: string): string {
  const value = item[name];
  if (typeof value !== 'string') throw corrupt(item, name);
  return value;
}

function readOptionalString(item: Item, name: string): string | undefined {
  return item[name] === undefined ? undefined : readString(item, name);
}

function readNumber(item: Item, name: string): number {
  const value = item[name];
  if (typeof value !== 'number') throw corrupt(item, name);
  return value;
}

function readOptionalStringList(item: Item, name: string): string[] | undefined {
  const value: unknown = item[name];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string'))
    throw corrupt(item, name);
  return value;
}

function readOptionalNumber(item: Item, name: string): number | undefined {
  return item[name] === undefined ? undefined : readNumber(item, name);
}

function readBoolean(item: Item, name: string): boolean {
  const value = item[name];
  if (typeof value !== 'boolean') throw corrupt(item, name);
  return value;
}

function readOneOf<T extends string>(item: Item, name: string, allowed: readonly T[]): T {
  const value = item[name];
  const match = allowed.find((candidate) => candidate === value);
  if (match === undefined) throw corrupt(item, name);
  return match;
}

/** An item we cannot map is not going to improve with retries. */
function corrupt(item: Item, name: string): PermanentError {
  const where = typeof item.pk === 'string' ? ` ${item.pk} ${String(item.sk)}` : '';
  return new PermanentError(`Lease table item${where} has a missing or invalid ${name}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Drops undefined-valued keys, so absent optional fields stay absent in items and in domain objects. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

/** Audit details come from callers: drop undefined at any depth rather than depend on marshall options. */
function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) {
    const list: unknown[] = value;
    return list.filter((element) => element !== undefined).map(withoutUndefined);
  }
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, field]) => field !== undefined)
        .map(([key, field]) => [key, withoutUndefined(field)]),
    );
  }
  return value;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): spreads out competing retries. */
function fullJitter(attempt: number): number {
  return Math.random() * Math.min(LOCK_BACKOFF_CAP_MS, LOCK_BACKOFF_BASE_MS * 2 ** attempt);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
