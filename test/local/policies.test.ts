import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import {
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRulesYaml } from '../../functions/config/access-rules-yaml';
import { LOCAL_RESOURCE_NAMES } from '../../functions/config/names';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import { localIntakePolicies } from '../../infra/stack/intake-policies';

/*
 * The local edge decides PutEvents and SendMessage by the bus and queue policies the template deploys, rendered
 * from the shipped rules (infra/access-rules.yaml): each local identity signs with the real SDK clients.
 */

const ACCOUNT = '111122223333';
const BUS_ARN = `arn:aws:events:us-east-1:${ACCOUNT}:event-bus/default`;
const queueArn = (name: string) => `arn:aws:sqs:us-east-1:${ACCOUNT}:${name}`;
const SESSION = {
  ticketing: `arn:aws:sts::${ACCOUNT}:assumed-role/ticketing-integration/test`,
  oncall: `arn:aws:sts::${ACCOUNT}:assumed-role/oncall-alice/oncallalice`,
  developer: `arn:aws:sts::${ACCOUNT}:assumed-role/dev-bob/devbob`,
  intruder: `arn:aws:sts::${ACCOUNT}:assumed-role/intruder/intruder`,
} as const;
/** Local identities: access key = secret. */
const KEYS = ['test', 'oncallalice', 'devbob', 'intruder', 'brokerlocal'] as const;
type Key = (typeof KEYS)[number];

const hasAwsCli = (process.env.PATH ?? '')
  .split(delimiter)
  .some((dir) => dir !== '' && existsSync(join(dir, 'aws')));
if (!hasAwsCli) console.warn('aws CLI not found on PATH: the aws CLI cases of the policies are skipped');

let broker: LocalBroker;
const clients: Array<{ destroy(): void }> = [];

beforeAll(async () => {
  broker = await startLocalBroker({ port: 0, sweepIntervalMs: 0 });
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await broker?.close();
});

function eventsAs(key: Key): EventBridgeClient {
  const client = new EventBridgeClient({
    endpoint: broker.edge.url,
    region: 'us-east-1',
    credentials: { accessKeyId: key, secretAccessKey: key },
    maxAttempts: 1,
  });
  clients.push(client);
  return client;
}

function sqsAs(key: Key): SQSClient {
  const client = new SQSClient({
    endpoint: broker.edge.url,
    region: 'us-east-1',
    credentials: { accessKeyId: key, secretAccessKey: key },
    maxAttempts: 1,
  });
  clients.push(client);
  return client;
}

function queueUrl(name: string): string {
  return `${broker.edge.url}/${ACCOUNT}/${name}`;
}

let sequence = 0;
/** A request entry; its detail is incomplete on purpose, so an accepted one only earns a rejection outcome. */
function entry(source: string, detailType = 'Access Grant Requested'): PutEventsRequestEntry {
  sequence += 1;
  return {
    Source: source,
    DetailType: detailType,
    Detail: JSON.stringify({ requestId: `POLICY-${String(sequence)}:${source}` }),
  };
}

function accepted(source: string): string[] {
  return broker.edge.bus
    .events()
    .filter(({ event }) => event.source === source)
    .map(({ event }) => String((event.detail as { requestId?: unknown }).requestId));
}

async function putError(key: Key, entries: PutEventsRequestEntry[]): Promise<unknown> {
  return eventsAs(key)
    .send(new PutEventsCommand({ Entries: entries }))
    .then(
      () => undefined,
      (error: unknown) => error,
    );
}

async function sendError(key: Key, queue: string, delaySeconds = 0): Promise<unknown> {
  return sqsAs(key)
    .send(
      new SendMessageCommand({ QueueUrl: queueUrl(queue), MessageBody: 'hello', DelaySeconds: delaySeconds }),
    )
    .then(
      () => undefined,
      (error: unknown) => error,
    );
}

function explicitDeny(session: string, action: string, resource: string): string {
  return `User: ${session} is not authorized to perform: ${action} on resource: ${resource} with an explicit deny in a resource-based policy`;
}

