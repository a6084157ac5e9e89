import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  InternalServerError,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseStore, type LeaseStoreOptions } from '../../../functions/adapters/lease-table';
import { dueShardOf } from '../../../functions/adapters/lease-table/schema';
import { releaseLock } from '../../../functions/adapters/lease-table/subject-lock';
import type { AuditEvent } from '../../../functions/app/ports';
import {
  ConcurrentModificationError,
  ConfigurationError,
  PermanentError,
  RetryableError,
} from '../../../functions/core/errors';
import type { Lease } from '../../../functions/core/model';
import { LOCAL_CREDENTIALS } from '../../support/aws';
import { acquireLock } from './fixtures';

const TABLE = 'leases';
const NOW = 1_780_000_000;
const SUBJECT_PK = 'S#demo#arn:aws:iam::111122223333:role/dev';

const LEASE: Lease = {
  requestId: 'req-1',
  clusterName: 'demo',
  principalArn: 'arn:aws:iam::111122223333:role/dev',
  policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
  accessScope: { type: 'namespace', namespaces: ['team-a'] },
  status: 'active',
  breakGlass: false,
  requestedBy: 'alice@example.com',
  reason: 'debug',
  ruleId: 'developers-view',
  maxDurationSeconds: 14_400,
  durationSeconds: 3600,
  requestedAt: NOW,
  grantedAt: NOW,
  expiresAt: NOW + 3600,
  fingerprint: 'fp-1',
  version: 1,
};

const AUDIT: AuditEvent = { type: 'granted', at: NOW * 1000, actor: 'broker', requestId: 'req-1' };

/** The lease as stored: every Lease field plus keys, kind and due attributes. */
const LEASE_ITEM = {
  pk: SUBJECT_PK,
  sk: 'L#req-1',
  kind: 'lease',
  ...LEASE,
  dueShard: dueShardOf('req-1', 8),
  dueAt: NOW + 3600,
};

const POINTER_ITEM = {
  pk: 'R#req-1',
  sk: 'R',
  kind: 'pointer',
  requestId: 'req-1',
  clusterName: 'demo',
  principalArn: 'arn:aws:iam::111122223333:role/dev',
  fingerprint: 'fp-1',
};

function auditItem(
  at: number,
  version: number,
  extra: Record<string, unknown> = {},
): { pk: string; sk: string } & Record<string, unknown> {
  return {
    pk: 'R#req-1',
    sk: `A#${String(at).padStart(15, '0')}#${String(version).padStart(10, '0')}`,
    kind: 'audit',
    requestId: 'req-1',
    eventType: 'granted',
    actor: 'broker',
    leaseVersion: version,
    clusterName: 'demo',
    principalArn: 'arn:aws:iam::111122223333:role/dev',
    auditSubject: SUBJECT_PK,
    auditAt: at,
    ...extra,
  };
}

