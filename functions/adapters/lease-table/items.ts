import type { AuditEvent, DueLease } from '../../app/ports';
import { PermanentError } from '../../core/errors';
import {
  type AccessScope,
  EMPTY_SUBJECT_STATE,
  type EndReason,
  type Lease,
  type LeaseStatus,
  type RequestOrigin,
  type Subject,
  type SubjectState,
  type Ticket,
} from '../../core/model';
import { isRecord } from '../../core/validation';
import {
  compact,
  corrupt,
  readBoolean,
  readNumber,
  readOneOf,
  readOptionalNumber,
  readOptionalString,
  readOptionalStringList,
  readString,
  withoutUndefined,
} from './item-fields';
import {
  auditSk,
  dueAtOf,
  dueShardOf,
  LEASE_TABLE_TTL_ATTRIBUTE,
  leaseOfKey,
  leaseSk,
  POINTER_SK,
  requestPk,
  SUBJECT_SK,
  subjectPk,
} from './schema';

/** An item as the document client reads and writes it. */
export type Item = Record<string, unknown>;

/** What a lease's item depends on besides the lease: the store's options. */
export interface ItemOptions {
  /** Partitions of the `due` index. */
  readonly dueShards: number;
  /** How long an ended lease and its history are kept before TTL removes them. */
  readonly retentionSeconds: number;
}

const LEASE_STATUSES: readonly LeaseStatus[] = ['pending', 'active', 'ended', 'irrevocable'];
const END_REASONS: readonly EndReason[] = ['expired', 'requested', 'failed', 'forgotten'];
const REQUESTED_BY_PROOFS: readonly RequestOrigin['requestedByProof'][] = ['proven', 'asserted', 'read-back'];

/** When TTL may remove an ended lease and its history. */
export function purgeAtOf(lease: Lease, retentionSeconds: number): number {
  if (lease.endedAt === undefined) {
    throw new PermanentError(`Lease ${lease.requestId} is ended but has no endedAt`);
  }
  return lease.endedAt + retentionSeconds;
}

/** A live lease is on the `due` index (dueShard, dueAt); an ended one is off it, and carries purgeAt. */
export function leaseItem(lease: Lease, options: ItemOptions): Item {
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
    origin: lease.origin === undefined ? undefined : compact({ ...lease.origin }),
    dueShard: live ? dueShardOf(lease.requestId, options.dueShards) : undefined,
    dueAt: live ? dueAtOf(lease) : undefined,
    [LEASE_TABLE_TTL_ATTRIBUTE]: live ? undefined : purgeAtOf(lease, options.retentionSeconds),
  });
}

export function leaseFromItem(item: Item): Lease {
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
    origin: item.origin === undefined ? undefined : originFrom(item),
  });
}

/** The idempotency key of a grant: it leads from the requestId to the subject, and keeps the fingerprint. */
export function pointerItem(lease: Lease, purgeAt: number | undefined): Item {
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

export function subjectOfPointer(pointer: Item): Subject {
  return {
    clusterName: readString(pointer, 'clusterName'),
    principalArn: readString(pointer, 'principalArn'),
  };
}

/** One transition, keyed under its request by time and by the lease version it wrote. */
export function auditItem(
  audit: AuditEvent,
  subject: Subject,
  version: number,
  purgeAt: number | undefined,
): Item {
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

export function auditFromItem(item: Item): AuditEvent {
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

/** The item also exists when only a lock was ever taken: no state means the empty state. */
export function subjectStateFromItem(item: Item | undefined): SubjectState {
  if (item === undefined || item.entryOwned === undefined) return EMPTY_SUBJECT_STATE;
  return { entryOwned: readBoolean(item, 'entryOwned'), touched: touchedFromItem(item) };
}

export function touchedItem(touched: SubjectState['touched']): Item {
  return Object.fromEntries(
    Object.entries(touched).map(([policyArn, scope]) => [
      policyArn,
      scope === null ? null : scopeItem(scope),
    ]),
  );
}

/** A keys-only entry of the `due` index: the lease's table keys name its subject and its requestId. */
export function dueLeaseFromItem(item: Item): DueLease {
  const lease = leaseOfKey({ pk: readString(item, 'pk'), sk: readString(item, 'sk') });
  if (lease === undefined) throw corrupt(item, 'pk');
  return { ...lease, dueAt: readNumber(item, 'dueAt') };
}

/**
 * The items createLease writes for `lease` (its lease item and request pointer, not its audit event), and
 * with `state` the subject's item as saveSubjectState leaves it, unlocked: for loading many leases at once
 * with BatchWriteItem (benchmarks, migrations), where one transaction per lease would take too long.
 */
export function bulkItems(
  lease: Lease,
  options: ItemOptions,
  state?: SubjectState,
): { lease: Item; pointer: Item; subject?: Item } {
  const purgeAt = lease.status === 'ended' ? purgeAtOf(lease, options.retentionSeconds) : undefined;
  return {
    lease: leaseItem(lease, options),
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

/** Leases recorded before integrations existed have no origin. */
function originFrom(item: Item): RequestOrigin {
  const origin = item.origin;
  if (!isRecord(origin)) throw corrupt(item, 'origin');
  return compact({
    integration: readString(origin, 'integration'),
    sender: readString(origin, 'sender'),
    requestedByProof: readOneOf(origin, 'requestedByProof', REQUESTED_BY_PROOFS),
    provenBy: readOptionalString(origin, 'provenBy'),
    approvedBy: readOptionalString(origin, 'approvedBy'),
  });
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
