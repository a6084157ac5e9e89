import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { caught } from '../support/aws';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { SqsTicketEventQueue } from '../../functions/adapters/ticket-event-queue';
import { PermanentError, RetryableError } from '../../functions/core/errors';
import type { TicketEvent } from '../../functions/core/tickets/ticket-event';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/111122223333/eks-access-broker-test-requests';
const EVENT: TicketEvent = {
  integration: 'pagerduty',
  vendor: 'pagerduty',
  deliveryId: '01DZQ7M0X0WQ3KJ5TAEKD1YQ0B',
  ticket: 'Q2K3J4H5G6F7D8',
  event: 'incident.acknowledged',
  claims: { user: 'PUSR0AL' },
  receivedAt: '2026-05-28T21:46:41.000Z',
};

const sqsMock = mockClient(SQSClient);
const queue = new SqsTicketEventQueue({
  client: new SQSClient({ region: 'us-east-1' }),
  queueUrl: QUEUE_URL,
});

afterEach(() => {
  sqsMock.reset();
});

describe('SqsTicketEventQueue with a mocked SQS', () => {
  it('sends the event in the envelope of the requests queue, with the ticket event source and detail-type', async () => {
    // Arrange
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm-1' });

    // Act
    await queue.send(EVENT);

    // Assert
    expect(sqsMock).toHaveReceivedCommandTimes(SendMessageCommand, 1);
    const input = sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input;
    expect(input?.QueueUrl).toBe(QUEUE_URL);
    expect(input?.DelaySeconds).toBeUndefined();
    expect(JSON.parse(input?.MessageBody ?? '')).toStrictEqual({
      source: 'eks-access-broker.webhooks',
      'detail-type': 'Ticket Event Received',
      detail: EVENT,
    });
  });

  it.each([
    [
      'a 5xx',
      Object.assign(new Error('We encountered an internal error'), {
        name: 'InternalError',
        $metadata: { httpStatusCode: 500 },
      }),
    ],
    [
      'throttling',
      Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
      }),
    ],
    ['a network failure', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
  ])('turns %s into a RetryableError that keeps the cause', async (_, failure) => {
    // Arrange
    sqsMock.on(SendMessageCommand).rejects(failure);

    // Act
    const error = await caught(() => queue.send(EVENT));

    // Assert
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toBe(
      `Could not queue the pagerduty webhook 01DZQ7M0X0WQ3KJ5TAEKD1YQ0B: ${failure.message}`,
    );
    expect(error.cause).toBe(failure);
  });

  it('turns access denied into a PermanentError that keeps the cause', async () => {
    // Arrange
    const failure = Object.assign(new Error('not allowed'), {
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    sqsMock.on(SendMessageCommand).rejects(failure);

    // Act
    const error = await caught(() => queue.send(EVENT));

    // Assert
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(
      'Could not queue the pagerduty webhook 01DZQ7M0X0WQ3KJ5TAEKD1YQ0B: AccessDenied: not allowed',
    );
    expect(error.cause).toBe(failure);
  });
});
