import { takeQueued } from '../app/intake';
import { queueIntakeDeps } from '../runtime';
import { sqsBatchHandler } from './sqs-batch';

/**
 * Consumer of the intake queue: each record is one request, or a ticket event of the broker's webhook function;
 * only a retryable error reports it as a batch item failure (bad input is rejected with an outcome event and
 * deleted).
 */
export const handler = sqsBatchHandler(async (record) => {
  // SQS names the sender (SenderId); the body's claims about who sent it count for nothing.
  const result = await takeQueued(queueIntakeDeps(), {
    sqsBody: record.body,
    senderId: record.attributes.SenderId,
  });
  return result.status;
});
