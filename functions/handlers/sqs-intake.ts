import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { logger, metrics, runtime } from '../runtime';
import { handleEnvelope } from './intake';

const processor = new BatchProcessor(EventType.SQS);

/** Settles one record; only a thrown (retryable) error reports it as a batch item failure. */
async function recordHandler(record: SQSRecord): Promise<string> {
  const result = await handleEnvelope(runtime(), { sqsBody: record.body });
  return result.status;
}

/**
 * Consumer of the intake queue (ReportBatchItemFailures): a record that failed for a retryable reason comes
 * back after the visibility timeout, the others are deleted; the redrive policy ends poison messages in the DLQ.
 */
export const handler = middy(async (event: SQSEvent, context: Context) =>
  processPartialResponse(event, recordHandler, processor, { context }),
)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
