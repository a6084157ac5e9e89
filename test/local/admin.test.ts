import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Edge, startEdge } from '../../infra/local/edge';
import { LOCAL_CREDENTIALS } from '../support/aws';
import { signedFetch } from './signed-fetch';

let edge: Edge;

beforeAll(async () => {
  // The broker's intake queue, which the local broker (not the emulator) creates.
  edge = await startEdge({
    port: 0,
    dynamodb: false,
    sqs: { queues: [{ name: 'eks-access-broker-requests' }] },
  });
});

afterAll(async () => {
  await edge.close();
});

describe('the /_edge admin endpoint', () => {
  it('answers health, lists accepted events and the queue, and 404s an unknown queue', async () => {
    const events = new EventBridgeClient({
      endpoint: edge.url,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    await events.send(
      new PutEventsCommand({
        Entries: [{ Source: 'com.example.ticketing', DetailType: 'Ping', Detail: '{"n":1}' }],
      }),
    );

    const health = await fetch(`${edge.url}/_edge/health`);
    const listed = (await (await fetch(`${edge.url}/_edge/events`)).json()) as {
      events: { event: { source: string; detail: unknown } }[];
    };
    const queue = await fetch(`${edge.url}/_edge/queues/eks-access-broker-requests`);
    const missing = await fetch(`${edge.url}/_edge/queues/nope`);
    const unknown = await fetch(`${edge.url}/_edge/nothing-here`);

    expect(health.status).toBe(200);
    expect(listed.events.map((e) => [e.event.source, e.event.detail])).toEqual([
      ['com.example.ticketing', { n: 1 }],
    ]);
    expect(queue.status).toBe(200);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-amzn-errortype')).toBe('QueueDoesNotExist');
    expect(unknown.status).toBe(404);
    events.destroy();
  });

  it("answers a malformed percent-encoding with each service's own error, never a 500", async () => {
    const sqsBody = JSON.stringify({ QueueUrl: `${edge.url}/000000000000/bad%zz` });
    const eks = await signedFetch(`${edge.url}/clusters/bad%zz/access-entries`, { service: 'eks' });
    const sqs = await signedFetch(edge.url, {
      service: 'sqs',
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'AmazonSQS.ReceiveMessage',
      },
      body: sqsBody,
    });
    const admin = await fetch(`${edge.url}/_edge/queues/bad%zz`);

    expect([eks.status, eks.headers.get('x-amzn-errortype')]).toEqual([404, 'UnknownOperationException']);
    expect([sqs.status, sqs.headers.get('x-amzn-errortype')]).toEqual([400, 'QueueDoesNotExist']);
    expect([admin.status, admin.headers.get('x-amzn-errortype')]).toEqual([400, 'InvalidParameterValue']);
  });
});
