import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { checkDrift } from '../app/drift';
import { logger, metrics, runtime } from '../runtime';

const SAFETY_MARGIN_MS = 10_000;

/** Every minute: puts back access that active leases need and someone removed or changed by hand. */
export const handler = middy(async (_event: ScheduledEvent, context: Context) =>
  checkDrift(runtime().deps, {
    deadline: Date.now() + context.getRemainingTimeInMillis() - SAFETY_MARGIN_MS,
  }),
)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
