import { settleDeadLetter } from '../app/dead-letter';
import { runtime } from '../runtime';
import { sqsBatchHandler } from './sqs-batch';

/**
 * Consumer of the dead-letter queues (requests, timers, and the EventBridge intake's on-failure destination):
 * every request the broker gave up on gets its failure outcome event, so none ends silently. A retryable error
 * leaves the dead letter on its queue for another try.
 */
export const handler = sqsBatchHandler(async (record) => {
  const result = await settleDeadLetter(runtime().deps, record.body);
  return result.status;
});
