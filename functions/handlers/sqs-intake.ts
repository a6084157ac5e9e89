import { takeRequest } from '../app/intake';
import { runtime } from '../runtime';
import { sqsBatchHandler } from './sqs-batch';

/**
 * Consumer of the intake queue: each record is one request; only a retryable error reports it as a batch item
 * failure (bad input is rejected with an outcome event and deleted).
 */
export const handler = sqsBatchHandler(async (record) => {
  const result = await takeRequest(runtime().deps, { sqsBody: record.body });
  return result.status;
});
