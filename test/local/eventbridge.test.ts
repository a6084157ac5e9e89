import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { EventBridgeClient, ListRulesCommand, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Edge, startEdge } from '../../infra/local/edge';
import type { BusEvent } from '../../infra/local/eventbridge/types';

const ACCOUNT_ID = '111122223333';
const REGION = 'us-east-1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const hasAwsCli = (process.env.PATH ?? '')
  .split(delimiter)
  .some((dir) => dir !== '' && existsSync(join(dir, 'aws')));
if (!hasAwsCli) console.warn('aws CLI not found on PATH: the aws events put-events case is skipped');

const grant = (requestId: string) =>
  JSON.stringify({ requestId, clusterName: 'dev', principalArn: 'arn:aws:iam::111122223333:role/dev' });

describe('local EventBridge PutEvents', () => {
  let edge: Edge;
  let client: EventBridgeClient;
  const unsubscribers: Array<() => void> = [];

  beforeAll(async () => {
    edge = await startEdge({ port: 0, dynamodb: false, eventBridge: { busNames: ['eks-access-broker'] } });
    client = new EventBridgeClient({
      region: REGION,
      endpoint: edge.url,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
  });

  afterEach(async () => {
    for (const unsubscribe of unsubscribers.splice(0)) unsubscribe();
    await edge.bus.idle();
    edge.bus.clear();
  });

  afterAll(async () => {
    client.destroy();
    await edge.close();
  });

  it('accepts entries and answers one EventId per entry, recording the events in order', async () => {
    // Arrange
    const entries = ['r-1', 'r-2'].map((requestId) => ({
      Source: 'ticketing.jira',
      DetailType: 'Access Grant Requested',
      Detail: grant(requestId),
      EventBusName: 'eks-access-broker',
    }));

    // Act
    const result = await client.send(new PutEventsCommand({ Entries: entries }));

    // Assert
    expect(result.FailedEntryCount).toBe(0);
    expect(result.Entries).toHaveLength(2);
    const ids = (result.Entries ?? []).map((entry) => entry.EventId);
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(2);
    expect(edge.bus.events().map(({ busName, event }) => [busName, event.id, event.detail])).toEqual([
      ['eks-access-broker', ids[0], JSON.parse(grant('r-1'))],
      ['eks-access-broker', ids[1], JSON.parse(grant('r-2'))],
    ]);
  });

  it('reports invalid entries one by one, in request order, next to the accepted ones', async () => {
    // Arrange
    const valid = {
      Source: 'ticketing.jira',
      DetailType: 'Access Revoke Requested',
      Detail: '{"requestId":"r-1"}',
    };
    const entries = [
      valid,
      { DetailType: valid.DetailType, Detail: valid.Detail },
      { Source: valid.Source, Detail: valid.Detail },
      { Source: valid.Source, DetailType: valid.DetailType },
      { ...valid, Detail: '{"requestId":' },
      { ...valid, Detail: '["not", "an", "object"]' },
      { ...valid, EventBusName: 'no-such-bus' },
      { ...valid, EventBusName: `arn:aws:events:${REGION}:${ACCOUNT_ID}:event-bus/eks-access-broker` },
    ];

    // Act
    const result = await client.send(new PutEventsCommand({ Entries: entries }));

    // Assert
    expect(result.FailedEntryCount).toBe(6);
    const [first, ...rest] = result.Entries ?? [];
    const last = rest.pop();
    expect(first?.EventId).toMatch(UUID);
    expect(last?.EventId).toMatch(UUID);
    expect(rest).toEqual([
      {
        ErrorCode: 'InvalidArgument',
        ErrorMessage: 'Parameter Source is not valid. Reason: Source is a required argument.',
      },
      {
        ErrorCode: 'InvalidArgument',
        ErrorMessage: 'Parameter DetailType is not valid. Reason: DetailType is a required argument.',
      },
      {
        ErrorCode: 'InvalidArgument',
        ErrorMessage: 'Parameter Detail is not valid. Reason: Detail is a required argument.',
      },
      { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' },
      { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' },
      { ErrorCode: 'ResourceNotFoundException', ErrorMessage: 'Event bus no-such-bus does not exist.' },
    ]);
    expect(edge.bus.events().map(({ busName, event }) => [busName, event.id])).toEqual([
      ['default', first?.EventId],
      ['eks-access-broker', last?.EventId],
    ]);
  });

  it('rejects a request with more than 10 entries as a whole with a ValidationException', async () => {
    // Arrange
    const entries = Array.from({ length: 11 }, (_, index) => ({
      Source: 'ticketing.jira',
      DetailType: 'Access Grant Requested',
      Detail: grant(`r-${String(index)}`),
    }));

    // Act
    const attempt = client.send(new PutEventsCommand({ Entries: entries }));

    // Assert
    await expect(attempt).rejects.toMatchObject({
      name: 'ValidationException',
      $metadata: { httpStatusCode: 400 },
      message: expect.stringMatching(
        /^1 validation error detected: Value '\[PutEventsRequestEntry\(time=null, source=ticketing\.jira, .*' at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10$/,
      ),
    });
    expect(edge.bus.events()).toHaveLength(0);
  });

  it('rejects an empty request and one whose entries exceed 256 KiB in total', async () => {
    // Arrange
    const big = JSON.stringify({ padding: 'x'.repeat(130 * 1024) });
    const oversized = [1, 2].map(() => ({ Source: 'ticketing.jira', DetailType: 'Big', Detail: big }));

    // Act
    const empty = client.send(new PutEventsCommand({ Entries: [] }));
    const tooLarge = client.send(new PutEventsCommand({ Entries: oversized }));

    // Assert
    await expect(empty).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringMatching(/Member must have length greater than or equal to 1$/),
    });
    await expect(tooLarge).rejects.toMatchObject({
      name: 'ValidationException',
      message: 'Total size of the entries in the request is over the limit.',
    });
    expect(edge.bus.events()).toHaveLength(0);
  });

  it('answers UnknownOperationException for EventBridge operations it does not emulate', async () => {
    // Act
    const attempt = client.send(new ListRulesCommand({}));

    // Assert
    await expect(attempt).rejects.toMatchObject({
      name: 'UnknownOperationException',
      $metadata: { httpStatusCode: 400 },
    });
  });

  it('delivers the event to a subscriber exactly as Lambda receives it, after PutEvents has answered', async () => {
    // Arrange
    const received: BusEvent[] = [];
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    unsubscribers.push(
      edge.bus.subscribe(
        { source: ['ticketing.jira'], detailType: ['Access Grant Requested'], busName: 'eks-access-broker' },
        async (event) => {
          received.push(event);
          await gate;
        },
      ),
    );

    // Act
    const result = await client.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: 'ticketing.jira',
            DetailType: 'Access Grant Requested',
            Detail: grant('r-lambda'),
            EventBusName: 'eks-access-broker',
            Time: new Date('2025-03-04T05:06:07.890Z'),
            Resources: ['arn:aws:eks:us-east-1:111122223333:cluster/dev'],
          },
        ],
      }),
    );
    const answeredWhileHandlerBlocked = edge.bus.events().length === 1;
    release();
    await edge.bus.idle();

    // Assert
    expect(answeredWhileHandlerBlocked).toBe(true);
    expect(received).toEqual([
      {
        version: '0',
        id: result.Entries?.[0]?.EventId,
        'detail-type': 'Access Grant Requested',
        source: 'ticketing.jira',
        account: ACCOUNT_ID,
        time: '2025-03-04T05:06:07Z',
        region: REGION,
        resources: ['arn:aws:eks:us-east-1:111122223333:cluster/dev'],
        detail: JSON.parse(grant('r-lambda')),
      },
    ]);
    expect(edge.bus.failedDeliveries()).toHaveLength(0);
  });

  it('delivers only events matching the pattern: source, detail-type and bus', async () => {
    // Arrange
    const received: string[] = [];
    unsubscribers.push(
      edge.bus.subscribe(
        { source: ['ticketing.jira'], detailType: ['Access Revoke Requested'], busName: 'eks-access-broker' },
        async (event) => {
          received.push((event.detail as { requestId: string }).requestId);
        },
      ),
    );
    const entry = (requestId: string, overrides: Record<string, string> = {}) => ({
      Source: 'ticketing.jira',
      DetailType: 'Access Revoke Requested',
      Detail: JSON.stringify({ requestId }),
      EventBusName: 'eks-access-broker',
      ...overrides,
    });

    // Act
    await client.send(
      new PutEventsCommand({
        Entries: [
          entry('match'),
          entry('other-source', { Source: 'ticketing.servicenow' }),
          entry('other-type', { DetailType: 'Access Grant Requested' }),
          entry('other-bus', { EventBusName: 'default' }),
        ],
      }),
    );
    await edge.bus.idle();

    // Assert
    expect(received).toEqual(['match']);
    expect(edge.bus.events()).toHaveLength(4);
  });

  it('retries a failing subscriber twice, then records the failed delivery', async () => {
    // Arrange
    let calls = 0;
    unsubscribers.push(
      edge.bus.subscribe({ source: ['ticketing.jira'] }, async () => {
        calls += 1;
        throw new Error('handler is down');
      }),
    );

    // Act
    await client.send(
      new PutEventsCommand({
        Entries: [
          { Source: 'ticketing.jira', DetailType: 'Access Grant Requested', Detail: grant('r-fail') },
        ],
      }),
    );
    await edge.bus.idle();

    // Assert
    expect(calls).toBe(3);
    const failures = edge.bus.failedDeliveries();
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      busName: 'default',
      attempts: 3,
      pattern: { source: ['ticketing.jira'] },
      event: { source: 'ticketing.jira', detail: { requestId: 'r-fail' } },
      error: expect.objectContaining({ message: 'handler is down' }),
    });
  });

  it('counts a subscriber that succeeds on a retry as delivered', async () => {
    // Arrange
    let calls = 0;
    unsubscribers.push(
      edge.bus.subscribe({ source: ['ticketing.jira'] }, async () => {
        calls += 1;
        if (calls < 3) throw new Error('transient');
      }),
    );

    // Act
    edge.bus.put([{ Source: 'ticketing.jira', DetailType: 'Access Grant Requested', Detail: grant('r-ok') }]);
    await edge.bus.idle();

    // Assert
    expect(calls).toBe(3);
    expect(edge.bus.failedDeliveries()).toHaveLength(0);
  });

  it.skipIf(!hasAwsCli)('works with the aws CLI: aws events put-events --endpoint-url', async () => {
    // Arrange
    const entries = JSON.stringify([
      {
        Source: 'ticketing.cli',
        DetailType: 'Access Grant Requested',
        Detail: grant('r-cli'),
        EventBusName: 'eks-access-broker',
      },
    ]);

    // Act
    const { stdout } = await promisify(execFile)(
      'aws',
      ['events', 'put-events', '--entries', entries, '--endpoint-url', edge.url, '--output', 'json'],
      { env: cliEnv() },
    );

    // Assert
    const result = JSON.parse(stdout) as { FailedEntryCount: number; Entries: Array<{ EventId: string }> };
    expect(result.FailedEntryCount).toBe(0);
    expect(result.Entries[0]?.EventId).toMatch(UUID);
    expect(edge.bus.events().map(({ event }) => [event.id, event.source, event.detail])).toEqual([
      [result.Entries[0]?.EventId, 'ticketing.cli', JSON.parse(grant('r-cli'))],
    ]);
  });
});

/** Only what the CLI needs, so a developer's own profile or config cannot leak into the test. */
function cliEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_DEFAULT_REGION: REGION,
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
  };
}
