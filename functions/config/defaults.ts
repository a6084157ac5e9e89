/** Defaults defined once: the environment (environment.ts), the adapters and serverless.yml's params agree. */

/** How long an invocation waits for a subject's lock before giving the message back (LOCK_WAIT_MS). */
export const DEFAULT_LOCK_WAIT_MS = 5_000;

/** Attempts to take a lease's access back before it is declared irrevocable (it is still retried). */
export const DEFAULT_REVOCATION_BUDGET = 5;

/** Deliveries of a queue message before SQS moves it to its dead-letter queue (AWS and the local edge). */
export const MAX_RECEIVE_COUNT = 5;

/**
 * R: the EKS API calls per second the broker assumes its account and region get (EKS_RATE_PER_SECOND). AWS
 * publishes no figure for EKS; 40 is the rate `npm run bench` runs its EKS at. Set the account's own.
 */
export const DEFAULT_EKS_RATE_PER_SECOND = 40;

/** The share of R the periodic drift check may spend (DRIFT_EKS_SHARE): grants and revocations keep the rest. */
export const DEFAULT_DRIFT_EKS_SHARE = 0.1;

/** How often the drift check runs (serverless.yml's schedule): one run spends at most share x R x this. */
export const DRIFT_CHECK_INTERVAL_SECONDS = 60;
