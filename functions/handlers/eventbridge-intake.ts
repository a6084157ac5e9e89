import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { takeRequest } from '../app/intake';
import { eventIntakeDeps, logger, metrics } from '../runtime';
import { flushMetrics } from './flush-metrics';

/**
 * Target of the EventBridge rule that matches the request detail-types from the allowed sources. A thrown
 * (retryable) error makes Lambda retry the asynchronous invocation, then hand it to the on-failure destination.
 */
export const handler = middy(async (event: EventBridgeEvent<string, unknown>) => {
  const result = await takeRequest(eventIntakeDeps(), { event });
  return { status: result.status };
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(flushMetrics(metrics));
