import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { checkDrift } from '../app/drift';
import { DRIFT_CHECK_INTERVAL_SECONDS } from '../config/defaults';
import { logger, metrics, runtime } from '../runtime';
import { flushMetrics } from './flush-metrics';

const SAFETY_MARGIN_MS = 10_000;

/**
 * Every minute: puts back access that active leases need and someone removed or changed by hand, going on
 * through the live leases from where the last run stopped, within its share of EKS's rate.
 */
export const handler = middy(async (_event: ScheduledEvent, context: Context) => {
  const { deps, config } = runtime();
  return checkDrift(deps, {
    deadline: Date.now() + context.getRemainingTimeInMillis() - SAFETY_MARGIN_MS,
    budget: {
      callsPerSecond: config.driftEksShare * config.eksRatePerSecond,
      intervalSeconds: DRIFT_CHECK_INTERVAL_SECONDS,
    },
  });
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(flushMetrics(metrics));
