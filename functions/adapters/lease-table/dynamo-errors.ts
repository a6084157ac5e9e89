import { ConcurrentModificationError, PermanentError, RetryableError } from '../../core/errors';
import { isRetryableAwsError } from '../aws-errors';

/** Cancellation codes of a transaction item that a later attempt may not meet. */
const RETRYABLE_CANCELLATION_CODES = new Set([
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
]);

/**
 * Turns an SDK error into the broker's vocabulary. A failed condition (alone or inside a cancelled
 * transaction) is a lost race, ConcurrentModificationError, which callers that expect it turn into an
 * outcome; the original stays as `cause`. Unknown errors come back unchanged.
 */
export function translateDynamoDbError(error: unknown, operation: string): unknown {
  if (!(error instanceof Error)) return error;
  const name = error.name;
  if (name === 'ConditionalCheckFailedException') {
    return new ConcurrentModificationError(`${operation}: the item changed meanwhile (condition failed)`, {
      cause: error,
    });
  }
  if (name === 'TransactionCanceledException') {
    const codes = cancellationCodes(error);
    if (codes.includes('ConditionalCheckFailed')) {
      return new ConcurrentModificationError(`${operation}: the item changed meanwhile (condition failed)`, {
        cause: error,
      });
    }
    if (codes.some((code) => RETRYABLE_CANCELLATION_CODES.has(code))) {
      return new RetryableError(`${operation}: transaction cancelled (${codes.join(', ')})`, {
        cause: error,
      });
    }
    if (codes.includes('ValidationError')) {
      return new PermanentError(`${operation}: transaction refused as invalid (${error.message})`, {
        cause: error,
      });
    }
    return error;
  }
  if (isRetryableAwsError(error)) {
    return new RetryableError(`${operation}: DynamoDB is throttling or unavailable (${name})`, {
      cause: error,
    });
  }
  if (name === 'ValidationException') {
    return new PermanentError(`${operation}: DynamoDB refused the request as invalid (${error.message})`, {
      cause: error,
    });
  }
  return error;
}

/** The cancellation code of each item of a cancelled transaction, in request order ('None' for fine ones). */
export function cancellationCodes(error: unknown): string[] {
  if (typeof error !== 'object' || error === null || !('CancellationReasons' in error)) return [];
  const reasons: unknown = error.CancellationReasons;
  if (!Array.isArray(reasons)) return [];
  return reasons.map((reason: unknown) =>
    typeof reason === 'object' && reason !== null && 'Code' in reason && typeof reason.Code === 'string'
      ? reason.Code
      : 'None',
  );
}
