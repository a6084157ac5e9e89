import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { ThrottlingException } from '@aws-sdk/client-eks';
import { describe, expect, it } from 'vitest';
import {
  httpStatus,
  isNetworkError,
  isRetryableAwsError,
  isThrottle,
  translateAwsError,
} from '../../functions/adapters/aws-errors';
import { PermanentError, RetryableError } from '../../functions/core/errors';

function named(name: string, status?: number): Error {
  return Object.assign(new Error(`${name} happened`), {
    name,
    $metadata: status === undefined ? {} : { httpStatusCode: status },
  });
}

function socket(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:8000`), { code });
}

describe('The one classifier of AWS SDK errors', () => {
  it('reads the HTTP status of an answer of AWS, and none from anything else', () => {
    // Act
    const statuses = [
      named('AccessDeniedException', 403),
      named('Anything'),
      new Error('plain'),
      'text',
      null,
    ];

    // Assert
    expect(statuses.map(httpStatus)).toEqual([403, undefined, undefined, undefined, undefined]);
  });

  it('tells throttling by name or by 429, for EKS and DynamoDB alike', () => {
    // Arrange
    const throttles = [
      new ThrottlingException({ message: 'Rate exceeded', $metadata: {} }),
      new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }),
      named('TooManyRequestsException'),
      named('RequestLimitExceeded'),
      named('SlowDown', 429),
    ];
    const others = [named('ResourceNotFoundException', 404), 'ThrottlingException'];

    // Act
    const answers = [...throttles, ...others].map(isThrottle);

    // Assert
    expect(answers).toEqual([true, true, true, true, true, false, false]);
  });

  it('tells a network failure by its one set of socket codes, or the SDK timeout', () => {
    // Arrange
    const codes = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND'];

    // Act
    const network = [...codes.map(socket), named('TimeoutError')].map(isNetworkError);
    const notNetwork = [socket('EACCES'), named('ValidationException', 400), 'ECONNRESET'].map(
      isNetworkError,
    );

    // Assert
    expect(network).toEqual([true, true, true, true, true, true, true]);
    expect(notNetwork).toEqual([false, false, false]);
  });

  it('retries throttling, 5xx, the network, transient names and what the SDK marks retryable, not 4xx', () => {
    // Arrange
    const retryable = [
      named('ThrottlingException'),
      named('Whatever', 503),
      socket('ENOTFOUND'),
      named('ServiceUnavailable'),
      named('ServerException'),
      named('TransactionConflictException'),
      named('ResourcePropagationDelayException'),
      named('RequestTimeoutException'),
      Object.assign(named('Odd', 400), { $retryable: {} }),
    ];
    const permanent = [
      named('ValidationException', 400),
      named('AccessDeniedException', 403),
      new Error('x'),
    ];

    // Act
    const answers = [...retryable, ...permanent].map(isRetryableAwsError);

    // Assert
    expect(answers).toEqual([...retryable.map(() => true), false, false, false]);
  });

  it('translates what waiting may fix as RetryableError, a 4xx as PermanentError, and leaves the rest', () => {
    // Arrange
    const throttled = named('ThrottlingException', 400);
    const denied = named('AccessDeniedException', 403);
    const unknown = new TypeError('not an answer of AWS');

    // Act
    const retry = translateAwsError(throttled, 'Could not do it');
    const refuse = translateAwsError(denied, 'Could not do it');
    const rest = translateAwsError(unknown, 'Could not do it');

    // Assert
    expect(retry).toBeInstanceOf(RetryableError);
    expect((retry as Error).message).toBe('Could not do it: ThrottlingException happened');
    expect((retry as Error).cause).toBe(throttled);
    expect(refuse).toBeInstanceOf(PermanentError);
    expect((refuse as Error).message).toBe(
      'Could not do it: AccessDeniedException: AccessDeniedException happened',
    );
    expect((refuse as Error).cause).toBe(denied);
    expect(rest).toBe(unknown);
  });
});
