import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as eventBridgeHandler } from '../../functions/handlers/eventbridge-intake';
import { handler as sqsHandler } from '../../functions/handlers/sqs-intake';
import { runtime } from '../../functions/runtime';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import { lambdaContext } from '../../infra/local/lambda-context';
import { type Cable, cableTo } from '../support/cable';
import { localCaller } from '../support/callers';
import { freshPrincipal, freshRequestId, sampleEvent, withDetail } from '../support/fixtures';
import { waitFor } from '../support/poll';

/**
 * Dependency outages: DynamoDB unreachable for a while (the broker's DynamoDB endpoint goes through a TCP
 * cable that is unplugged: see cable.ts for why this is the least invasive way), and EKS answering 5xx for a
 * while (the emulator's faults). Requests arrive on a LocalQueues queue with a 1 s visibility timeout consumed
 * by the real SQS intake handler: they are retried through the queue, none is dropped or dead-lettered, and
 * each completes once with its outcome after recovery. Revocations that fail meanwhile are finished by the
 * sweeper.
 */
const QUEUE = 'safety-outage-requests';
const DLQ = 'safety-outage-requests-dlq';

let broker: LocalBroker;
let cable: Cable;
let stopIntake: () => void;

beforeAll(async () => {
  broker = await startLocalBroker({ port: 0, sweepIntervalMs: 0 });
  cable = await cableTo(broker.edge.port);
  // Only DynamoDB goes through the cable; EKS, EventBridge and SQS stay on the edge.
  process.env.AWS_ENDPOINT_URL_DYNAMODB = cable.url;
  process.env.LOCK_WAIT_MS = '300';
  broker.edge.queues.createQueue(DLQ, { visibilityTimeoutSeconds: 1 });
  broker.edge.queues.createQueue(QUEUE, {
    visibilityTimeoutSeconds: 1,
    maxReceiveCount: 30,
    deadLetterQueueName: DLQ,
  });
  stopIntake = broker.edge.queues.subscribe(
    QUEUE,
    async (event) => (await sqsHandler(event, lambdaContext('sqs-intake'))) as SQSBatchResponse,
    { onError: () => undefined },
  );
});

afterAll(async () => {
  stopIntake?.();
  broker.edge.eks.faults.configure({});
  delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
  await cable?.close();
  await broker?.close();
});

function grants(n: number, prefix: string) {
  return Array.from({ length: n }, () =>
    withDetail(sampleEvent('grant-namespaced.json'), {
      requestId: freshRequestId(prefix),
      principalArn: freshPrincipal(prefix.toLowerCase()),
    }),
  );
}

function send(event: ReturnType<typeof sampleEvent>): void {
  broker.edge.queues.send(
    QUEUE,
    {
      body: JSON.stringify({
        source: event.source,
        'detail-type': event['detail-type'],
        detail: event.detail,
      }),
    },
    localCaller(),
  );
}

function receivesOf(requestId: string): number {
  return broker.edge.queues.messages(QUEUE).find((m) => m.body.includes(requestId))?.receiveCount ?? 0;
}

function outcomeTypes(requestId: string): string[] {
  return broker
    .outcomes()
    .filter((e) => e.detail.requestId === requestId)
    .map((e) => e['detail-type']);
}

function entryOf(principalArn: string) {
  return broker.edge.eks
    .snapshot()
    .find((c) => c.clusterName === 'demo')
    ?.entries.find((e) => e.principalArn === principalArn);
}

describe('dependency outages', () => {
  it('retries requests through the queue while DynamoDB is unreachable, and completes each once after', async () => {
    const events = grants(6, 'DDB-DOWN');
    const ids = events.map((e) => String(e.detail.requestId));
    cable.unplug();

    for (const event of events) send(event);
    await waitFor('every request to fail twice', () => ids.every((id) => receivesOf(id) >= 2), 30_000);
    const answeredDuringOutage = ids.flatMap(outcomeTypes);
    cable.plugIn();
    await waitFor(
      'every request to be granted',
      () => ids.every((id) => outcomeTypes(id).length > 0),
      30_000,
    );
    await broker.edge.queues.idle(QUEUE, { timeoutMs: 30_000 });

    expect(cable.refused()).toBeGreaterThan(0);
    expect(answeredDuringOutage).toEqual([]);
    for (const [i, id] of ids.entries()) {
      expect(outcomeTypes(id), id).toEqual(['Access Granted']);
      expect(await runtime().store.findLease(id), id).toMatchObject({ status: 'active' });
      expect(entryOf(String(events[i]?.detail.principalArn))?.policies, id).toHaveLength(1);
    }
    expect(broker.edge.queues.messages(DLQ).filter((m) => ids.some((id) => m.body.includes(id)))).toEqual([]);
  }, 90_000);

  it('retries grants through the queue while EKS answers 5xx; a revocation that failed meanwhile is finished by the sweeper', async () => {
    const [earlier] = grants(1, 'BEFORE');
    if (!earlier) throw new Error('no grant');
    const earlierId = String(earlier.detail.requestId);
    await eventBridgeHandler(earlier, lambdaContext('eventbridge-intake'));
    const events = grants(5, 'EKS-DOWN');
    const ids = events.map((e) => String(e.detail.requestId));
    broker.edge.eks.faults.configure({ serverErrorRate: 1 });

    for (const event of events) send(event);
    send(withDetail(sampleEvent('revoke.json'), { requestId: earlierId }));
    await waitFor('every grant to fail twice', () => ids.every((id) => receivesOf(id) >= 2), 30_000);
    const revoking = await waitFor('the revocation to be recorded as failed', async () => {
      const lease = await runtime().store.findLease(earlierId);
      return lease?.revokeAttempts ? lease : undefined;
    });
    broker.edge.eks.faults.configure({});
    await waitFor('every grant to be granted', () => ids.every((id) => outcomeTypes(id).length > 0), 30_000);
    await broker.edge.queues.idle(QUEUE, { timeoutMs: 30_000 });
    // The failed revocation is due again after its backoff (5-10 s): the sweeper, run every minute in AWS.
    const revoked = await waitFor(
      'the sweeper to finish the revocation',
      async () => {
        await broker.sweep();
        const lease = await runtime().store.findLease(earlierId);
        return lease?.status === 'ended' ? lease : undefined;
      },
      30_000,
    );

    for (const id of ids) {
      expect(outcomeTypes(id), id).toEqual(['Access Granted']);
      expect(await runtime().store.findLease(id), id).toMatchObject({ status: 'active' });
    }
    expect(revoking).toMatchObject({ status: 'active', endReason: 'requested', revokeAttempts: 1 });
    expect(revoked).toMatchObject({ endReason: 'requested' });
    expect(outcomeTypes(earlierId)).toEqual(['Access Granted', 'Access Revoked']);
    expect(entryOf(String(earlier.detail.principalArn))).toBeUndefined();
    expect(broker.edge.queues.messages(DLQ)).toEqual([]);
  }, 90_000);
});
