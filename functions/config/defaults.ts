/** Defaults defined once: the environment (environment.ts), the adapters and serverless.yml's params agree. */

/** How long an invocation waits for a subject's lock before giving the message back (LOCK_WAIT_MS). */
export const DEFAULT_LOCK_WAIT_MS = 5_000;

/** Attempts to take a lease's access back before it is declared irrevocable (it is still retried). */
export const DEFAULT_REVOCATION_BUDGET = 5;

/** Deliveries of a queue message before SQS moves it to its dead-letter queue (AWS and the local edge). */
export const MAX_RECEIVE_COUNT = 5;
