import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Edge, startEdge } from '../../infra/local/edge';
import type { CreateQueueOptions } from '../../infra/local/sqs/types';

const ACCOUNT_ID = '111122223333';
const REGION = 'us-east-1';
const hasAwsCli = (process.env.PATH ?? '')
  .split(delimiter)
  .some((dir) => dir !== '' && existsSync(join(dir, 'aws')));
if (!hasAwsCli) console.warn('aws CLI not found on PATH: the aws sqs send-message case is skipped');

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');

describe('local SQS', () => {
  let edge: Edge;
  let sqs: SQSClient;
  let queueCount = 0;
  const unsubscribers: Array<() => void> = [];

  beforeAll(async () => {
    edge = await startEdge({
      port: 0,
      dynamodb: false,
      // The broker's intake queue and its DLQ, which the local broker (not the emulator) creates.
      sqs: {
        queues: [
          { name: 'eks-access-broker-requests', deadLetterQueueName: 'eks-access-broker-requests-dlq' },
        ],
      },
    });
    sqs = new SQSClient({
      region: REGION,
      endpoint: edge.url,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
  });

  afterEach(() => {
    for (const unsubscribe of unsubscribers.splice(0)) unsubscribe();
  });

  afterAll(async () => {
    sqs.destroy();
    await edge.close();
  });

  /** Each test gets its own queue: queues cannot be deleted and messages would leak between tests. */
  function newQueue(options: CreateQueueOptions = {}): { name: string; url: string } {
    queueCount += 1;
    const name = `test-queue-${String(queueCount)}`;
    edge.queues.createQueue(name, options);
    return { name, url: `${edge.url}/${ACCOUNT_ID}/${name}` };
  }

  describe('the API', () => {
    it('answers GetQueueUrl for the intake queue in the account/name form', async () => {
      // Act
      const result = await sqs.send(new GetQueueUrlCommand({ QueueName: 'eks-access-broker-requests' }));

      // Assert
      expect(result.QueueUrl).toBe(`${edge.url}/${ACCOUNT_ID}/eks-access-broker-requests`);
    });

    it('surfaces an unknown queue as the SDK QueueDoesNotExist error', async () => {
      // Act
      const attempt = sqs.send(new GetQueueUrlCommand({ QueueName: 'no-such-queue' }));

      // Assert
      await expect(attempt).rejects.toBeInstanceOf(QueueDoesNotExist);
      await expect(attempt).rejects.toMatchObject({
        name: 'QueueDoesNotExist',
        message: 'The specified queue does not exist.',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      });
    });

    it('sends a message without attributes and answers the MD5 of its body', async () => {
      // Arrange
      const queue = newQueue();
      const body = JSON.stringify({
        source: 'ticketing.jira',
        'detail-type': 'Access Grant Requested',
        detail: {},
      });

      // Act
      const result = await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: body }));

      // Assert
      expect(result.MD5OfMessageBody).toBe(md5(body));
      expect(result.MD5OfMessageAttributes).toBeUndefined();
      expect(edge.queues.messages(queue.name)).toMatchObject([
        { messageId: result.MessageId, body, state: 'pending', receiveCount: 0 },
      ]);
    });

    it('sends a message with attributes, answers their MD5 as SQS documents it and returns them on receive', async () => {
      // Arrange
      const queue = newQueue();
      // Digests published for these attributes (AWS docs example; LocalStack's test vector).
      const seller = { SellerName: { DataType: 'String', StringValue: 'Example Store' } };
      const timestamp = { timestamp: { DataType: 'Number', StringValue: '1493147359900' } };
      const binary = { blob: { DataType: 'Binary', BinaryValue: Uint8Array.from([0, 1, 2, 255]) } };

      // Act
      const first = await sqs.send(
        new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'a', MessageAttributes: seller }),
      );
      const second = await sqs.send(
        new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'b', MessageAttributes: timestamp }),
      );
      const third = await sqs.send(
        new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'c', MessageAttributes: binary }),
      );
      const received = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queue.url,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
        }),
      );

      // Assert
      expect(first.MD5OfMessageAttributes).toBe('cd28f3b68aeee4b2eac9c66f2f694b58');
      expect(second.MD5OfMessageAttributes).toBe('235c5c510d26fb653d073faed50ae77c');
      expect(third.MD5OfMessageAttributes).toMatch(/^[0-9a-f]{32}$/);
      expect(received.Messages?.map((message) => [message.Body, message.MessageAttributes])).toEqual([
        ['a', seller],
        ['b', timestamp],
        ['c', binary],
      ]);
      expect(received.Messages?.map((message) => message.MD5OfMessageAttributes)).toEqual([
        first.MD5OfMessageAttributes,
        second.MD5OfMessageAttributes,
        third.MD5OfMessageAttributes,
      ]);
    });

    it('rejects invalid messages with the errors SQS names', async () => {
      // Arrange
      const queue = newQueue();
      const send = (input: { MessageBody: string; DelaySeconds?: number }) =>
        sqs.send(new SendMessageCommand({ QueueUrl: queue.url, ...input }));

      // Act
      const tooLate = send({ MessageBody: 'x', DelaySeconds: 901 });
      const empty = send({ MessageBody: '' });
      const control = send({ MessageBody: 'bell \u0007' });
      const oversized = send({ MessageBody: 'x'.repeat(256 * 1024 + 1) });

      // Assert
      await expect(tooLate).rejects.toMatchObject({
        name: 'InvalidParameterValue',
        message:
          'Value 901 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.',
        $metadata: { httpStatusCode: 400 },
      });
      await expect(empty).rejects.toMatchObject({
        name: 'MissingParameter',
        message: 'The request must contain the parameter MessageBody.',
      });
      await expect(control).rejects.toMatchObject({
        name: 'InvalidMessageContents',
        message: expect.stringMatching(/^Invalid binary character '#x7' was found in the message body/),
      });
      await expect(oversized).rejects.toMatchObject({
        name: 'InvalidParameterValue',
        message: 'One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.',
      });
      expect(edge.queues.messages(queue.name)).toHaveLength(0);
    });

    it('sends a batch with good and bad entries: good ones succeed, bad ones fail alone', async () => {
      // Arrange
      const queue = newQueue();
      const attributes = { SellerName: { DataType: 'String', StringValue: 'Example Store' } };

      // Act
      const result = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queue.url,
          Entries: [
            { Id: 'good-1', MessageBody: 'first' },
            { Id: 'late', MessageBody: 'second', DelaySeconds: 1000 },
            { Id: 'empty', MessageBody: '' },
            { Id: 'good-2', MessageBody: 'fourth', MessageAttributes: attributes },
          ],
        }),
      );

      // Assert
      expect(result.Successful).toEqual([
        { Id: 'good-1', MessageId: expect.any(String), MD5OfMessageBody: md5('first') },
        {
          Id: 'good-2',
          MessageId: expect.any(String),
          MD5OfMessageBody: md5('fourth'),
          MD5OfMessageAttributes: 'cd28f3b68aeee4b2eac9c66f2f694b58',
        },
      ]);
      expect(result.Failed).toEqual([
        {
          Id: 'late',
          SenderFault: true,
          Code: 'InvalidParameterValue',
          Message:
            'Value 1000 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.',
        },
        {
          Id: 'empty',
          SenderFault: true,
          Code: 'MissingParameter',
          Message: 'The request must contain the parameter MessageBody.',
        },
      ]);
      expect(edge.queues.messages(queue.name).map((message) => message.body)).toEqual(['first', 'fourth']);
    });

    it('rejects malformed batches as a whole with the batch errors', async () => {
      // Arrange
      const queue = newQueue();
      const batch = (entries: Array<{ Id: string; MessageBody: string }>) =>
        sqs.send(new SendMessageBatchCommand({ QueueUrl: queue.url, Entries: entries }));
      const entry = (id: string) => ({ Id: id, MessageBody: 'x' });

      // Act
      const none = batch([]);
      const eleven = batch(Array.from({ length: 11 }, (_, index) => entry(`e${String(index)}`)));
      const repeated = batch([entry('same'), entry('same')]);
      const badId = batch([entry('not valid!')]);

      // Assert
      await expect(none).rejects.toMatchObject({
        name: 'EmptyBatchRequest',
        $metadata: { httpStatusCode: 400 },
      });
      await expect(eleven).rejects.toMatchObject({
        name: 'TooManyEntriesInBatchRequest',
        message: 'Maximum number of entries per request are 10. You have sent 11.',
      });
      await expect(repeated).rejects.toMatchObject({
        name: 'BatchEntryIdsNotDistinct',
        message: 'Id same repeated.',
      });
      await expect(badId).rejects.toMatchObject({ name: 'InvalidBatchEntryId' });
      expect(edge.queues.messages(queue.name)).toHaveLength(0);
    });

    it('lists queues by name prefix', async () => {
      // Act
      const result = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'eks-access-broker' }));

      // Assert
      expect(result.QueueUrls).toEqual([
        `${edge.url}/${ACCOUNT_ID}/eks-access-broker-requests`,
        `${edge.url}/${ACCOUNT_ID}/eks-access-broker-requests-dlq`,
      ]);
    });

    it('receives and deletes a message; only the latest receipt handle deletes, a made-up one is refused', async () => {
      // Arrange
      const queue = newQueue();
      await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'work' }));
      const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, VisibilityTimeout: 0 }));
      const second = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queue.url, VisibilityTimeout: 30 }),
      );
      const deleteWith = (handle: string | undefined) =>
        sqs.send(new DeleteMessageCommand({ QueueUrl: queue.url, ReceiptHandle: handle }));

      // Act
      await deleteWith(first.Messages?.[0]?.ReceiptHandle);
      const afterStaleDelete = edge.queues.messages(queue.name).map((message) => message.state);
      await deleteWith(second.Messages?.[0]?.ReceiptHandle);
      const madeUp = deleteWith('not-a-receipt-handle');

      // Assert
      expect(second.Messages?.[0]?.ReceiptHandle).not.toBe(first.Messages?.[0]?.ReceiptHandle);
      expect(afterStaleDelete).toEqual(['in-flight']);
      expect(edge.queues.messages(queue.name)).toMatchObject([
        { body: 'work', state: 'deleted', receiveCount: 2 },
      ]);
      await expect(madeUp).rejects.toMatchObject({
        name: 'ReceiptHandleIsInvalid',
        $metadata: { httpStatusCode: 404 },
      });
    });

    it('answers queue attributes with visible, in-flight and delayed counts', async () => {
      // Arrange
      const queue = newQueue({
        visibilityTimeoutSeconds: 60,
        deadLetterQueueName: 'test-attributes-dlq',
        maxReceiveCount: 3,
      });
      for (const body of ['a', 'b', 'c'])
        await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: body }));
      await sqs.send(
        new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'later', DelaySeconds: 600 }),
      );
      await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 1 }));

      // Act
      const result = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['All'] }),
      );

      // Assert
      expect(result.Attributes).toMatchObject({
        QueueArn: `arn:aws:sqs:${REGION}:${ACCOUNT_ID}:${queue.name}`,
        ApproximateNumberOfMessages: '2',
        ApproximateNumberOfMessagesNotVisible: '1',
        ApproximateNumberOfMessagesDelayed: '1',
        VisibilityTimeout: '60',
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: `arn:aws:sqs:${REGION}:${ACCOUNT_ID}:test-attributes-dlq`,
          maxReceiveCount: 3,
        }),
      });
    });
  });

  describe('the Lambda event source mapping', () => {
    it('hands the consumer records shaped like Lambda SQS records, promptly, and deletes them on success', async () => {
      // Arrange
      const queue = newQueue();
      const batches: SQSRecord[][] = [];
      // A long poll interval: delivery must come from the send waking the poller, not from polling.
      unsubscribers.push(
        edge.queues.subscribe(
          queue.name,
          async (event) => {
            batches.push(event.Records);
          },
          { pollIntervalMs: 60_000 },
        ),
      );
      const sentAt = Date.now();

      // Act
      const sent = await sqs.send(
        new SendMessageCommand({
          QueueUrl: queue.url,
          MessageBody: '{"source":"ticketing.jira"}',
          MessageAttributes: { SellerName: { DataType: 'String', StringValue: 'Example Store' } },
        }),
      );
      await until(() => batches.length === 1, 1_000);
      const deliveredAfterMs = Date.now() - sentAt;
      await edge.queues.idle(queue.name);

      // Assert
      expect(deliveredAfterMs).toBeLessThan(500);
      expect(batches[0]).toEqual([
        {
          messageId: sent.MessageId,
          receiptHandle: expect.any(String),
          body: '{"source":"ticketing.jira"}',
          attributes: {
            ApproximateReceiveCount: '1',
            SentTimestamp: expect.stringMatching(/^\d{13}$/),
            // The sender's user id: test/test is a session of the ticketing integration's role.
            SenderId: edge.identities.byAccessKey('test')?.caller.userId,
            ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
          },
          messageAttributes: {
            SellerName: {
              stringValue: 'Example Store',
              stringListValues: [],
              binaryListValues: [],
              dataType: 'String',
            },
          },
          md5OfMessageAttributes: 'cd28f3b68aeee4b2eac9c66f2f694b58',
          md5OfBody: md5('{"source":"ticketing.jira"}'),
          eventSource: 'aws:sqs',
          eventSourceARN: `arn:aws:sqs:${REGION}:${ACCOUNT_ID}:${queue.name}`,
          awsRegion: REGION,
        },
      ]);
      expect(edge.queues.messages(queue.name).map((message) => message.state)).toEqual(['deleted']);
    });

    it('does not deliver a delayed message before its DelaySeconds have passed', async () => {
      // Arrange
      const queue = newQueue();
      const deliveredAt: number[] = [];
      unsubscribers.push(
        edge.queues.subscribe(queue.name, async () => {
          deliveredAt.push(Date.now());
        }),
      );

      // Act
      const sentAt = Date.now();
      await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'timer', DelaySeconds: 1 }));
      const statsRightAfterSend = edge.queues.stats(queue.name);
      await edge.queues.idle(queue.name, { includeDelayed: true, timeoutMs: 5_000 });

      // Assert
      expect(statsRightAfterSend).toEqual({ visible: 0, inFlight: 0, delayed: 1 });
      expect(deliveredAt).toHaveLength(1);
      expect((deliveredAt[0] as number) - sentAt).toBeGreaterThanOrEqual(1_000);
    });

    it('does not wait for delayed messages in idle() unless asked to', async () => {
      // Arrange
      const queue = newQueue();
      unsubscribers.push(edge.queues.subscribe(queue.name, async () => {}));
      await sqs.send(
        new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'much later', DelaySeconds: 900 }),
      );

      // Act
      await edge.queues.idle(queue.name, { timeoutMs: 1_000 });
      const waitingForDelayed = edge.queues.idle(queue.name, { includeDelayed: true, timeoutMs: 50 });

      // Assert
      await expect(waitingForDelayed).rejects.toThrow(/not idle after 50 ms/);
      expect(edge.queues.stats(queue.name)).toEqual({ visible: 0, inFlight: 0, delayed: 1 });
    });

    it('redelivers only the records listed in batchItemFailures, after the visibility timeout', async () => {
      // Arrange
      const queue = newQueue({ visibilityTimeoutSeconds: 1 });
      const batches: Array<Array<{ body: string; receiveCount: string }>> = [];
      unsubscribers.push(
        edge.queues.subscribe(queue.name, async (event): Promise<SQSBatchResponse> => {
          batches.push(
            event.Records.map((r) => ({ body: r.body, receiveCount: r.attributes.ApproximateReceiveCount })),
          );
          const failing = event.Records.filter((record) => record.body === 'two' && batches.length === 1);
          return { batchItemFailures: failing.map((record) => ({ itemIdentifier: record.messageId })) };
        }),
      );

      // Act
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queue.url,
          Entries: ['one', 'two', 'three'].map((body) => ({ Id: body, MessageBody: body })),
        }),
      );
      await until(() => batches.length === 2, 5_000);
      await edge.queues.idle(queue.name, { timeoutMs: 5_000 });

      // Assert
      expect(batches).toEqual([
        [
          { body: 'one', receiveCount: '1' },
          { body: 'two', receiveCount: '1' },
          { body: 'three', receiveCount: '1' },
        ],
        [{ body: 'two', receiveCount: '2' }],
      ]);
      expect(edge.queues.messages(queue.name).map((message) => message.state)).toEqual([
        'deleted',
        'deleted',
        'deleted',
      ]);
    });

    it('moves a message that keeps failing to the dead-letter queue after maxReceiveCount receives', async () => {
      // Arrange
      const queue = newQueue({
        visibilityTimeoutSeconds: 1,
        maxReceiveCount: 2,
        deadLetterQueueName: 'test-dlq-target',
      });
      const receiveCounts: string[] = [];
      const reportedErrors: unknown[] = [];
      unsubscribers.push(
        edge.queues.subscribe(
          queue.name,
          async (event) => {
            receiveCounts.push(...event.Records.map((record) => record.attributes.ApproximateReceiveCount));
            throw new Error('consumer keeps failing');
          },
          { onError: (error) => reportedErrors.push(error) },
        ),
      );

      // Act
      const sent = await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'poison' }));
      await edge.queues.idle(queue.name, { timeoutMs: 5_000 });
      const dlqUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: 'test-dlq-target' }))).QueueUrl;
      const fromDlq = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: dlqUrl, MessageSystemAttributeNames: ['All'] }),
      );

      // Assert
      expect(receiveCounts).toEqual(['1', '2']);
      expect(reportedErrors).toEqual([
        new Error('consumer keeps failing'),
        new Error('consumer keeps failing'),
      ]);
      expect(edge.queues.messages(queue.name)).toMatchObject([
        { messageId: sent.MessageId, state: 'moved-to-dlq' },
      ]);
      expect(fromDlq.Messages).toMatchObject([
        {
          MessageId: sent.MessageId,
          Body: 'poison',
          Attributes: {
            ApproximateReceiveCount: '3',
            DeadLetterQueueSourceArn: `arn:aws:sqs:${REGION}:${ACCOUNT_ID}:${queue.name}`,
          },
        },
      ]);
    });
  });

  describe('the aws CLI', () => {
    it.skipIf(!hasAwsCli)('sends a message with aws sqs send-message --endpoint-url', async () => {
      // Arrange
      const queue = newQueue();

      // Act
      const { stdout } = await promisify(execFile)(
        'aws',
        [
          'sqs',
          'send-message',
          '--queue-url',
          queue.url,
          '--message-body',
          'from the CLI',
          '--endpoint-url',
          edge.url,
        ],
        { env: cliEnv() },
      );

      // Assert
      const result = JSON.parse(stdout) as { MessageId: string; MD5OfMessageBody: string };
      expect(result.MD5OfMessageBody).toBe(md5('from the CLI'));
      expect(edge.queues.messages(queue.name)).toMatchObject([
        { messageId: result.MessageId, body: 'from the CLI' },
      ]);
    });

    it.skipIf(!hasAwsCli)('reports an unknown queue to the CLI with the code AWS uses', async () => {
      // Act
      const attempt = promisify(execFile)(
        'aws',
        ['sqs', 'get-queue-url', '--queue-name', 'no-such-queue', '--endpoint-url', edge.url],
        { env: cliEnv() },
      );

      // Assert
      await expect(attempt).rejects.toMatchObject({
        stderr: expect.stringContaining(
          'An error occurred (AWS.SimpleQueueService.NonExistentQueue) when calling the GetQueueUrl operation: The specified queue does not exist.',
        ),
      });
    });
  });
});

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Condition not met within ${String(timeoutMs)} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

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
