import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as deadLetterHandler } from '../../functions/handlers/dead-letter';
import { handler as eventBridgeHandler } from '../../functions/handlers/eventbridge-intake';
import { handler as sqsHandler } from '../../functions/handlers/sqs-intake';
import { runtime } from '../../functions/runtime';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import { lambdaContext } from '../../infra/local/lambda-context';
import { localCaller, localSenderId } from '../support/callers';
import { freshPrincipal, freshRequestId, sampleEvent, withDetail } from '../support/fixtures';
import { waitFor } from '../support/poll';

/**
 * The poison path: a request that keeps failing ends in the dead-letter queue, and the dead-letter consumer
 * (functions/handlers/dead-letter.ts) gives it its failure outcome, so nothing ends silently. Runs on LocalQueues:
 * a request queue with a 1 s visibility timeout and 3 receives, redriving to its DLQ.
 */
const QUEUE = 'safety-poison-requests';
const DLQ = 'safety-poison-requests-dlq';

let broker: LocalBroker;

beforeAll(async () => {
  broker = await startLocalBroker({ port: 0, sweepIntervalMs: 0 });
  process.env.LOCK_WAIT_MS = '300';
  broker.edge.queues.createQueue(DLQ, { visibilityTimeoutSeconds: 1 });
  broker.edge.queues.createQueue(QUEUE, {
    visibilityTimeoutSeconds: 1,
    maxReceiveCount: 3,
    deadLetterQueueName: DLQ,
  });
});

afterAll(async () => {
  broker.edge.eks.faults.configure({});
  await broker.close();
});

function outcomesFor(requestId: string) {
  return broker.outcomes().filter((e) => e.detail.requestId === requestId);
}

function envelopeOf(event: ReturnType<typeof sampleEvent>): string {
  return JSON.stringify({ source: event.source, 'detail-type': event['detail-type'], detail: event.detail });
}

