/**
 * The lease table for `npm start`, the tests and the benchmarks, made from its schema
 * (functions/adapters/lease-table/schema.ts). In AWS the stack creates it (infra/stack/resources.ts).
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type TableDescription,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  DUE_INDEX,
  LEASE_TABLE,
  LEASE_TABLE_TTL_ATTRIBUTE,
  SUBJECT_AUDIT_INDEX,
} from '../../functions/adapters/lease-table/schema';

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
