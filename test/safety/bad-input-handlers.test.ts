import type { EventBridgeEvent, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as eventBridgeHandler } from '../../functions/handlers/eventbridge-intake';
import { handler as sqsHandler } from '../../functions/handlers/sqs-intake';
import { runtime } from '../../functions/runtime';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import { lambdaContext } from '../../infra/local/lambda-context';
import { localSenderId } from '../support/callers';
import { freshPrincipal, freshRequestId, sampleEvent, withDetail } from '../support/fixtures';
import { type BadCase, badCaseArb, fieldMatches } from '../support/malformed';
import { countRequests, type RequestCounts } from '../support/request-counter';

/**
 * Bad input end to end, through the real Lambda handlers on the local broker (DynamoDB Local, the EKS
 * emulator, the local bus): each malformed event or SQS record gets its rejection event, no EKS call, no
 * DynamoDB request, and a batch full of them is not failed (nothing is retried: bad input never improves).
 * CI size: 300 cases, half as EventBridge events, half as SQS records in batches of 10.
 */
const CASES = Number(process.env.SAFETY_BAD_INPUT_HANDLER_CASES ?? 300);
const SEED = Number(process.env.SAFETY_SEED ?? 20_260_601);

let broker: LocalBroker;
/** The DynamoDB requests of the handlers' runtime. */
let dynamo: RequestCounts;

beforeAll(async () => {
  broker = await startLocalBroker({ port: 0, sweepIntervalMs: 0 });
  dynamo = countRequests(runtime().dynamodb);
});

afterAll(async () => {
  await broker.close();
});

function rejections(from: number) {
  return broker
    .outcomes()
    .slice(from)
    .filter((e) => e['detail-type'] === 'Access Grant Rejected');
}

function record(id: string, body: string): SQSRecord {
  return {
    messageId: id,
    receiptHandle: `handle-${id}`,
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
    eventSourceARN: 'arn:aws:sqs:us-east-1:111122223333:eks-access-broker-requests',
    awsRegion: 'us-east-1',
  };
}

function sqsBodyOf(bad: BadCase): string {
  return 'sqsBody' in bad.input ? bad.input.sqsBody : JSON.stringify(bad.input.event);
}

describe('bad input through the real handlers', () => {
  const cases = fc.sample(badCaseArb, { numRuns: CASES, seed: SEED });
  const asEvents = cases.filter((bad) => 'event' in bad.input);
  const asRecords = cases.filter((bad) => 'sqsBody' in bad.input);

  it(`rejects ${asEvents.length} malformed EventBridge events, each with one rejection event and no EKS or DynamoDB call`, async () => {
    const eksBefore = broker.edge.eks.totalCalls();
    const dynamoBefore = dynamo.requests;

    for (const bad of asEvents) {
      const event = ('event' in bad.input ? bad.input.event : undefined) as EventBridgeEvent<string, unknown>;
      const before = broker.outcomes().length;

      const result = (await eventBridgeHandler(event, lambdaContext('eventbridge-intake'))) as {
        status: string;
      };

      const [rejected, ...more] = rejections(before);
      expect(result.status, bad.description).toBe('rejected');
      expect(more, bad.description).toEqual([]);
      expect(rejected?.detail.code, bad.description).toBe(bad.code);
      expect(fieldMatches(bad.field, rejected?.detail.field), bad.description).toBe(true);
    }

    expect(broker.edge.eks.totalCalls()).toBe(eksBefore);
    expect(dynamo.requests).toBe(dynamoBefore);
  }, 120_000);

  it(`rejects ${asRecords.length} malformed SQS records in batches of 10 without failing a batch`, async () => {
    const eksBefore = broker.edge.eks.totalCalls();
    const dynamoBefore = dynamo.requests;
    const batches: BadCase[][] = [];
    for (let i = 0; i < asRecords.length; i += 10) batches.push(asRecords.slice(i, i + 10));

    for (const batch of batches) {
      const before = broker.outcomes().length;
      const event: SQSEvent = { Records: batch.map((bad, i) => record(`bad-${i}`, sqsBodyOf(bad))) };

      const response = (await sqsHandler(event, lambdaContext('sqs-intake'))) as SQSBatchResponse;

      expect(response.batchItemFailures).toEqual([]);
      const codes = rejections(before).map((e) => e.detail.code);
      expect(codes.sort()).toEqual(batch.map((bad) => bad.code).sort());
    }

    expect(broker.edge.eks.totalCalls()).toBe(eksBefore);
    expect(dynamo.requests).toBe(dynamoBefore);
  }, 120_000);

  it('grants the one good record of a batch full of bad ones', async () => {
    const good = withDetail(sampleEvent('grant-namespaced.json'), {
      requestId: freshRequestId('GOOD'),
      principalArn: freshPrincipal('batch'),
    });
    const bad = cases.slice(0, 9);
    const before = broker.outcomes().length;
    const event: SQSEvent = {
      Records: [
        ...bad.map((b, i) => record(`bad-${i}`, sqsBodyOf(b))),
        record(
          'good',
          JSON.stringify({ source: good.source, 'detail-type': good['detail-type'], detail: good.detail }),
        ),
      ],
    };

    const response = (await sqsHandler(event, lambdaContext('sqs-intake'))) as SQSBatchResponse;

    expect(response.batchItemFailures).toEqual([]);
    const types = broker
      .outcomes()
      .slice(before)
      .map((e) => e['detail-type']);
    expect(types.filter((t) => t === 'Access Grant Rejected')).toHaveLength(9);
    expect(types.filter((t) => t === 'Access Granted')).toHaveLength(1);
  });
});
