/**
 * Invocations that record no metric (a sweep with nothing due, an outcome with no ticket to write back to) log
 * no "No application metrics to publish" WARN: not the middleware alone, and not the handlers as `npm start`
 * runs them, where the sweeper and the drift check share one process and one Metrics instance.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { flushMetrics } from '../../functions/handlers/flush-metrics';
import { handler as writeBackHandler } from '../../functions/handlers/write-back';
import { logger } from '../../functions/runtime';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import { lambdaContext } from '../../infra/local/lambda-context';
import { freshRequestId } from '../support/fixtures';

const EMPTY_WARNING = /No application metrics to publish/;

/** A Metrics instance whose warnings are collected, and a handler that records `recorded` metrics. */
function instrumented(middleware: 'flushMetrics' | 'logMetrics', recorded: number) {
  const warnings: string[] = [];
  const quiet = () => undefined;
  const metrics = new Metrics({
    namespace: 'Test',
    serviceName: 'test',
    logger: { debug: quiet, info: quiet, error: quiet, warn: (message: string) => warnings.push(message) },
  });
  const publish = vi.spyOn(metrics, 'publishStoredMetrics');
  const handler = middy(async () => {
    for (let i = 0; i < recorded; i++) metrics.addMetric('Done', MetricUnit.Count, 1);
  }).use(middleware === 'flushMetrics' ? flushMetrics(metrics) : logMetrics(metrics));
  return { metrics, warnings, publish, handler };
}

describe('flushMetrics', () => {
  it('publishes nothing and warns of nothing when the invocation recorded no metric', async () => {
    const { warnings, publish, handler } = instrumented('flushMetrics', 0);

    await handler({}, lambdaContext('test'));

    expect(warnings).toEqual([]);
    expect(publish).not.toHaveBeenCalled();
  });

  it('publishes what the invocation recorded, once, and keeps nothing for the next', async () => {
    const { metrics, warnings, publish, handler } = instrumented('flushMetrics', 2);

    await handler({}, lambdaContext('test'));

    expect(publish).toHaveBeenCalledTimes(1);
    expect(metrics.hasStoredMetrics()).toBe(false);
    expect(warnings).toEqual([]);
  });

  it("replaces Powertools' logMetrics, which warns on every such invocation", async () => {
    const { warnings, handler } = instrumented('logMetrics', 0);

    await handler({}, lambdaContext('test'));

    expect(warnings).toEqual([expect.stringMatching(EMPTY_WARNING)]);
  });
});

describe("the broker's handlers, as npm start runs them", () => {
  let broker: LocalBroker;

  beforeAll(async () => {
    broker = await startLocalBroker({ port: 0, sweepIntervalMs: 0 });
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  afterAll(async () => {
    await broker.close();
  });

  it('log no empty-metrics WARN for scheduled runs at once, nor for an outcome with no ticket', async () => {
    const warn = vi.spyOn(logger, 'warn');
    const outcome: SQSEvent = {
      Records: [
        {
          messageId: 'm-1',
          receiptHandle: 'r-1',
          body: JSON.stringify({
            source: 'eks-access-broker',
            'detail-type': 'Access Granted',
            detail: { requestId: freshRequestId('NO-TICKET') },
          }),
          attributes: {
            ApproximateReceiveCount: '1',
            SentTimestamp: String(Date.now()),
            SenderId: 'AROAEXAMPLE',
            ApproximateFirstReceiveTimestamp: String(Date.now()),
          },
          messageAttributes: {},
          md5OfBody: '',
          eventSource: 'aws:sqs',
          eventSourceARN: 'arn:aws:sqs:us-east-1:111122223333:eks-access-broker-local-write-back',
          awsRegion: 'us-east-1',
        },
      ],
    };

    await Promise.all([broker.sweep(), broker.checkDrift(), broker.sweep()]);
    const answer = await writeBackHandler(outcome, lambdaContext('eks-access-broker-write-back'));

    expect(answer).toEqual({ batchItemFailures: [] });
    const messages = warn.mock.calls.map(([message]) => String(message));
    expect(messages.filter((message) => EMPTY_WARNING.test(message))).toEqual([]);
  });
});
