import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { caught } from '../support/aws';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { ExpiryTimers } from '../../functions/adapters/expiry-timers';
import { PermanentError, RetryableError } from '../../functions/core/errors';

const QUEUE_URL = 'http://localhost/000000000000/eks-access-broker-timers';
const TIMER = { requestId: 'req-1', expiresAt: 1_780_000_000 };

const sqsMock = mockClient(SQSClient);
const timers = new ExpiryTimers({ client: new SQSClient({ region: 'us-east-1' }), queueUrl: QUEUE_URL });

afterEach(() => {
  sqsMock.reset();
});

describe('ExpiryTimers with a mocked SQS', () => {
  it('sends the timer as a message delayed by whole seconds, at most 15 minutes', async () => {
    // Arrange
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm-1' });

    // Act
    await timers.arm(TIMER, 12.2);
    await timers.arm(TIMER, 3600);

    // Assert
    expect(sqsMock).toHaveReceivedNthCommandWith(SendMessageCommand, 1, {
      QueueUrl: QUEUE_URL,
      MessageBody: '{"requestId":"req-1","expiresAt":1780000000}',
      DelaySeconds: 13,
    });
    expect(sqsMock).toHaveReceivedNthCommandWith(SendMessageCommand, 2, { DelaySeconds: 900 });
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
    const error = await caught(() => timers.arm(TIMER, 60));

    // Assert
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toBe(`Could not arm the expiry timer of req-1: ${failure.message}`);
    expect((error as Error).cause).toBe(failure);
  });

  it.each([
    ['a validation error', 'InvalidParameterValue', 400],
    ['access denied', 'AccessDenied', 403],
  ])('turns %s into a PermanentError that keeps the cause', async (_, name, status) => {
    // Arrange
    const failure = Object.assign(new Error('refused'), { name, $metadata: { httpStatusCode: status } });
    sqsMock.on(SendMessageCommand).rejects(failure);

    // Act
    const error = await caught(() => timers.arm(TIMER, 60));

    // Assert
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toBe(`Could not arm the expiry timer of req-1: ${name}: refused`);
    expect((error as Error).cause).toBe(failure);
  });
});
