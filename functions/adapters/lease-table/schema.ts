/**
 * The lease table: one DynamoDB table, generic key names, several item kinds.
 *
 * | item            | pk                               | sk                         | notes                                   |
 * | --------------- | -------------------------------- | -------------------------- | --------------------------------------- |
 * | lease           | `S#<clusterName>#<principalArn>` | `L#<requestId>`            | every Lease field; `dueShard`/`dueAt`   |
 * | subject         | `S#<clusterName>#<principalArn>` | `#SUBJECT`                 | SubjectState, lock, version             |
 * | request pointer | `R#<requestId>`                  | `R`                        | subject and fingerprint of the grant    |
 * | audit event     | `R#<requestId>`                  | `A#<epoch ms>#<version>`   | one per lease transition                |
 * | proof nonce     | `N#<nonce>`                      | `N`                        | written once; purgeAt (TTL) = keepUntil |
 * | delivery id     | `D#<integration>#<deliveryId>`   | `D`                        | purgeAt (TTL) = keepUntil               |
 * | drift cursor    | `C#drift`                        | `C`                        | the drift check's place in `due`        |
 *
 * Why this shape:
 * - A subject's leases and its lock share a partition: the planner reads every lease of a subject with one
 *   strongly consistent Query on the base table. A GSI would be eventually consistent, and missing a lease
 *   written a moment ago would let the planner narrow access that lease still needs.
 * - Revoke and extend requests carry only the requestId: the pointer leads from it to the subject. It is
 *   written with `attribute_not_exists(pk)` in the same transaction as the lease, so it is the idempotency
 *   key, and it keeps the grant's fingerprint so a replay is told from a conflicting reuse of the id.
 * - Audit events live under the request, written in the same transaction as the lease change they record
 *   (the history cannot miss a step); the zero-padded sort key reads them back in order. The lease version
 *   in the key makes it unique even for two transitions in the same millisecond.
 * - `subject-audit` (sparse: only audit items carry `auditSubject`) reads a subject's history across
 *   requests, newest first. Eventual consistency is fine for people reading an audit trail.
 * - `due` (sparse: only pending, active and irrevocable leases carry `dueShard`) finds leases to revoke with
 *   one Query per shard on `dueAt <= now`, so the items read grow with the due leases, not with the table.
 *   The shard is a stable hash of the requestId, spreading writes over N partitions instead of one hot key.
 *   Keys only: the sweeper re-reads each lease by key with a consistent read anyway, since the index lags.
 *   Read shard after shard from a position kept in the drift cursor's item, it is also the drift check's way
 *   through every live lease, a few hundred per run (drift-cursor.ts).
 * - `purgeAt` (TTL) is set only once a lease has ended, on the lease, its pointer and its audit items,
 *   retention days after it ended. TTL garbage-collects history; it never ends access (TTL deletion runs
 *   up to days late, and would not call EKS).
 *
 * Shape follows both CreateTable and CloudFormation's AWS::DynamoDB::Table, which use the same names.
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import type { LeaseRef } from '../../app/ports';
import type { Lease, Subject } from '../../core/model';

export const DUE_INDEX = 'due';
export const SUBJECT_AUDIT_INDEX = 'subject-audit';
export const LEASE_TABLE_TTL_ATTRIBUTE = 'purgeAt';

type LeaseTableDefinition = Required<
  Pick<
    CreateTableCommandInput,
    'AttributeDefinitions' | 'KeySchema' | 'GlobalSecondaryIndexes' | 'BillingMode'
  >
>;

export const LEASE_TABLE: LeaseTableDefinition = {
  AttributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'S' },
    { AttributeName: 'dueShard', AttributeType: 'S' },
    { AttributeName: 'dueAt', AttributeType: 'N' },
    { AttributeName: 'auditSubject', AttributeType: 'S' },
    { AttributeName: 'auditAt', AttributeType: 'N' },
  ],
  KeySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
  GlobalSecondaryIndexes: [
    {
      IndexName: DUE_INDEX,
      KeySchema: [
        { AttributeName: 'dueShard', KeyType: 'HASH' },
        { AttributeName: 'dueAt', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'KEYS_ONLY' },
    },
    {
      IndexName: SUBJECT_AUDIT_INDEX,
      KeySchema: [
        { AttributeName: 'auditSubject', KeyType: 'HASH' },
        { AttributeName: 'auditAt', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
  ],
  BillingMode: 'PAY_PER_REQUEST',
};

/** The primary key of an item. */
export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

/** The sort key of a request pointer, under its request's partition. */
export const POINTER_SK = 'R';
/** The sort key of a subject's item (its state and its lock), under the subject's partition. */
export const SUBJECT_SK = '#SUBJECT';
const SUBJECT_PK_PREFIX = 'S#';
const LEASE_SK_PREFIX = 'L#';
export const AUDIT_SK_PREFIX = 'A#';

export function subjectPk(subject: Subject): string {
  return `${SUBJECT_PK_PREFIX}${subject.clusterName}#${subject.principalArn}`;
}

export function leaseSk(requestId: string): string {
  return `${LEASE_SK_PREFIX}${requestId}`;
}

export function requestPk(requestId: string): string {
  return `R#${requestId}`;
}

/** Zero-padded so the string order of the keys is the numeric order of time, then of lease version. */
export function auditSk(at: number, version: number): string {
  return `${AUDIT_SK_PREFIX}${String(at).padStart(15, '0')}#${String(version).padStart(10, '0')}`;
}

/** Keys and ids in code-unit order, the same in every locale (localeCompare's is not). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The key of a lease's item. */
export function leaseKey(subject: Subject, requestId: string): ItemKey {
  return { pk: subjectPk(subject), sk: leaseSk(requestId) };
}

/** The key of a grant's request pointer. */
export function pointerKey(requestId: string): ItemKey {
  return { pk: requestPk(requestId), sk: POINTER_SK };
}

/** The key of a subject's item. */
export function subjectItemKey(subject: Subject): ItemKey {
  return { pk: subjectPk(subject), sk: SUBJECT_SK };
}

/**
 * The lease a lease item's keys name (all a keys-only `due` entry gives), or undefined for other keys.
 * Cluster names never contain '#' (EKS allows [A-Za-z0-9_-]); the principal ARN is the rest of the key.
 */
export function leaseOfKey(key: ItemKey): LeaseRef | undefined {
  const separator = key.pk.indexOf('#', SUBJECT_PK_PREFIX.length);
  if (!key.pk.startsWith(SUBJECT_PK_PREFIX) || separator < 0 || !key.sk.startsWith(LEASE_SK_PREFIX)) {
    return undefined;
  }
  return {
    clusterName: key.pk.slice(SUBJECT_PK_PREFIX.length, separator),
    principalArn: key.pk.slice(separator + 1),
    requestId: key.sk.slice(LEASE_SK_PREFIX.length),
  };
}

/**
 * The `due` index's partition key of a live lease.
 * FNV-1a over the UTF-8 bytes: stable across processes and releases, unlike anything seeded.
 */
export function dueShardOf(requestId: string, shards: number): string {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(requestId, 'utf8')) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return String(hash % shards);
}

/** The `due` index's sort key of a live lease: its next revocation attempt, else its expiry. */
export function dueAtOf(lease: Lease): number {
  return lease.nextAttemptAt ?? lease.expiresAt;
}
