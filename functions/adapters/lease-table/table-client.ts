import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { RetryableError } from '../../core/errors';
import { fullJitter, sleep } from './backoff';
import { translateDynamoDbError } from './dynamo-errors';
import type { Item, ItemOptions } from './items';
import type { ItemKey } from './schema';

/** The table an operation works on: the client is created once per cold start and injected. */
export interface TableClient {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
}

/** The table with the options its items are written with: what the lease operations work on. */
export interface LeaseTable extends TableClient, ItemOptions {}

const MAX_BATCH_GET_KEYS = 100;
const BATCH_GET_ATTEMPTS = 6;

/**
 * Sends one request; an SDK error leaves translated (translateDynamoDbError), named after `operation`.
 * Every request of the lease table goes through here.
 */
export async function call<T>(operation: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw translateDynamoDbError(error, operation);
  }
}

/** One item by key, strongly consistent. */
export async function getItem(
  table: TableClient,
  operation: string,
  key: ItemKey,
): Promise<Item | undefined> {
  const output = await call(operation, () =>
    table.client.send(
      new GetCommand({ TableName: table.tableName, Key: { pk: key.pk, sk: key.sk }, ConsistentRead: true }),
    ),
  );
  return output.Item;
}

/** Pages to the end, or until at least `max` items are in hand. */
export async function queryAll(
  table: TableClient,
  operation: string,
  input: QueryCommandInput,
  max?: number,
): Promise<Item[]> {
  const items: Item[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await call(operation, () =>
      table.client.send(
        new QueryCommand(startKey === undefined ? input : { ...input, ExclusiveStartKey: startKey }),
      ),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined && (max === undefined || items.length < max));
  return items;
}

/** Strongly consistent reads by key, in chunks, retrying what DynamoDB leaves unprocessed. Order is lost. */
export async function batchGet(
  table: TableClient,
  operation: string,
  keys: readonly ItemKey[],
): Promise<Item[]> {
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
      const output = await call(operation, () =>
        table.client.send(
          new BatchGetCommand({
            RequestItems: { [table.tableName]: { Keys: request, ConsistentRead: true } },
          }),
        ),
      );
      items.push(...(output.Responses?.[table.tableName] ?? []));
      pending = output.UnprocessedKeys?.[table.tableName]?.Keys ?? [];
    }
  }
  return items;
}
