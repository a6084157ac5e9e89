/**
 * The drift check's way through every live lease, a few hundred per run (see schema.ts): pages of the sparse
 * `due` index, shard after shard and each in its own order (due time, then key), and one small item that keeps
 * where the check stopped, so the next run goes on from there and a pass ends after every live lease.
 *
 * A position names a shard and an index key; DynamoDB resumes a Query after a key whether or not an item still
 * has it, so a position outlives its lease. A lease that moves within its shard during a pass (an extension
 * moves its due time) may be met twice or not at all in that pass; it cannot move every pass.
 */
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { DriftCursor, LiveLeaseEntry, LiveLeasePage } from '../../app/ports';
import { isRecord } from '../../core/validation';
import { readNumber, readOptionalNumber, readOptionalString } from './item-fields';
import { dueLeaseFromItem } from './items';
import { DUE_INDEX } from './schema';
import { call, getItem, type LeaseTable, type TableClient } from './table-client';

/** The cursor's item: one per table, under a partition no lease, request or nonce can have. */
const CURSOR_KEY = { pk: 'C#drift', sk: 'C' } as const;

/** Where a page resumes: a shard of the `due` index and the index key of the last entry read there. */
interface IndexPosition {
  readonly shard: number;
  readonly key?: {
    readonly dueShard: string;
    readonly dueAt: number;
    readonly pk: string;
    readonly sk: string;
  };
}

/** Up to `limit` live leases after `after`, shard by shard; `done` once the last shard has nothing more. */
export async function liveLeasePage(
  table: LeaseTable,
  after: string | undefined,
  limit: number,
): Promise<LiveLeasePage> {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`limit must be a positive integer: ${limit}`);
  let { shard, key } = decodePosition(after, table.dueShards);
  const entries: LiveLeaseEntry[] = [];
  while (shard < table.dueShards && entries.length < limit) {
    const page = await call('liveLeasePage', () =>
      table.client.send(
        new QueryCommand({
          TableName: table.tableName,
          IndexName: DUE_INDEX,
          KeyConditionExpression: 'dueShard = :shard',
          ExpressionAttributeValues: { ':shard': String(shard) },
          Limit: limit - entries.length,
          ...(key === undefined ? {} : { ExclusiveStartKey: key }),
        }),
      ),
    );
    for (const item of page.Items ?? []) {
      const due = dueLeaseFromItem(item);
      const itemKey = { dueShard: String(shard), dueAt: due.dueAt, pk: String(item.pk), sk: String(item.sk) };
      entries.push({
        clusterName: due.clusterName,
        principalArn: due.principalArn,
        requestId: due.requestId,
        position: encodePosition({ shard, key: itemKey }),
      });
      key = itemKey;
    }
    if (page.LastEvaluatedKey === undefined) {
      shard++;
      key = undefined;
    }
  }
  return { entries, done: shard >= table.dueShards };
}

export async function readDriftCursor(table: TableClient): Promise<DriftCursor | undefined> {
  const item = await getItem(table, 'readDriftCursor', CURSOR_KEY);
  if (item === undefined) return undefined;
  const position = readOptionalString(item, 'position');
  const lastPassSeconds = readOptionalNumber(item, 'lastPassSeconds');
  return {
    ...(position === undefined ? {} : { position }),
    passStartedAt: readNumber(item, 'passStartedAt'),
    passes: readNumber(item, 'passes'),
    ...(lastPassSeconds === undefined ? {} : { lastPassSeconds }),
  };
}

/** Unconditional: one drift check runs at a time (reserved concurrency 1), and a repeated save is the same. */
export async function saveDriftCursor(table: TableClient, cursor: DriftCursor): Promise<void> {
  await call('saveDriftCursor', () =>
    table.client.send(
      new PutCommand({
        TableName: table.tableName,
        Item: {
          ...CURSOR_KEY,
          kind: 'driftCursor',
          ...(cursor.position === undefined ? {} : { position: cursor.position }),
          passStartedAt: cursor.passStartedAt,
          passes: cursor.passes,
          ...(cursor.lastPassSeconds === undefined ? {} : { lastPassSeconds: cursor.lastPassSeconds }),
        },
      }),
    ),
  );
}

function encodePosition(position: IndexPosition): string {
  return JSON.stringify(position);
}

/**
 * A position this table wrote; anything else (a position from before a change of the shard count, a damaged
 * item) starts the pass over rather than stopping the drift check.
 */
function decodePosition(raw: string | undefined, shards: number): IndexPosition {
  if (raw === undefined) return { shard: 0 };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { shard: 0 };
  }
  if (!isRecord(parsed) || !Number.isInteger(parsed.shard)) return { shard: 0 };
  const shard = parsed.shard as number;
  if (shard < 0 || shard >= shards) return { shard: 0 };
  const key = parsed.key;
  if (key === undefined) return { shard };
  if (
    !isRecord(key) ||
    key.dueShard !== String(shard) ||
    typeof key.dueAt !== 'number' ||
    typeof key.pk !== 'string' ||
    typeof key.sk !== 'string'
  ) {
    return { shard: 0 };
  }
  return { shard, key: { dueShard: key.dueShard, dueAt: key.dueAt, pk: key.pk, sk: key.sk } };
}
