import { type DeadLetter, settleDeadLetter } from '../app/dead-letter';
import { deadLetterDeps } from '../runtime';
import { sqsBatchHandler } from './sqs-batch';

/**
 * Consumer of the dead-letter queues (requests, timers, and the EventBridge intake's on-failure destination):
 * every request the broker gave up on gets its failure outcome event, so none ends silently. A retryable error
 * leaves the dead letter on its queue for another try.
 */
export const handler = sqsBatchHandler(async (record) => {
  const result = await settleDeadLetter(deadLetterDeps(), {
    body: record.body,
    queue: queueOf(record.eventSourceARN),
    senderId: record.attributes.SenderId,
  });
  return result.status;
});

/** Which dead-letter queue a record comes from, by the queue names of functions/config/names.ts. */
function queueOf(arn: string): DeadLetter['queue'] {
  if (arn.endsWith('-intake-events-dlq')) return 'intake-events';
  if (arn.endsWith('-timers-dlq')) return 'timers';
  // The strictest: only a sender that an integration may use the requests queue with is heard.
  return 'requests';
}
