/**
 * TTL stamping: once a lease has ended, purgeAt goes on its lease item (written with it), its pointer and
 * every audit event of its request, which were written before it ended (see schema.ts).
 */
import { type QueryCommandInput, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { readString } from './item-fields';
import { AUDIT_SK_PREFIX, type ItemKey, LEASE_TABLE_TTL_ATTRIBUTE, requestPk } from './schema';
import { call, type LeaseTable, queryAll } from './table-client';

/** Stamps the TTL attribute on one item of an ended lease (its pointer or one of its audit events). */
export function purgeAtUpdate(tableName: string, key: ItemKey, purgeAt: number) {
  return {
    TableName: tableName,
    Key: { pk: key.pk, sk: key.sk },
    UpdateExpression: 'SET #purgeAt = :purgeAt',
    ExpressionAttributeNames: { '#purgeAt': LEASE_TABLE_TTL_ATTRIBUTE },
    ExpressionAttributeValues: { ':purgeAt': purgeAt },
  };
}

/** The keys and purgeAt of a request's audit events. */
export function auditPurgeQuery(tableName: string, requestId: string): QueryCommandInput {
  return {
    TableName: tableName,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :audit)',
    ProjectionExpression: 'pk, sk, #purgeAt',
    ExpressionAttributeNames: { '#purgeAt': LEASE_TABLE_TTL_ATTRIBUTE },
    ExpressionAttributeValues: { ':pk': requestPk(requestId), ':audit': AUDIT_SK_PREFIX },
    ConsistentRead: true,
  };
}

/** The keys of the request's audit events not yet stamped with `purgeAt`. */
export async function auditKeysWithout(
  table: LeaseTable,
  requestId: string,
  purgeAt: number,
): Promise<ItemKey[]> {
  const items = await queryAll(table, 'saveLease', auditPurgeQuery(table.tableName, requestId));
  return items
    .filter((item) => item[LEASE_TABLE_TTL_ATTRIBUTE] !== purgeAt)
    .map((item) => ({ pk: readString(item, 'pk'), sk: readString(item, 'sk') }));
}

/**
 * Audit items beyond one transaction's capacity, stamped once the lease is saved. Not thrown: the lease
 * write is committed and a retry could not redo it; a missing purgeAt only keeps history longer.
 */
export async function stampOverflow(
  table: LeaseTable,
  keys: readonly ItemKey[],
  purgeAt: number,
): Promise<void> {
  await Promise.allSettled(
    keys.map((key) =>
      call('saveLease', () =>
        table.client.send(new UpdateCommand(purgeAtUpdate(table.tableName, key, purgeAt))),
      ),
    ),
  );
}
