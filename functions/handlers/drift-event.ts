import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { repairAfterChange } from '../app/drift-event';
import { readAccessEntryChange } from '../core/access-change';
import { logger, metrics, runtime } from '../runtime';
import { flushMetrics } from './flush-metrics';

/**
 * Target of the rule on the account's default bus that matches EKS's CloudTrail events of access-entry changes
 * made by anyone but the broker. A thrown (retryable) error makes Lambda retry the asynchronous invocation,
 * then hand it to the on-failure destination; the periodic drift check covers what is lost.
 */
export const handler = middy(async (event: EventBridgeEvent<string, unknown>) => {
  const reading = readAccessEntryChange(event);
  if ('ignored' in reading) {
    logger.info('cloudtrail event ignored', { eventId: event.id, reason: reading.ignored });
    return { status: 'ignored' };
  }
  const result = await repairAfterChange(runtime().deps, reading.change);
  return { status: result.status };
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(flushMetrics(metrics));
