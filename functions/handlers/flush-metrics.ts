import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';

/**
 * Powertools' logMetrics middleware without its "No application metrics to publish" WARN: a sweep with nothing
 * due, a ticket event that asks nothing, an outcome with no ticket to write back to are ordinary invocations,
 * and a WARN on each (every minute for the scheduled functions) teaches people to ignore warnings. After the
 * handler returns or throws, what it recorded is published; an invocation that recorded nothing publishes
 * nothing. `hasStoredMetrics()` is the method Powertools added for exactly this
 * (aws-powertools/powertools-lambda-typescript#2036); `throwOnEmptyMetrics` would instead fail such runs.
 */
export function flushMetrics(metrics: Metrics): MiddlewareObj {
  const flush = (): void => {
    if (metrics.hasStoredMetrics()) {
      metrics.publishStoredMetrics();
      return;
    }
    // What publishStoredMetrics would have cleared: nothing of this invocation may reach the next one.
    metrics.clearDimensions();
    metrics.clearMetadata();
  };
  return { after: flush, onError: flush };
}
