import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { parseTimerMessage } from '../adapters/expiry-timers';
import { onTimer } from '../app/expiry';
import { logger, metrics, runtime } from '../runtime';

const processor = new BatchProcessor(EventType.SQS);

/** A stale or early timer is settled here; only a retryable error (a busy subject) brings it back. */
async function recordHandler(record: SQSRecord): Promise<string> {
  const timer = parseTimerMessage(record.body);
  if (!timer) {
    logger.warn('not a timer message: ignored', { messageId: record.messageId });
    return 'ignored';
  }
  const result = await onTimer(runtime().deps, timer);
  return result.status;
}

/** Consumer of the timer queue: delayed messages that fire at lease expiry, so revocation lands in seconds. */
export const handler = middy(async (event: SQSEvent, context: Context) =>
  processPartialResponse(event, recordHandler, processor, { context }),
)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