function record(body: string): SQSEvent {
  const message: SQSRecord = {
    messageId: crypto.randomUUID(),
    receiptHandle: 'handle',
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: localSenderId(),
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:us-east-1:111122223333:${DLQ}`,
    awsRegion: 'us-east-1',
  };
  return { Records: [message] };
}

describe('the poison path', () => {
  it('moves a grant that fails on every delivery to the DLQ, where one EKS refuses for good is answered Access Grant Failed', async () => {
    const grant = withDetail(sampleEvent('grant-namespaced.json'), {
      requestId: freshRequestId('POISON'),
      principalArn: freshPrincipal('poison'),
    });
    const requestId = String(grant.detail.requestId);
    const principalArn = String(grant.detail.principalArn);
    const stopIntake = broker.edge.queues.subscribe(
      QUEUE,
      async (event) => {
        return (await sqsHandler(event, lambdaContext('sqs-intake'))) as SQSBatchResponse;
      },
      { onError: () => undefined },
    );
    // EKS answers 5xx to everything: a dependency broken for longer than the retries last.
    broker.edge.eks.faults.configure({ serverErrorRate: 1 });

    broker.edge.queues.send(QUEUE, { body: envelopeOf(grant) }, localCaller());
    await waitFor('the request to reach the DLQ', () =>
      broker.edge.queues.messages(DLQ).some((m) => m.body.includes(requestId) && m.state === 'pending'),
    );
    const receives = broker.edge.queues.messages(QUEUE).find((m) => m.body.includes(requestId))?.receiveCount;
    const pending = await runtime().store.findLease(requestId);
    const stopDeadLetters = broker.edge.queues.subscribe(
      DLQ,
      async (event) => {
        return (await deadLetterHandler(event, lambdaContext('dead-letter'))) as SQSBatchResponse;
      },
      { onError: () => undefined },
    );
    // While EKS is down the rollback cannot be checked: the dead letter stays and is tried again.
    await waitFor('a dead-letter attempt', () =>
      broker.edge.queues.messages(DLQ).some((m) => m.body.includes(requestId) && m.receiveCount >= 1),
    );
    // With a 1 s visibility the intake's last delivery may still be running (it outlives the message's move to
    // the DLQ, which AWS's 6x-timeout visibility rules out): let it end first, so the dead letter meets EKS's change.
    stopIntake();
    await broker.edge.queues.idle(QUEUE, { timeoutMs: 20_000 });
    // EKS answers again, but refuses the principal for good: the grant cannot be completed, so it fails.
    broker.edge.eks.setPrincipalMissing(principalArn);
    broker.edge.eks.faults.configure({});
    await waitFor('the failure outcome', () =>
      outcomesFor(requestId).find((e) => e['detail-type'] === 'Access Grant Failed'),
    );
    await broker.edge.queues.idle(DLQ, { timeoutMs: 10_000 });
    stopIntake();
    stopDeadLetters();

    expect(receives).toBe(3);
    expect(pending?.status).toBe('pending');
    const outcomes = outcomesFor(requestId);
    expect(outcomes.map((e) => e['detail-type'])).toEqual(['Access Grant Failed']);
    expect(outcomes[0]?.detail).toMatchObject({
      requestType: 'Access Grant Requested',
      deadLettered: true,
      principalArn,
    });
    expect(await runtime().store.findLease(requestId)).toMatchObject({
      status: 'ended',
      endReason: 'failed',
    });
    const entry = broker.edge.eks
      .snapshot()
      .find((c) => c.clusterName === 'demo')
      ?.entries.find((e) => e.principalArn === principalArn);
    expect(entry).toBeUndefined();
    expect(broker.edge.queues.stats(DLQ)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  }, 60_000);

  it('answers a revocation dead-lettered by Lambda (on-failure destination) and hands it to the sweeper', async () => {
    const grant = withDetail(sampleEvent('grant-namespaced.json'), {
      requestId: freshRequestId('DLQ-REVOKE'),
      principalArn: freshPrincipal('dlq'),
    });
    const requestId = String(grant.detail.requestId);
    await eventBridgeHandler(grant, lambdaContext('eventbridge-intake'));
    const revoke = withDetail(sampleEvent('revoke.json'), { requestId });
    const destinationRecord = {
      version: '1.0',
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId: crypto.randomUUID(),
        functionArn: 'arn:aws:lambda:us-east-1:111122223333:function:eventbridge-intake',
        condition: 'RetriesExhausted',
        approximateInvokeCount: 3,
      },
      requestPayload: revoke,
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: { errorType: 'RetryableError', errorMessage: 'DynamoDB is throttling or unavailable' },
    };

    const response = (await deadLetterHandler(
      record(JSON.stringify(destinationRecord)),
      lambdaContext('dead-letter'),
    )) as SQSBatchResponse;
    const marked = await runtime().store.findLease(requestId);
    await broker.sweep();

    expect(response.batchItemFailures).toEqual([]);
    expect(marked).toMatchObject({ status: 'active', endReason: 'requested' });
    const outcomes = outcomesFor(requestId).map((e) => [e['detail-type'], e.detail.reason, e.detail.error]);
    expect(outcomes).toEqual([
      ['Access Granted', undefined, undefined],
      ['Access Revocation Failed', undefined, 'DynamoDB is throttling or unavailable'],
      ['Access Revoked', 'requested', undefined],
    ]);
    expect(await runtime().store.findLease(requestId)).toMatchObject({
      status: 'ended',
      endReason: 'requested',
    });
  });

  it('answers what else can be dead-lettered: an extension, a body that is no request, a lost timer, a refused grant, a reused requestId', async () => {
    const grant = withDetail(sampleEvent('grant-namespaced.json'), {
      requestId: freshRequestId('DLQ-EXTEND'),
      principalArn: freshPrincipal('dlq'),
    });
    const requestId = String(grant.detail.requestId);
    await eventBridgeHandler(grant, lambdaContext('eventbridge-intake'));
    const extend = withDetail(sampleEvent('extend.json'), { requestId });
    const refused = withDetail(sampleEvent('grant-namespaced.json'), {
      requestId: freshRequestId('DLQ-REFUSED'),
      durationSeconds: 28_801,
    });
    // Another grant under the same requestId: the intake refused it as a conflict.
    const reused = withDetail(sampleEvent('grant-namespaced.json'), {
      requestId,
      principalArn: freshPrincipal('dlq-reused'),
    });
    const before = broker.outcomes().length;

    const responses = [
      await deadLetterHandler(record(envelopeOf(extend)), lambdaContext('dead-letter')),
      await deadLetterHandler(record('{"not": "a request"'), lambdaContext('dead-letter')),
      await deadLetterHandler(
        record(JSON.stringify({ requestId, expiresAt: 1 })),
        lambdaContext('dead-letter'),
      ),
      await deadLetterHandler(record(envelopeOf(refused)), lambdaContext('dead-letter')),
      await deadLetterHandler(record(envelopeOf(reused)), lambdaContext('dead-letter')),
    ] as SQSBatchResponse[];

    expect(responses.map((r) => r.batchItemFailures)).toEqual([[], [], [], [], []]);
    const outcomes = broker
      .outcomes()
      .slice(before)
      .map((e) => [e['detail-type'], e.detail.requestType, e.detail.code ?? e.detail.deadLettered]);
    expect(outcomes).toEqual([
      ['Access Grant Failed', 'Access Extend Requested', true],
      ['Access Grant Rejected', undefined, 'INVALID_ENVELOPE'],
      ['Access Grant Rejected', 'Access Grant Requested', 'DURATION_TOO_LONG'],
      ['Access Grant Rejected', 'Access Grant Requested', 'IDEMPOTENCY_CONFLICT'],
    ]);
    expect(await runtime().store.findLease(requestId)).toMatchObject({
      status: 'active',
      principalArn: grant.detail.principalArn,
    });
  });
});
