import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { DueLease } from '../../app/ports';
import type { Lease } from '../../core/model';
import { dueLeaseFromItem, leaseFromItem } from './items';
import { compareStrings, DUE_INDEX, dueAtOf, leaseKey } from './schema';
import { batchGet, call, type LeaseTable, queryAll } from './table-client';

/**
 * Leases whose due time (`nextAttemptAt`, else `expiresAt`) has come, oldest first, at most `limit`.
 * One Query per shard of the sparse `due` index reads only due entries, up to `limit` from each shard so
 * that the oldest `limit` of all are among them; each candidate is then re-read by key, strongly
 * consistent, since the index lags: one that has meanwhile ended or moved is dropped.
 * With `after`, only those due in (after, now]: the leases about to expire, for arming their timers.
 */
export async function dueLeases(
  table: LeaseTable,
  now: number,
  limit: number,
  options: { readonly after?: number } = {},
): Promise<Lease[]> {
  const after = options.after;
  checkLimit(limit);
  const perShard = await Promise.all(
    shards(table).map((shard) =>
      queryAll(table, 'dueLeases', { ...dueQuery(table.tableName, shard, now, after), Limit: limit }, limit),
    ),
  );
  const candidates = oldestDue(perShard.flat().map(dueLeaseFromItem), limit, after);
  const items = await batchGet(
    table,
    'dueLeases',
    candidates.map((due) => leaseKey(due, due.requestId)),
  );
  return items
    .map(leaseFromItem)
    .filter(
      (lease) =>
        lease.status !== 'ended' && dueAtOf(lease) <= now && (after === undefined || dueAtOf(lease) > after),
    )
    .sort((a, b) => dueAtOf(a) - dueAtOf(b) || compareStrings(a.requestId, b.requestId));
}

/** The leases not ended, soonest due first, at most `limit`: every entry of the `due` index is one. */
export function listLiveLeases(table: LeaseTable, limit: number): Promise<Lease[]> {
  return dueLeases(table, Number.MAX_SAFE_INTEGER, limit);
}

/**
 * The sweeper's read of the `due` index: entries due by `now`, at most `limit`, oldest first, without
 * reading the leases (the sweeper reads each one anyway, under its subject's lock). About `limit` entries are
 * read however large the backlog: each shard is asked for its share of `limit`, then the shards that have
 * more for what the others could not fill. So the oldest entries of each shard come first rather than the
 * oldest `limit` of all, which a backlog does not need: what is left waits for the next run.
 */
export async function dueKeys(table: LeaseTable, now: number, limit: number): Promise<DueLease[]> {
  checkLimit(limit);
  const entries: DueLease[] = [];
  let open: { shard: string; startKey?: Record<string, unknown> }[] = shards(table).map((shard) => ({
    shard,
  }));
  while (open.length > 0 && entries.length < limit) {
    const share = Math.ceil((limit - entries.length) / open.length);
    const next = await Promise.all(
      open.map(async ({ shard, startKey }) => {
        const page = await call('dueKeys', () =>
          table.client.send(
            new QueryCommand({
              ...dueQuery(table.tableName, shard, now, undefined),
              Limit: share,
              ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
            }),
          ),
        );
        entries.push(...(page.Items ?? []).map(dueLeaseFromItem));
        return { shard, startKey: page.LastEvaluatedKey };
      }),
    );
    open = next.filter((cursor) => cursor.startKey !== undefined);
  }
  return oldestDue(entries, limit, undefined);
}

/** One shard's entries of the `due` index due by `now`, and after `after` when given. */
export function dueQuery(
  tableName: string,
  shard: string,
  now: number,
  after: number | undefined,
): QueryCommandInput {
  return {
    TableName: tableName,
    IndexName: DUE_INDEX,
    ...(after === undefined
      ? {
          KeyConditionExpression: 'dueShard = :shard AND dueAt <= :now',
          ExpressionAttributeValues: { ':shard': shard, ':now': now },
        }
      : {
          // `after` is exclusive; BETWEEN is inclusive, and oldestDue drops dueAt == after.
          KeyConditionExpression: 'dueShard = :shard AND dueAt BETWEEN :after AND :now',
          ExpressionAttributeValues: { ':shard': shard, ':after': after, ':now': now },
        }),
  };
}

/** Index entries oldest first, at most `limit`, those due exactly at `after` left out. */
function oldestDue(entries: readonly DueLease[], limit: number, after: number | undefined): DueLease[] {
  return entries
    .filter((due) => after === undefined || due.dueAt > after)
    .sort((a, b) => a.dueAt - b.dueAt || compareStrings(a.requestId, b.requestId))
    .slice(0, limit);
}

function shards(table: LeaseTable): string[] {
  return Array.from({ length: table.dueShards }, (_, shard) => String(shard));
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`limit must be a positive integer: ${limit}`);
  }
}
