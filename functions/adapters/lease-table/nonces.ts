/**
 * The nonces of accepted proofs (see schema.ts): one item per nonce, written once with
 * `attribute_not_exists(pk)`, so of two deliveries of the same proof exactly one is accepted. TTL removes an
 * item after `keepUntil`, when its proof is long past its window and could not pass again anyway.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { ConcurrentModificationError } from '../../core/errors';
import { LEASE_TABLE_TTL_ATTRIBUTE } from './schema';
import { call, type TableClient } from './table-client';

/** The sort key of a nonce's item, under the nonce's own partition. */
const NONCE_SK = 'N';

/** The partition of a nonce's item. */
function noncePk(nonce: string): string {
  return `N#${nonce}`;
}

/** The Put that remembers `nonce` until `keepUntil` (epoch seconds), only if it is not there yet. */
export function rememberNoncePut(tableName: string, nonce: string, keepUntil: number) {
  return {
    TableName: tableName,
    Item: { pk: noncePk(nonce), sk: NONCE_SK, kind: 'nonce', [LEASE_TABLE_TTL_ATTRIBUTE]: keepUntil },
    ConditionExpression: 'attribute_not_exists(pk)',
  };
}

/** True when the nonce is new (and is now remembered); false when it was seen before. */
export async function rememberNonce(table: TableClient, nonce: string, keepUntil: number): Promise<boolean> {
  try {
    await call('remember', () =>
      table.client.send(new PutCommand(rememberNoncePut(table.tableName, nonce, keepUntil))),
    );
    return true;
  } catch (error) {
    // call() turns the failed condition, and only that, into a ConcurrentModificationError.
    if (error instanceof ConcurrentModificationError) return false;
    throw error;
  }
}
