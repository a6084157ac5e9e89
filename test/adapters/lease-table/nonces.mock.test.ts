import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseStore } from '../../../functions/adapters/lease-table';
import { RetryableError } from '../../../functions/core/errors';
import { LOCAL_CREDENTIALS } from '../../support/aws';

const TABLE = 'leases';
const KEEP_UNTIL = 1_780_000_360;
const documentClient = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS }),
);
const dynamodb = mockClient(documentClient);

afterEach(() => {
  dynamodb.reset();
});

const store = () => new LeaseStore({ client: documentClient, tableName: TABLE });

describe('LeaseStore.remember', () => {
  it('puts the nonce item once, with attribute_not_exists(pk) and purgeAt (TTL) = keepUntil', async () => {
    // Arrange
    dynamodb.on(PutCommand).resolves({});

    // Act
    const remembered = await store().remember('nonce-0123456789abcdef', KEEP_UNTIL);

    // Assert
    expect(remembered).toBe(true);
    expect(dynamodb).toHaveReceivedCommandTimes(PutCommand, 1);
    expect(dynamodb).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE,
      Item: { pk: 'N#nonce-0123456789abcdef', sk: 'N', kind: 'nonce', purgeAt: KEEP_UNTIL },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
  });

  it('answers false when the nonce is there already (the condition failed)', async () => {
    // Arrange
    dynamodb
      .on(PutCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    // Act
    const remembered = await store().remember('nonce-0123456789abcdef', KEEP_UNTIL);

    // Assert
    expect(remembered).toBe(false);
  });

  it('throws RetryableError when DynamoDB throttles, so the request is delivered again', async () => {
    // Arrange
    dynamodb
      .on(PutCommand)
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));

    // Act
    const outcome = store().remember('nonce-0123456789abcdef', KEEP_UNTIL);

    // Assert
    await expect(outcome).rejects.toBeInstanceOf(RetryableError);
  });
});
