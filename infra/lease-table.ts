/**
 * The lease table: one DynamoDB table, generic key names, several item kinds.
 *
 * | item            | pk                               | sk                         | notes                                   |
 * | --------------- | -------------------------------- | -------------------------- | --------------------------------------- |
 * | lease           | `S#<clusterName>#<principalArn>` | `L#<requestId>`            | every Lease field; `dueShard`/`dueAt`   |
 * | subject         | `S#<clusterName>#<principalArn>` | `#SUBJECT`                 | SubjectState, lock, version             |
 * | request pointer | `R#<requestId>`                  | `R`                        | subject and fingerprint of the grant    |
 * | audit event     | `R#<requestId>`                  | `A#<epoch ms>#<version>`   | one per lease transition                |
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
 * - `purgeAt` (TTL) is set only once a lease has ended, on the lease, its pointer and its audit items,
 *   retention days after it ended. TTL garbage-collects history; it never ends access (TTL deletion runs
 *   up to days late, and would not call EKS).
 *
 * Shape follows both CreateTable and CloudFormation's AWS::DynamoDB::Table, which use the same names.
 */
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type TableDescription,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

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

const TABLE_ACTIVE_TIMEOUT_SECONDS = 120;

/**
 * Creates the table if missing, waits until it is ACTIVE and turns TTL on. Safe to call on every start and
 * from two processes at once. An existing table without the expected indexes is an error, not patched:
 * silently running on a table the sweeper cannot query would leave access unrevoked.
 */
export async function ensureLeaseTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const existing = await describeTable(client, tableName);
  if (existing === undefined) {
    try {
      await client.send(new CreateTableCommand({ TableName: tableName, ...LEASE_TABLE }));
    } catch (error) {
      // Someone else created it between our describe and our create: theirs is the same table.
      if (!isNamed(error, 'ResourceInUseException')) throw error;
    }
  } else {
    const indexes = new Set((existing.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
    const missing = [DUE_INDEX, SUBJECT_AUDIT_INDEX].filter((name) => !indexes.has(name));
    if (missing.length > 0) {
      throw new Error(`Table ${tableName} exists without the index(es) ${missing.join(', ')}`);
    }
  }
  await waitUntilTableExists(
    { client, maxWaitTime: TABLE_ACTIVE_TIMEOUT_SECONDS, minDelay: 1, maxDelay: 5 },
    { TableName: tableName },
  );
  const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
  if (status === 'ENABLED' || status === 'ENABLING') {
    const current = ttl.TimeToLiveDescription?.AttributeName;
    if (current !== LEASE_TABLE_TTL_ATTRIBUTE) {
      throw new Error(`Table ${tableName} has TTL on ${current}, expected ${LEASE_TABLE_TTL_ATTRIBUTE}`);
    }
    return;
  }
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: LEASE_TABLE_TTL_ATTRIBUTE, Enabled: true },
      }),
    );
  } catch (error) {
    // Two starters racing: the loser is told TTL is already enabled, which is what it wanted.
    if (!(isNamed(error, 'ValidationException') && /already enabled/i.test(messageOf(error)))) throw error;
  }
}

async function describeTable(
  client: DynamoDBClient,
  tableName: string,
): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (error) {
    if (isNamed(error, 'ResourceNotFoundException')) return undefined;
    throw error;
  }
}

function isNamed(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
