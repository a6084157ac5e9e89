import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { sweep } from '../app/expiry';
import { logger, metrics, runtime } from '../runtime';
import { flushMetrics } from './flush-metrics';

/** Time kept back from the function timeout: leases not started by then are left for the next run. */
const SAFETY_MARGIN_MS = 10_000;

/** Every minute: ends due leases (the backstop of the timers) and arms the timers of leases about to end. */
export const handler = middy(async (_event: ScheduledEvent, context: Context) =>
  sweep(runtime().deps, { deadline: Date.now() + context.getRemainingTimeInMillis() - SAFETY_MARGIN_MS }),
)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(flushMetrics(metrics));
