import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { LeaseStore, leaseDocumentClient } from '../../../functions/adapters/lease-table';
import type { TableClient } from '../../../functions/adapters/lease-table/table-client';
import { type DynamoDbLocal, startDynamoDbLocal } from '../../../infra/local/dynamodb-local';
import { ensureLeaseTable } from '../../../infra/local/lease-table';
import { LOCAL_CREDENTIALS } from '../../support/aws';
import { countRequests, type RequestCounts } from '../../support/request-counter';

/** A store on a table of its own, and the table as the functions of the adapter's files take it. */
export interface FreshStore {
  readonly store: LeaseStore;
  readonly tableName: string;
  readonly table: TableClient;
}

export interface LocalLeaseTables {
  readonly client: DynamoDBClient;
  readonly documentClient: DynamoDBDocumentClient;
  /** What documentClient has sent since the suite started (SDK middleware): compare before and after. */
  readonly counts: RequestCounts;
  /** A table per test: tests stay independent without cleanup. */
  freshStore(options?: { retentionDays?: number; dueShards?: number }): Promise<FreshStore>;
  /** An item as stored, read without the store. */
  rawItem(tableName: string, pk: string, sk: string): Promise<Record<string, unknown>>;
}

interface Started {
  readonly local: DynamoDbLocal;
  readonly client: DynamoDBClient;
  readonly documentClient: DynamoDBDocumentClient;
  readonly counts: RequestCounts;
}

/** DynamoDB Local for the suite (started before its tests, stopped after), and fresh lease tables on it. */
export function useDynamoDbLocal(): LocalLeaseTables {
  let started: Started | undefined;
  let tables = 0;
  const running = (): Started => {
    if (started === undefined) throw new Error('DynamoDB Local is not started: use it inside tests');
    return started;
  };

  beforeAll(async () => {
    const local = await startDynamoDbLocal();
    const client = new DynamoDBClient({
      endpoint: local.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    const documentClient = leaseDocumentClient(client);
    started = { local, client, documentClient, counts: countRequests(documentClient) };
  });

  afterAll(async () => {
    started?.client.destroy();
    await started?.local.stop();
  });

  return {
    get client() {
      return running().client;
    },
    get documentClient() {
      return running().documentClient;
    },
    get counts() {
      return running().counts;
    },
    async freshStore(options = {}) {
      const { client, documentClient } = running();
      tables += 1;
      const tableName = `leases-${tables}`;
      await ensureLeaseTable(client, tableName);
      return {
        store: new LeaseStore({ client: documentClient, tableName, ...options }),
        tableName,
        table: { client: documentClient, tableName },
      };
    },
    async rawItem(tableName, pk, sk) {
      const { Item } = await running().documentClient.send(
        new GetCommand({ TableName: tableName, Key: { pk, sk } }),
      );
      if (Item === undefined) throw new Error(`no item ${pk} ${sk}`);
      return Item;
    },
  };
}
