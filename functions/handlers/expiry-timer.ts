import { onTimer } from '../app/expiry';
import { parseTimerMessage } from '../core/timer-message';
import { logger, runtime } from '../runtime';
import { sqsBatchHandler } from './sqs-batch';

/**
 * Consumer of the timer queue: delayed messages that fire at lease expiry, so revocation lands in seconds. A
 * stale or early timer is settled here; only a retryable error (a busy subject) brings it back.
 */
export const handler = sqsBatchHandler(async (record) => {
  const timer = parseTimerMessage(record.body);
  if (!timer) {
    logger.warn('not a timer message: ignored', { messageId: record.messageId });
    return 'ignored';
  }
  const result = await onTimer(runtime().deps, timer);
  return result.status;
});
