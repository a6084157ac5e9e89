import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { settleDeadLetter } from '../app/dead-letter';
import { logger, metrics, runtime } from '../runtime';

const processor = new BatchProcessor(EventType.SQS);

/** Settles one dead letter; a retryable error leaves it on the queue for another try. */
async function recordHandler(record: SQSRecord): Promise<string> {
  const result = await settleDeadLetter(runtime().deps, record.body);
  return result.status;
}

/**
 * Consumer of the dead-letter queues (requests, timers, and the EventBridge intake's on-failure destination):
 * every request the broker gave up on gets its failure outcome event, so none ends silently.
 */
export const handler = middy(async (event: SQSEvent, context: Context) =>
  processPartialResponse(event, recordHandler, processor, { context }),
)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
