import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { HeldLock } from '../../app/ports';
import { DEFAULT_LOCK_WAIT_MS } from '../../config/defaults';
import { ConcurrentModificationError, SubjectBusyError } from '../../core/errors';
import type { Subject, SubjectState } from '../../core/model';
import { describeSubject, sameSubject } from '../../core/subject';
import { fullJitter, sleep } from './backoff';
import { subjectStateFromItem } from './items';
import { subjectItemKey } from './schema';
import { call, type TableClient } from './table-client';

/** How long a lock lasts unless its holder frees it first: a crashed holder blocks its subject this long. */
export const DEFAULT_LOCK_TTL_SECONDS = 60;

/**
 * Takes the subject's lock until `now + ttlSeconds` (epoch seconds), on the subject's item (created if need
 * be): one update, sent alone (takeLock) or inside createLease's transaction.
 */
export function lockUpdate(subject: Subject, owner: string, now: number, ttlSeconds: number) {
  // Taken when nobody holds it, when its holder let it expire (a crashed invocation), or when `owner`
  // holds it already: re-entry extends it.
  const isFree = 'attribute_not_exists(#lockOwner)';
  const hasExpired = '#lockUntil <= :now';
  const isOwners = '#lockOwner = :owner';
  return {
    Key: subjectItemKey(subject),
    UpdateExpression:
      'SET #lockOwner = :owner, #lockUntil = :until, #kind = :kind, #clusterName = :clusterName, #principalArn = :principalArn',
    ConditionExpression: [isFree, hasExpired, isOwners].join(' OR '),
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
export function unlockUpdate(subject: Subject, owner: string) {
  return {
    Key: subjectItemKey(subject),
    UpdateExpression: 'REMOVE #lockOwner, #lockUntil',
    ConditionExpression: '#lockOwner = :owner',
    ExpressionAttributeNames: { '#lockOwner': 'lockOwner', '#lockUntil': 'lockUntil' },
    ExpressionAttributeValues: { ':owner': owner },
  };
}

/** A lock this store took: it knows whether it has been freed, by release() or along with a save. */
export class OwnLock implements HeldLock {
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

/**
 * Takes the subject's lock if it is free, expired, or already `owner`'s (see lockUpdate), and returns it
 * with the subject's state: the lock lives on the subject's item, so the write that takes it reads the
 * state too (ReturnValues ALL_NEW), sparing the holder a read. Undefined when someone else holds the lock.
 */
export async function takeLock(
  table: TableClient,
  subject: Subject,
  owner: string,
  now: number,
  ttlSeconds: number,
): Promise<OwnLock | undefined> {
  try {
    const output = await call('acquireLock', () =>
      table.client.send(
        new UpdateCommand({
          TableName: table.tableName,
          ...lockUpdate(subject, owner, now, ttlSeconds),
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return new OwnLock(
      () => releaseLock(table, subject, owner),
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
export async function releaseLock(table: TableClient, subject: Subject, owner: string): Promise<boolean> {
  try {
    await call('releaseLock', () =>
      table.client.send(new UpdateCommand({ TableName: table.tableName, ...unlockUpdate(subject, owner) })),
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
export async function withLock<T>(
  table: TableClient,
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
  let lock = options.held ?? (await takeLock(table, subject, owner, now(), ttlSeconds));
  for (let attempt = 0; lock === undefined; attempt++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new SubjectBusyError(`${describeSubject(subject)} is locked by another invocation`);
    }
    await sleep(Math.min(remaining, fullJitter(attempt)));
    lock = await takeLock(table, subject, owner, now(), ttlSeconds);
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
