/**
 * The two kinds of failure the broker tells apart. A retryable error is thrown out of a handler so that SQS
 * redelivers the message or EventBridge retries the invocation; a permanent error ends the request with an
 * outcome event. Every error keeps what caused it.
 */
export class RetryableError extends Error {
  override readonly name: string = 'RetryableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class PermanentError extends Error {
  override readonly name: string = 'PermanentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Another invocation holds the subject's lock: try again later. */
export class SubjectBusyError extends RetryableError {
  override readonly name = 'SubjectBusyError';
}

/** A write lost a race (its condition failed): read again and redo the work. */
export class ConcurrentModificationError extends RetryableError {
  override readonly name: string = 'ConcurrentModificationError';
}

/** A configuration file or variable is missing or wrong: stops the cold start. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

export function isRetryable(error: unknown): boolean {
  return error instanceof RetryableError;
}
