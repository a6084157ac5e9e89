import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
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
} from '../../app/ports';
import { ConfigurationError } from '../../core/errors';
import type { Lease, Subject, SubjectState } from '../../core/model';
import { history, subjectHistory } from './audit-trail';
import { TableWebhookDeliveries } from './deliveries';
import { liveLeasePage, readDriftCursor, saveDriftCursor } from './drift-cursor';
import { dueKeys, dueLeases, listLiveLeases } from './due-index';
import { createLease, findLease, findSubjectLease, readSubject, saveLease } from './lease-records';
import { rememberNonce } from './nonces';
import { withLock } from './subject-lock';
import { saveSubjectState } from './subject-state';
import type { LeaseTable } from './table-client';

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

const DEFAULT_DUE_SHARDS = 8;
const DEFAULT_RETENTION_DAYS = 90;
const SECONDS_PER_DAY = 86_400;
const OPTION_NAMES = new Set(['client', 'tableName', 'dueShards', 'retentionDays']);

/** The document client the store expects: undefined values dropped rather than refused. */
export function leaseDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/**
 * The lease table (see schema.ts for its design), as the use cases' lease repository and subject locks,
 * with the audit trail for the CLI. Every write that can race is conditional, and every SDK error leaves
 * translated: a failed condition becomes a domain outcome or a ConcurrentModificationError, throttling and
 * outages a RetryableError, anything unknown is rethrown as is (dynamo-errors.ts).
 */
export class LeaseStore implements LeaseRepository, SubjectLocks {
  private readonly table: LeaseTable;
  /** See deliveries.ts: the webhook deliveries already queued. */
  readonly deliveries: WebhookDeliveries;

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
    this.table = {
      client: options.client,
      tableName: options.tableName,
      dueShards,
      retentionSeconds: Math.round(retentionDays * SECONDS_PER_DAY),
    };
    this.deliveries = new TableWebhookDeliveries(this.table);
  }

  /** See lease-records.ts. `lock.ttlSeconds`: how long the lock lasts if its holder dies (default 60). */
  createLease(
    lease: Lease,
    audit: AuditEvent,
    options?: {
      readonly lock?: { readonly owner: string; readonly now: number; readonly ttlSeconds?: number };
    },
  ): Promise<CreateLeaseResult> {
    return createLease(this.table, lease, audit, options);
  }

  findLease(requestId: string): Promise<Lease | undefined> {
    return findLease(this.table, requestId);
  }

  findSubjectLease(subject: Subject, requestId: string): Promise<Lease | undefined> {
    return findSubjectLease(this.table, subject, requestId);
  }

  readSubject(subject: Subject): Promise<{ leases: Lease[]; state: SubjectState }> {
    return readSubject(this.table, subject);
  }

  saveLease(
    lease: Lease,
    expectedVersion: number,
    audit: AuditEvent,
    options?: { readonly unlock?: HeldLock },
  ): Promise<Lease> {
    return saveLease(this.table, lease, expectedVersion, audit, options);
  }

  saveSubjectState(subject: Subject, state: SubjectState, lockOwner: string): Promise<void> {
    return saveSubjectState(this.table, subject, state, lockOwner);
  }

  dueKeys(now: number, limit: number): Promise<DueLease[]> {
    return dueKeys(this.table, now, limit);
  }

  dueLeases(now: number, limit: number, options?: { readonly after?: number }): Promise<Lease[]> {
    return dueLeases(this.table, now, limit, options);
  }

  listLiveLeases(limit: number): Promise<Lease[]> {
    return listLiveLeases(this.table, limit);
  }

  /** See drift-cursor.ts: the `due` index, shard by shard. */
  liveLeasePage(after: string | undefined, limit: number): Promise<LiveLeasePage> {
    return liveLeasePage(this.table, after, limit);
  }

  readDriftCursor(): Promise<DriftCursor | undefined> {
    return readDriftCursor(this.table);
  }

  saveDriftCursor(cursor: DriftCursor): Promise<void> {
    return saveDriftCursor(this.table, cursor);
  }

  /** See subject-lock.ts. `ttlSeconds`: how long the lock lasts if its holder dies (default 60). */
  withLock<T>(
    subject: Subject,
    owner: string,
    now: () => number,
    fn: (lock: HeldLock) => Promise<T>,
    options?: { readonly ttlSeconds?: number; readonly waitMs?: number; readonly held?: HeldLock },
  ): Promise<T> {
    return withLock(this.table, subject, owner, now, fn, options);
  }

  /** See nonces.ts: false when `nonce` was remembered before. */
  remember(nonce: string, keepUntil: number): Promise<boolean> {
    return rememberNonce(this.table, nonce, keepUntil);
  }

  /** Every transition of grant `requestId`, in order. */
  history(requestId: string): Promise<AuditEvent[]> {
    return history(this.table, requestId);
  }

  /** The subject's latest `limit` transitions across its requests (all when absent), oldest first. */
  subjectHistory(subject: Subject, limit?: number): Promise<AuditEvent[]> {
    return subjectHistory(this.table, subject, limit);
  }
}
