import {
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { AuditEvent, CreateLeaseResult, HeldLock } from '../../app/ports';
import { ConcurrentModificationError, PermanentError } from '../../core/errors';
import type { Lease, Subject, SubjectState } from '../../core/model';
import { sameSubject } from '../../core/subject';
import { cancellationCodes } from './dynamo-errors';
import { readString } from './item-fields';
import {
  auditItem,
  type Item,
  leaseFromItem,
  leaseItem,
  pointerItem,
  purgeAtOf,
  subjectOfPointer,
  subjectStateFromItem,
} from './items';
import { auditKeysWithout, purgeAtUpdate, stampOverflow } from './purge-stamps';
import { auditSk, type ItemKey, leaseKey, pointerKey, SUBJECT_SK, subjectPk } from './schema';
import { DEFAULT_LOCK_TTL_SECONDS, lockUpdate, OwnLock, releaseLock, unlockUpdate } from './subject-lock';
import { call, getItem, type LeaseTable, queryAll } from './table-client';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

const MAX_TRANSACTION_ITEMS = 100;

/**
 * Records a new lease, its request pointer (the idempotency key) and its first audit event, all or none.
 * When the requestId is taken, returns what is there so the caller can tell a replay (same fingerprint)
 * from a conflicting reuse of the id.
 * `lock`: also take the subject's lock in the same transaction, sparing a fresh grant the round trip of
 * taking it after (the lock comes without the subject's state, which the holder reads when it needs it).
 * A lock held by another invocation does not stop the lease: it is then created alone, without the lock.
 */
export async function createLease(
  table: LeaseTable,
  lease: Lease,
  audit: AuditEvent,
  options: {
    readonly lock?: { readonly owner: string; readonly now: number; readonly ttlSeconds?: number };
  } = {},
): Promise<CreateLeaseResult> {
  checkAudit(lease, audit);
  const purgeAt = lease.status === 'ended' ? purgeAtOf(lease, table.retentionSeconds) : undefined;
  const transactItems: TransactItem[] = [
    putIfAbsent(table.tableName, pointerItem(lease, purgeAt)),
    putIfAbsent(table.tableName, leaseItem(lease, table)),
    { Put: { TableName: table.tableName, Item: auditItem(audit, lease, lease.version, purgeAt) } },
  ];
  const lock = options.lock;
  if (lock !== undefined) {
    const ttlSeconds = lock.ttlSeconds ?? DEFAULT_LOCK_TTL_SECONDS;
    const lockItem: TransactItem = {
      Update: { TableName: table.tableName, ...lockUpdate(lease, lock.owner, lock.now, ttlSeconds) },
    };
    try {
      await call('createLease', () =>
        table.client.send(new TransactWriteCommand({ TransactItems: [...transactItems, lockItem] })),
      );
      return {
        created: true,
        lock: new OwnLock(() => releaseLock(table, lease, lock.owner), lease, lock.owner, undefined),
      };
    } catch (error) {
      if (!(error instanceof ConcurrentModificationError)) throw error;
      const [pointer, item] = cancellationCodes(error.cause);
      if (pointer === 'ConditionalCheckFailed' || item === 'ConditionalCheckFailed') {
        return takenOrThrow(table, lease, error);
      }
      // Only the lock was refused (or DynamoDB did not say which): the lease alone, as without `lock`.
    }
  }
  try {
    await call('createLease', () =>
      table.client.send(new TransactWriteCommand({ TransactItems: transactItems })),
    );
    return { created: true };
  } catch (error) {
    if (!(error instanceof ConcurrentModificationError)) throw error;
    return takenOrThrow(table, lease, error);
  }
}

async function takenOrThrow(
  table: LeaseTable,
  lease: Lease,
  error: ConcurrentModificationError,
): Promise<CreateLeaseResult> {
  const taken = await takenBy(table, lease);
  if (taken === undefined) throw error;
  return { created: false, ...taken };
}

/** After a createLease condition failure: who holds the requestId (undefined if nobody, a lost race). */
async function takenBy(
  table: LeaseTable,
  lease: Lease,
): Promise<{ existing: Lease | undefined; fingerprint: string } | undefined> {
  const pointer = await getItem(table, 'createLease', pointerKey(lease.requestId));
  if (pointer !== undefined) {
    const item = await getItem(table, 'createLease', leaseKey(subjectOfPointer(pointer), lease.requestId));
    return {
      existing: item === undefined ? undefined : leaseFromItem(item),
      fingerprint: readString(pointer, 'fingerprint'),
    };
  }
  // The lease item exists without its pointer: only TTL removing the pointer first gets here.
  const item = await getItem(table, 'createLease', leaseKey(lease, lease.requestId));
  if (item === undefined) return undefined;
  const existing = leaseFromItem(item);
  return { existing, fingerprint: existing.fingerprint };
}

/** The lease of grant `requestId`, read strongly consistent through its pointer. */
export async function findLease(table: LeaseTable, requestId: string): Promise<Lease | undefined> {
  const pointer = await getItem(table, 'findLease', pointerKey(requestId));
  if (pointer === undefined) return undefined;
  const item = await getItem(table, 'findLease', leaseKey(subjectOfPointer(pointer), requestId));
  return item === undefined ? undefined : leaseFromItem(item);
}

/** The lease of grant `requestId` when its subject is known: one strongly consistent read by key. */
export async function findSubjectLease(
  table: LeaseTable,
  subject: Subject,
  requestId: string,
): Promise<Lease | undefined> {
  const item = await getItem(table, 'findSubjectLease', leaseKey(subject, requestId));
  return item === undefined ? undefined : leaseFromItem(item);
}

/**
 * The subject's leases that still count (pending, active, irrevocable) and its state: one strongly
 * consistent Query of the subject's partition, which holds its lease items and its subject item. The base
 * table, not an index: the planner must see a lease written a moment ago, which an index cannot promise.
 * Ended leases are read and filtered out until TTL removes them, a bounded cost per subject.
 */
export async function readSubject(
  table: LeaseTable,
  subject: Subject,
): Promise<{ leases: Lease[]; state: SubjectState }> {
  const items = await queryAll(table, 'readSubject', subjectQuery(table.tableName, subject));
  return {
    leases: items.filter((item) => item.sk !== SUBJECT_SK).map(leaseFromItem),
    state: subjectStateFromItem(items.find((item) => item.sk === SUBJECT_SK)),
  };
}

/**
 * Writes `lease` as version `expectedVersion + 1` if the stored one is still `expectedVersion`, with its
 * audit event, in one transaction. Ending a lease also stamps purgeAt on its pointer and audit items.
 * A lost race throws ConcurrentModificationError: read again and redo the work.
 * `unlock`: the subject's lock, freed in the same transaction (the lease's last write under it), which
 * spares a request. If the lock turns out to have been taken over meanwhile, the lease is saved without it,
 * as it would have been with the lock released on its own afterwards.
 */
export async function saveLease(
  table: LeaseTable,
  lease: Lease,
  expectedVersion: number,
  audit: AuditEvent,
  options: { readonly unlock?: HeldLock } = {},
): Promise<Lease> {
  checkAudit(lease, audit);
  const unlock = options.unlock instanceof OwnLock && options.unlock.held ? options.unlock : undefined;
  if (unlock !== undefined && !sameSubject(unlock.subject, lease)) {
    throw new PermanentError(`saveLease of ${lease.requestId} was given the lock of another subject`);
  }
  const saved: Lease = { ...lease, version: expectedVersion + 1 };
  const purgeAt = saved.status === 'ended' ? purgeAtOf(saved, table.retentionSeconds) : undefined;
  const transactItems: TransactItem[] = [
    putOnVersion(table.tableName, leaseItem(saved, table), expectedVersion),
    { Put: { TableName: table.tableName, Item: auditItem(audit, saved, saved.version, purgeAt) } },
  ];
  const unlockAt = transactItems.length;
  if (unlock !== undefined) {
    transactItems.push({
      Update: { TableName: table.tableName, ...unlockUpdate(unlock.subject, unlock.owner) },
    });
  }
  let overflow: ItemKey[] = [];
  if (purgeAt !== undefined) {
    transactItems.push({ Update: purgeAtUpdate(table.tableName, pointerKey(saved.requestId), purgeAt) });
    // The version condition above makes this list exact: every audit write also bumps the lease version.
    // A racing save may already have written an audit under our new key: it is not ours to stamp, and a
    // transaction may not touch one item twice; our Put of it fails on the version condition anyway.
    const ownAuditSk = auditSk(audit.at, saved.version);
    const unstamped = (await auditKeysWithout(table, saved.requestId, purgeAt)).filter(
      (key) => key.sk !== ownAuditSk,
    );
    const room = MAX_TRANSACTION_ITEMS - transactItems.length;
    for (const key of unstamped.slice(0, room)) {
      transactItems.push({ Update: purgeAtUpdate(table.tableName, key, purgeAt) });
    }
    overflow = unstamped.slice(room);
  }
  try {
    await call('saveLease', () =>
      table.client.send(new TransactWriteCommand({ TransactItems: transactItems })),
    );
  } catch (error) {
    const codes = error instanceof ConcurrentModificationError ? cancellationCodes(error.cause) : [];
    const lockLostOnly =
      unlock !== undefined &&
      codes[unlockAt] === 'ConditionalCheckFailed' &&
      codes.every((code, index) => index === unlockAt || code === 'None');
    if (!lockLostOnly) throw error;
    unlock.freedWith(false);
    return saveLease(table, lease, expectedVersion, audit);
  }
  unlock?.freedWith(true);
  if (purgeAt !== undefined && overflow.length > 0) await stampOverflow(table, overflow, purgeAt);
  return saved;
}

/** A new item: refused if one is there (the pointer makes the requestId the idempotency key). */
export function putIfAbsent(tableName: string, item: Item): TransactItem {
  return { Put: { TableName: tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } };
}

/** A lease item over the stored one, only while that is still `expectedVersion`. */
export function putOnVersion(tableName: string, item: Item, expectedVersion: number): TransactItem {
  return {
    Put: {
      TableName: tableName,
      Item: item,
      ConditionExpression: '#version = :expected',
      ExpressionAttributeNames: { '#version': 'version' },
      ExpressionAttributeValues: { ':expected': expectedVersion },
    },
  };
}

/** Every item of the subject's partition but its ended leases. */
export function subjectQuery(tableName: string, subject: Subject): QueryCommandInput {
  return {
    TableName: tableName,
    KeyConditionExpression: 'pk = :pk',
    // A filter cannot name the sort key: the subject item is told by its kind.
    FilterExpression: '#kind = :subject OR #status <> :ended',
    ExpressionAttributeNames: { '#kind': 'kind', '#status': 'status' },
    ExpressionAttributeValues: { ':pk': subjectPk(subject), ':subject': 'subject', ':ended': 'ended' },
    ConsistentRead: true,
  };
}

/** The audit event must be the lease's, at a valid time; the lease's version valid. */
export function checkAudit(lease: Lease, audit: AuditEvent): void {
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
