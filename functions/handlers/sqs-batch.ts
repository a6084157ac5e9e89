import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { logger, metrics } from '../runtime';

/**
 * The Lambda handler of an SQS consumer (ReportBatchItemFailures): Powertools' BatchProcessor works the records
 * in parallel; a record whose handler throws is reported as a batch item failure and comes back after the
 * visibility timeout (the redrive policy ends it in the DLQ), the others are deleted. The processor records
 * the error without logging it, so it is logged here, with the message it belongs to.
 */
export function sqsBatchHandler(settle: (record: SQSRecord) => Promise<string>) {
  const processor = new BatchProcessor(EventType.SQS);
  const recordHandler = async (record: SQSRecord): Promise<string> => {
    try {
      return await settle(record);
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
    .use(logMetrics(metrics));
}
