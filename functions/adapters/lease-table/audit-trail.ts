import type { QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { AuditEvent } from '../../app/ports';
import type { Subject } from '../../core/model';
import { readString } from './item-fields';
import { auditFromItem } from './items';
import { AUDIT_SK_PREFIX, compareStrings, requestPk, SUBJECT_AUDIT_INDEX, subjectPk } from './schema';
import { queryAll, type TableClient } from './table-client';

/** Every transition of grant `requestId`, in order. */
export async function history(table: TableClient, requestId: string): Promise<AuditEvent[]> {
  const items = await queryAll(table, 'history', historyQuery(table.tableName, requestId));
  return items.map(auditFromItem);
}

/**
 * The subject's latest `limit` transitions across all its requests (all when absent), oldest first.
 * Read from the `subject-audit` index, so a transition of the last second may be missing.
 */
export async function subjectHistory(
  table: TableClient,
  subject: Subject,
  limit?: number,
): Promise<AuditEvent[]> {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new RangeError(`limit must be a positive integer: ${limit}`);
  }
  const items = await queryAll(
    table,
    'subjectHistory',
    subjectHistoryQuery(table.tableName, subject, limit),
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

/** The audit events under a request's partition, in key order: time, then lease version. */
export function historyQuery(tableName: string, requestId: string): QueryCommandInput {
  return {
    TableName: tableName,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :audit)',
    ExpressionAttributeValues: { ':pk': requestPk(requestId), ':audit': AUDIT_SK_PREFIX },
    ConsistentRead: true,
  };
}

/** The subject's audit events across requests, newest first (at most `limit` per page). */
export function subjectHistoryQuery(
  tableName: string,
  subject: Subject,
  limit: number | undefined,
): QueryCommandInput {
  return {
    TableName: tableName,
    IndexName: SUBJECT_AUDIT_INDEX,
    KeyConditionExpression: 'auditSubject = :subject',
    ExpressionAttributeValues: { ':subject': subjectPk(subject) },
    ScanIndexForward: false,
    ...(limit === undefined ? {} : { Limit: limit }),
  };
}
