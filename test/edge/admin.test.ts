import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Edge, startEdge } from '../../infra/local/edge';
import { LOCAL_CREDENTIALS } from '../support/aws';

let edge: Edge;

beforeAll(async () => {
  edge = await startEdge({ port: 0, dynamodb: false });
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
});