describe('PutEvents on the bus, decided by the bus policy', () => {
  it('refuses an intruder putting a ticketing source, with AccessDeniedException and an explicit deny, and accepts nothing', async () => {
    // Arrange
    const refused = entry('com.example.ticketing');

    // Act
    const error = await putError('intruder', [refused]);

    // Assert
    expect(error).toMatchObject({
      name: 'AccessDeniedException',
      message: explicitDeny(SESSION.intruder, 'events:PutEvents', BUS_ARN),
      $metadata: { httpStatusCode: 400 },
    });
    expect(accepted('com.example.ticketing')).not.toContain(JSON.parse(refused.Detail ?? '{}').requestId);
  });

  it("refuses one integration using another's source: the on-call role with the ticketing source", async () => {
    // Act
    const error = await putError('oncallalice', [entry('com.example.ticketing')]);

    // Assert
    expect(error).toMatchObject({
      name: 'AccessDeniedException',
      message: explicitDeny(SESSION.oncall, 'events:PutEvents', BUS_ARN),
    });
  });

  it.each([
    ['test', 'com.example.ticketing'],
    ['oncallalice', 'com.example.oncall'],
    ['devbob', 'com.example.self-service'],
  ] as const)('accepts %s putting its own source %s', async (key, source) => {
    // Arrange
    const own = entry(source);

    // Act
    const result = await eventsAs(key).send(new PutEventsCommand({ Entries: [own] }));

    // Assert
    expect(result.FailedEntryCount).toBe(0);
    expect(accepted(source)).toContain(JSON.parse(own.Detail ?? '{}').requestId);
  });

  it.each(['test', 'oncallalice', 'devbob', 'intruder'] as const)(
    'refuses %s putting a forged outcome (source eks-access-broker)',
    async (key) => {
      // Act
      const error = await putError(key, [entry('eks-access-broker', 'Access Granted')]);

      // Assert
      expect(error).toMatchObject({ name: 'AccessDeniedException' });
      expect((error as Error).message).toMatch(/with an explicit deny in a resource-based policy$/);
    },
  );

  it('accepts outcome events from the broker itself (brokerlocal)', async () => {
    // Arrange
    const outcome = entry('eks-access-broker', 'Access Grant Rejected');

    // Act
    const result = await eventsAs('brokerlocal').send(new PutEventsCommand({ Entries: [outcome] }));

    // Assert
    expect(result.FailedEntryCount).toBe(0);
    expect(accepted('eks-access-broker')).toContain(JSON.parse(outcome.Detail ?? '{}').requestId);
  });

  it('refuses the whole call when one entry of several is denied: no entry is accepted', async () => {
    // Arrange
    const own = entry('com.example.ticketing');

    // Act
    const error = await putError('test', [own, entry('eks-access-broker', 'Access Granted')]);

    // Assert
    expect(error).toMatchObject({
      name: 'AccessDeniedException',
      message: explicitDeny(SESSION.ticketing, 'events:PutEvents', BUS_ARN),
    });
    expect(accepted('com.example.ticketing')).not.toContain(JSON.parse(own.Detail ?? '{}').requestId);
  });

  it('guards the second local bus (named after the broker) with the same document', async () => {
    // Act
    const error = await putError('intruder', [
      { ...entry('com.example.ticketing'), EventBusName: 'eks-access-broker' },
    ]);

    // Assert
    expect(error).toMatchObject({
      name: 'AccessDeniedException',
      message: explicitDeny(
        SESSION.intruder,
        'events:PutEvents',
        `arn:aws:events:us-east-1:${ACCOUNT}:event-bus/eks-access-broker`,
      ),
    });
  });

  it('lets a same-account caller put a source no integration owns, as AWS would with an allowing identity policy (the broker rejects it)', async () => {
    // Act
    const result = await eventsAs('intruder').send(
      new PutEventsCommand({ Entries: [entry('com.example.unowned')] }),
    );

    // Assert
    expect(result.FailedEntryCount).toBe(0);
  });
});

