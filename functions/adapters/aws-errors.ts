import { PermanentError, RetryableError } from '../core/errors';

/** The call was over a rate or capacity limit: EKS's names, DynamoDB's, and the SDK's own. */
const THROTTLE_NAMES = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
]);

/** Failures on AWS's side, or races inside it, that a later attempt may not meet. */
const TRANSIENT_NAMES = new Set([
  'InternalServerError',
  'ServerException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TransactionConflictException',
  'TransactionInProgressException',
  // EKS's answer while an access entry it just created is not yet visible everywhere.
  'ResourcePropagationDelayException',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/** Node's codes for a request that may never have reached AWS, or whose answer was lost on the way. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

/** The HTTP status of AWS's answer; undefined when the error is not an answer of AWS. */
export function httpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return undefined;
  const metadata: unknown = error.$metadata;
  return typeof metadata === 'object' &&
    metadata !== null &&
    'httpStatusCode' in metadata &&
    typeof metadata.httpStatusCode === 'number'
    ? metadata.httpStatusCode
    : undefined;
}

/** True for AWS's answer to a call over its rate limit. */
export function isThrottle(error: unknown): boolean {
  return error instanceof Error && (THROTTLE_NAMES.has(error.name) || httpStatus(error) === 429);
}

/** True when the request failed in transit: the SDK's timeout, or a socket error. */
export function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = 'code' in error && typeof error.code === 'string' ? error.code : '';
  return error.name === 'TimeoutError' || NETWORK_CODES.has(code);
}

/** True when waiting can help: throttling, a 5xx, the network, or an error the SDK itself marks retryable. */
export function isRetryableAwsError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const status = httpStatus(error);
  return (
    isThrottle(error) ||
    isNetworkError(error) ||
    TRANSIENT_NAMES.has(error.name) ||
    (status !== undefined && status >= 500) ||
    ('$retryable' in error && Boolean(error.$retryable))
  );
}

/**
 * For adapters with no failure of their own to tell apart: RetryableError when waiting can help,
 * PermanentError when AWS refused the request (a 4xx: invalid, access denied), both with `what` and the
 * cause; anything that is not an answer of AWS comes back unchanged.
 */
export function translateAwsError(error: unknown, what: string): unknown {
  if (!(error instanceof Error)) return error;
  if (isRetryableAwsError(error)) return new RetryableError(`${what}: ${error.message}`, { cause: error });
  const status = httpStatus(error);
  if (status !== undefined && status >= 400 && status < 500) {
    return new PermanentError(`${what}: ${error.name}: ${error.message}`, { cause: error });
  }
  return error;
}
