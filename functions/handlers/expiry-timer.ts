import { onTimer } from '../app/expiry';
import { parseTimerMessage } from '../core/timer-message';
import { logger, runtime } from '../runtime';
import { sqsBatchHandler } from './sqs-batch';

/**
 * What an invocation keeps of its time for the revocation after a wait: the subject's lock wait (5 s by default)
 * and EKS's calls with their retries. The rest of the function's timeout may go to waiting for an expiry.
 */
const REVOCATION_RESERVE_MS = 15_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Consumer of the timer queue: delayed messages armed to arrive a little before lease expiry; each waits for
 * its expiry here and revokes then, so revocation lands within a moment of it and never before. A stale timer
 * is settled here; only a retryable error (a busy subject) brings it back.
 */
export const handler = sqsBatchHandler(async (record, context) => {
  const timer = parseTimerMessage(record.body);
  if (!timer) {
    logger.warn('not a timer message: ignored', { messageId: record.messageId });
    return 'ignored';
  }
  const maxWaitMs = Math.max(0, (context?.getRemainingTimeInMillis() ?? 0) - REVOCATION_RESERVE_MS);
  const result = await onTimer(runtime().deps, timer, { maxWaitMs, sleep });
  return result.status;
});
