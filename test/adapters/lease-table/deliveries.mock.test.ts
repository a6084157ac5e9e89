import { DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseStore } from '../../../functions/adapters/lease-table';
import { RetryableError } from '../../../functions/core/errors';
import { LOCAL_CREDENTIALS } from '../../support/aws';

const TABLE = 'leases';
const KEEP_UNTIL = 1_780_604_800;
const documentClient = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS }),
);
const dynamodb = mockClient(documentClient);

afterEach(() => {
  dynamodb.reset();
});

const deliveries = () => new LeaseStore({ client: documentClient, tableName: TABLE }).deliveries;

describe('LeaseStore.deliveries', () => {
  it('reads the delivery item by key, strongly consistent: seen when it is there', async () => {
    // Arrange
    dynamodb
      .on(GetCommand)
      .resolvesOnce({})
      .resolves({ Item: { pk: 'D#jira#d-1', sk: 'D' } });

    // Act
    const seen = [await deliveries().seen('jira', 'd-1'), await deliveries().seen('jira', 'd-1')];

    // Assert
    expect(seen).toEqual([false, true]);
    expect(dynamodb).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE,
      Key: { pk: 'D#jira#d-1', sk: 'D' },
      ConsistentRead: true,
    });
  });

  it('puts the delivery item with purgeAt (TTL) = keepUntil, unconditionally', async () => {
    // Arrange
    dynamodb.on(PutCommand).resolves({});

    // Act
    await deliveries().remember('pagerduty', '01DZQ7M0X0WQ3KJ5TAEKD1YQ0B', KEEP_UNTIL);

    // Assert
    expect(dynamodb).toHaveReceivedCommandTimes(PutCommand, 1);
    expect(dynamodb.commandCalls(PutCommand)[0]?.args[0].input).toStrictEqual({
      TableName: TABLE,
      Item: { pk: 'D#pagerduty#01DZQ7M0X0WQ3KJ5TAEKD1YQ0B', sk: 'D', kind: 'delivery', purgeAt: KEEP_UNTIL },
    });
  });

  it('throws RetryableError when DynamoDB throttles, so the webhook is answered 503 and sent again', async () => {
    // Arrange
    dynamodb
      .on(GetCommand)
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));

    // Act
    const outcome = deliveries().seen('jira', 'd-1');

    // Assert
    await expect(outcome).rejects.toBeInstanceOf(RetryableError);
  });
});