function cancelled(...codes: string[]): TransactionCanceledException {
  return new TransactionCanceledException({
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
    $metadata: { httpStatusCode: 400 },
    CancellationReasons: codes.map((Code) => ({ Code })),
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('LeaseStore with a mocked DynamoDB', () => {
  const ddbMock = mockClient(DynamoDBDocumentClient);
  const documentClient = DynamoDBDocumentClient.from(
    new DynamoDBClient({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS }),
  );
  const store = new LeaseStore({ client: documentClient, tableName: TABLE });
  const table = { client: documentClient, tableName: TABLE };

  afterEach(() => {
    ddbMock.reset();
  });

  describe('commands sent', () => {
    it('createLease writes pointer, lease and audit in one transaction, the first two conditionally', async () => {
      // Arrange
      ddbMock.on(TransactWriteCommand).resolves({});

      // Act
      const result = await store.createLease(LEASE, AUDIT);

      // Assert
      expect(result).toEqual({ created: true });
      expect(ddbMock).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
      expect(ddbMock).toHaveReceivedCommandExactlyOnceWith(TransactWriteCommand, {
        TransactItems: [
          { Put: { TableName: TABLE, Item: POINTER_ITEM, ConditionExpression: 'attribute_not_exists(pk)' } },
          { Put: { TableName: TABLE, Item: LEASE_ITEM, ConditionExpression: 'attribute_not_exists(pk)' } },
          { Put: { TableName: TABLE, Item: auditItem(NOW * 1000, 1) } },
        ],
      });
      expect(ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input).toStrictEqual({
        TransactItems: [
          { Put: { TableName: TABLE, Item: POINTER_ITEM, ConditionExpression: 'attribute_not_exists(pk)' } },
          { Put: { TableName: TABLE, Item: LEASE_ITEM, ConditionExpression: 'attribute_not_exists(pk)' } },
          { Put: { TableName: TABLE, Item: auditItem(NOW * 1000, 1) } },
        ],
      });
    });

    it('saveLease of a live lease puts it on its version with the audit, and nothing else', async () => {
      // Arrange
      ddbMock.on(TransactWriteCommand).resolves({});
      const extended = { ...LEASE, expiresAt: NOW + 7200 };
      const audit = { ...AUDIT, type: 'extended', at: NOW * 1000 + 5, detail: { by: 3600, note: undefined } };

      // Act
      const saved = await store.saveLease(extended, 1, audit);

      // Assert
      expect(saved).toStrictEqual({ ...extended, version: 2 });
      expect(ddbMock).toHaveReceivedCommandTimes(QueryCommand, 0);
      expect(ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input).toStrictEqual({
        TransactItems: [
          {
            Put: {
              TableName: TABLE,
              Item: { ...LEASE_ITEM, expiresAt: NOW + 7200, dueAt: NOW + 7200, version: 2 },
              ConditionExpression: '#version = :expected',
              ExpressionAttributeNames: { '#version': 'version' },
              ExpressionAttributeValues: { ':expected': 1 },
            },
          },
          {
            Put: {
              TableName: TABLE,
              Item: auditItem(NOW * 1000 + 5, 2, { eventType: 'extended', detail: { by: 3600 } }),
            },
          },
        ],
      });
    });

    it('saveLease of an ended lease drops the due attributes and stamps purgeAt on lease, pointer and audits', async () => {
      // Arrange
      const earlier = auditItem(NOW * 1000, 1);
      ddbMock
        .on(QueryCommand)
        .resolves({ Items: [{ pk: earlier.pk, sk: earlier.sk }], Count: 1, ScannedCount: 1 });
      ddbMock.on(TransactWriteCommand).resolves({});
      const endedAt = NOW + 60;
      const ended: Lease = { ...LEASE, status: 'ended', endedAt, endReason: 'requested' };
      const purgeAt = endedAt + 90 * 86_400;
      const stamp = (sk: string) => ({
        Update: {
          TableName: TABLE,
          Key: { pk: 'R#req-1', sk },
          UpdateExpression: 'SET #purgeAt = :purgeAt',
          ExpressionAttributeNames: { '#purgeAt': 'purgeAt' },
          ExpressionAttributeValues: { ':purgeAt': purgeAt },
        },
      });

      // Act
      await store.saveLease(ended, 1, { ...AUDIT, type: 'revoked', at: endedAt * 1000 });

      // Assert
      expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :audit)',
        ConsistentRead: true,
      });
      const { dueShard: _shard, dueAt: _dueAt, ...liveAttributes } = LEASE_ITEM;
      expect(ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input).toStrictEqual({
        TransactItems: [
          {
            Put: {
              TableName: TABLE,
              Item: {
                ...liveAttributes,
                status: 'ended',
                endedAt,
                endReason: 'requested',
                version: 2,
                purgeAt,
              },
              ConditionExpression: '#version = :expected',
              ExpressionAttributeNames: { '#version': 'version' },
              ExpressionAttributeValues: { ':expected': 1 },
            },
          },
          {
            Put: { TableName: TABLE, Item: auditItem(endedAt * 1000, 2, { eventType: 'revoked', purgeAt }) },
          },
          stamp('R'),
          stamp(earlier.sk),
        ],
      });
    });

    it('dueLeases queries every shard of the due index and re-reads candidates consistently, retrying leftovers', async () => {
      // Arrange
      ddbMock.on(QueryCommand).resolves({ Items: [], Count: 0, ScannedCount: 0 });
      ddbMock
        .on(QueryCommand, { ExpressionAttributeValues: { ':shard': '3', ':now': NOW + 3600 } })
        .resolves({
          Items: [{ pk: SUBJECT_PK, sk: 'L#req-1', dueShard: '3', dueAt: NOW + 3600 }],
          ScannedCount: 1,
        });
      ddbMock
        .on(BatchGetCommand)
        .resolvesOnce({
          Responses: {},
          UnprocessedKeys: { [TABLE]: { Keys: [{ pk: SUBJECT_PK, sk: 'L#req-1' }] } },
        })
        .resolves({ Responses: { [TABLE]: [LEASE_ITEM] } });

      // Act
      const due = await store.dueLeases(NOW + 3600, 50);

      // Assert
      expect(due).toStrictEqual([LEASE]);
      expect(ddbMock).toHaveReceivedCommandTimes(QueryCommand, 8);
      expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
        IndexName: 'due',
        KeyConditionExpression: 'dueShard = :shard AND dueAt <= :now',
        Limit: 50,
      });
      expect(ddbMock).toHaveReceivedCommandTimes(BatchGetCommand, 2);
      expect(ddbMock).toHaveReceivedCommandWith(BatchGetCommand, {
        RequestItems: { [TABLE]: { Keys: [{ pk: SUBJECT_PK, sk: 'L#req-1' }], ConsistentRead: true } },
      });
    });
  });

  describe('error translation', () => {
    it('turns throttling into a RetryableError that keeps the cause', async () => {
      // Arrange
      const throttled = new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} });
      ddbMock.on(TransactWriteCommand).rejects(throttled);

      // Act
      const error = await rejection(store.createLease(LEASE, AUDIT));

      // Assert
      expect(error).toBeInstanceOf(RetryableError);
      expect(error).not.toBeInstanceOf(ConcurrentModificationError);
      expect((error as Error).cause).toBe(throttled);
    });

    it.each([
      ['ThrottlingException', Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })],
      [
        'InternalServerError',
        new InternalServerError({ message: 'oops', $metadata: { httpStatusCode: 500 } }),
      ],
      [
        'ECONNREFUSED',
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8000'), { code: 'ECONNREFUSED' }),
      ],
      ['TimeoutError', Object.assign(new Error('socket timed out'), { name: 'TimeoutError' })],
      ['TransactionConflict', cancelled('None', 'TransactionConflict')],
    ])('turns %s into a RetryableError', async (_, failure) => {
      // Arrange
      ddbMock.on(QueryCommand).rejects(failure);
      ddbMock.on(TransactWriteCommand).rejects(failure);

      // Act
      const read = await rejection(store.readSubject(LEASE));
      const write = await rejection(store.saveLease(LEASE, 1, AUDIT));

      // Assert
      for (const error of [read, write]) {
        expect(error).toBeInstanceOf(RetryableError);
        expect((error as Error).cause).toBe(failure);
      }
    });

    it('reports a duplicate when the pointer condition fails, reading the existing grant through the pointer', async () => {
      // Arrange
      ddbMock
        .on(TransactWriteCommand)
        .rejects(cancelled('ConditionalCheckFailed', 'ConditionalCheckFailed', 'None'));
      ddbMock.on(GetCommand, { Key: { pk: 'R#req-1', sk: 'R' } }).resolves({ Item: POINTER_ITEM });
      ddbMock.on(GetCommand, { Key: { pk: SUBJECT_PK, sk: 'L#req-1' } }).resolves({ Item: LEASE_ITEM });

      // Act
      const result = await store.createLease({ ...LEASE, fingerprint: 'fp-2' }, AUDIT);

      // Assert
      expect(result).toStrictEqual({ created: false, existing: LEASE, fingerprint: 'fp-1' });
      expect(ddbMock).toHaveReceivedCommandWith(GetCommand, { ConsistentRead: true });
    });

    it('turns a failed version condition into ConcurrentModificationError', async () => {
      // Arrange
      const lost = cancelled('ConditionalCheckFailed', 'None');
      ddbMock.on(TransactWriteCommand).rejects(lost);

      // Act
      const error = await rejection(store.saveLease(LEASE, 1, AUDIT));

      // Assert
      expect(error).toBeInstanceOf(ConcurrentModificationError);
      expect((error as Error).cause).toBe(lost);
    });

    it('turns failed lock conditions into outcomes: not acquired, not released, state refused', async () => {
      // Arrange
      ddbMock
        .on(UpdateCommand)
        .rejects(
          new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
        );

      // Act
      const acquired = await acquireLock(table, LEASE, 'owner-b', NOW, 30);
      const released = await releaseLock(table, LEASE, 'owner-b');
      const saveError = await rejection(
        store.saveSubjectState(LEASE, { entryOwned: true, touched: {} }, 'owner-b'),
      );

      // Assert
      expect(acquired).toBe(false);
      expect(released).toBe(false);
      expect(saveError).toBeInstanceOf(ConcurrentModificationError);
      expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
        Key: { pk: SUBJECT_PK, sk: '#SUBJECT' },
        ConditionExpression: 'attribute_not_exists(#lockOwner) OR #lockUntil <= :now OR #lockOwner = :owner',
      });
    });

    it('turns a ValidationException into a PermanentError', async () => {
      // Arrange
      const invalid = Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
        name: 'ValidationException',
      });
      ddbMock.on(TransactWriteCommand).rejects(invalid);

      // Act
      const error = await rejection(store.saveLease(LEASE, 1, AUDIT));

      // Assert
      expect(error).toBeInstanceOf(PermanentError);
      expect((error as Error).cause).toBe(invalid);
    });

    it('rethrows an unknown error as is', async () => {
      // Arrange
      const unknown = Object.assign(new Error('something new'), { name: 'BrandNewException' });
      ddbMock.on(GetCommand).rejects(unknown);

      // Act
      const error = await rejection(store.findLease('req-1'));

      // Assert
      expect(error).toBe(unknown);
    });

    it('refuses a stored item it cannot map, as a PermanentError', async () => {
      // Arrange
      ddbMock.on(GetCommand, { Key: { pk: 'R#req-1', sk: 'R' } }).resolves({ Item: POINTER_ITEM });
      ddbMock
        .on(GetCommand, { Key: { pk: SUBJECT_PK, sk: 'L#req-1' } })
        .resolves({ Item: { ...LEASE_ITEM, status: 'paused' } });

      // Act
      const error = await rejection(store.findLease('req-1'));

      // Assert
      expect(error).toBeInstanceOf(PermanentError);
      expect((error as Error).message).toContain('status');
    });
  });

  describe('options', () => {
    it('fails loudly on a misspelt or invalid option', () => {
      const misspelt: LeaseStoreOptions & Record<string, unknown> = {
        client: documentClient,
        tableName: TABLE,
        dueShard: 4,
      };
      expect(() => new LeaseStore(misspelt)).toThrow('unknown option(s) dueShard');
      expect(() => new LeaseStore({ client: documentClient, tableName: TABLE, dueShards: 0 })).toThrow(
        ConfigurationError,
      );
      expect(() => new LeaseStore({ client: documentClient, tableName: '' })).toThrow(ConfigurationError);
    });
  });
});
