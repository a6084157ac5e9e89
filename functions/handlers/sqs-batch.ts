import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { logger, metrics } from '../runtime';
import { flushMetrics } from './flush-metrics';

/**
 * The Lambda handler of an SQS consumer (ReportBatchItemFailures): Powertools' BatchProcessor works the records
 * in parallel; a record whose handler throws is reported as a batch item failure and comes back after the
 * visibility timeout (the redrive policy ends it in the DLQ), the others are deleted. The processor records
 * the error without logging it, so it is logged here, with the message it belongs to. `settle` gets the
 * invocation's context (its remaining time) as the processor hands it on.
 */
export function sqsBatchHandler(settle: (record: SQSRecord, context?: Context) => Promise<string>) {
  const processor = new BatchProcessor(EventType.SQS);
  const recordHandler = async (record: SQSRecord, context?: Context): Promise<string> => {
    try {
      return await settle(record, context);
    } catch (error) {
      logger.error('record failed: it comes back after the visibility timeout', {
        messageId: record.messageId,
        receiveCount: record.attributes.ApproximateReceiveCount,
        error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
      });
      throw error;
    }
  };
  return middy(async (event: SQSEvent, context: Context) =>
    processPartialResponse(event, recordHandler, processor, { context }),
  )
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(flushMetrics(metrics));
}