describe('SendMessage on the queues, decided by the queue policies', () => {
  it('refuses an intruder on the requests queue with AccessDenied 403 and the SQS sentence', async () => {
    // Act
    const error = await sendError('intruder', LOCAL_RESOURCE_NAMES.requestsQueue);

    // Assert
    expect(error).toMatchObject({
      name: 'AccessDenied',
      message: explicitDeny(
        SESSION.intruder,
        'sqs:sendmessage',
        queueArn(LOCAL_RESOURCE_NAMES.requestsQueue),
      ),
      $metadata: { httpStatusCode: 403 },
    });
  });

  it.each(['oncallalice', 'devbob'] as const)(
    'refuses %s on the requests queue: its integration has no queue',
    async (key) => {
      // Act
      const error = await sendError(key, LOCAL_RESOURCE_NAMES.requestsQueue);

      // Assert
      expect(error).toMatchObject({ name: 'AccessDenied' });
    },
  );

  it('accepts the ticketing integration on the requests queue', async () => {
    // Act
    const result = await sqsAs('test').send(
      new SendMessageCommand({
        QueueUrl: queueUrl(LOCAL_RESOURCE_NAMES.requestsQueue),
        MessageBody: JSON.stringify({ source: 'com.example.ticketing', 'detail-type': 'x', detail: {} }),
      }),
    );

    // Assert
    expect(result.MessageId).toBeDefined();
  });

  it('refuses a whole SendMessageBatch of an intruder, before any entry', async () => {
    // Act
    const attempt = sqsAs('intruder').send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl(LOCAL_RESOURCE_NAMES.requestsQueue),
        Entries: [
          { Id: 'a', MessageBody: 'a' },
          { Id: 'b', MessageBody: 'b' },
        ],
      }),
    );

    // Assert
    await expect(attempt).rejects.toMatchObject({
      name: 'AccessDenied',
      message: explicitDeny(
        SESSION.intruder,
        'sqs:sendmessage',
        queueArn(LOCAL_RESOURCE_NAMES.requestsQueue),
      ),
    });
  });

  it.each(['test', 'oncallalice', 'devbob', 'intruder'] as const)(
    'refuses %s on the timer queue',
    async (key) => {
      // Act
      const error = await sendError(key, LOCAL_RESOURCE_NAMES.timerQueue);

      // Assert
      expect(error).toMatchObject({
        name: 'AccessDenied',
        message: expect.stringContaining(`on resource: ${queueArn(LOCAL_RESOURCE_NAMES.timerQueue)} with`),
      });
    },
  );

  it('accepts the broker (brokerlocal) arming a timer', async () => {
    // Act: due long after the test, so the expiry-timer function never sees it.
    const error = await sendError('brokerlocal', LOCAL_RESOURCE_NAMES.timerQueue, 900);

    // Assert
    expect(error).toBeUndefined();
  });

  it.each([LOCAL_RESOURCE_NAMES.requestsDeadLetterQueue, LOCAL_RESOURCE_NAMES.timerDeadLetterQueue])(
    'refuses every caller on the dead-letter queue %s, the broker too: only the redrive fills it',
    async (queue) => {
      // Act
      const errors = await Promise.all(KEYS.map((key) => sendError(key, queue)));

      // Assert
      for (const error of errors) expect(error).toMatchObject({ name: 'AccessDenied' });
      expect(broker.edge.queues.messages(queue).filter((m) => m.body === 'hello')).toEqual([]);
    },
  );

  it('answers the attached document as the queue Policy attribute', async () => {
    // Act
    const { Attributes } = await sqsAs('test').send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl(LOCAL_RESOURCE_NAMES.requestsQueue),
        AttributeNames: ['Policy'],
      }),
    );

    // Assert
    const shipped = localIntakePolicies(readRulesYaml('infra/access-rules.yaml'), {
      names: LOCAL_RESOURCE_NAMES,
    });
    expect(JSON.parse(Attributes?.Policy ?? '{}')).toEqual(shipped.requestsQueue);
  });
});

describe('the aws CLI', () => {
  const cli = (key: Key, args: string[]) =>
    promisify(execFile)('aws', [...args, '--endpoint-url', broker.edge.url, '--output', 'json'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        AWS_ACCESS_KEY_ID: key,
        AWS_SECRET_ACCESS_KEY: key,
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      },
    });

  it.skipIf(!hasAwsCli)('gets the same AccessDeniedException for an intruder on the bus', async () => {
    // Act
    const attempt = cli('intruder', [
      'events',
      'put-events',
      '--entries',
      JSON.stringify([entry('com.example.ticketing')]),
    ]);

    // Assert
    await expect(attempt).rejects.toMatchObject({
      stderr: expect.stringContaining(
        `An error occurred (AccessDeniedException) when calling the PutEvents operation: ${explicitDeny(SESSION.intruder, 'events:PutEvents', BUS_ARN)}`,
      ),
    });
  });

  it.skipIf(!hasAwsCli)('gets the same AccessDenied for an intruder on the requests queue', async () => {
    // Act
    const attempt = cli('intruder', [
      'sqs',
      'send-message',
      '--queue-url',
      queueUrl(LOCAL_RESOURCE_NAMES.requestsQueue),
      '--message-body',
      'forged',
    ]);

    // Assert
    await expect(attempt).rejects.toMatchObject({
      stderr: expect.stringContaining(
        `An error occurred (AccessDenied) when calling the SendMessage operation: ${explicitDeny(SESSION.intruder, 'sqs:sendmessage', queueArn(LOCAL_RESOURCE_NAMES.requestsQueue))}`,
      ),
    });
  });
});
