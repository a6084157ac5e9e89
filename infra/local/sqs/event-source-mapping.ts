import type { SQSEvent, SQSMessageAttribute, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import { isRecord } from '../json-input';
import type { SqsConsumer, StoredMessage, SubscribeOptions } from './types';
import { MAX_BATCH_ENTRIES } from './validation';

/** What a mapping needs of the queue it polls; LocalQueues hands it this view of one queue. */
export interface PolledQueue {
  readonly name: string;
  /** Takes up to `max` visible messages at the queue's own visibility timeout, as Lambda's poller does. */
  take(max: number): readonly StoredMessage[];
  record(message: StoredMessage): SQSRecord;
  delete(message: StoredMessage): void;
  /** A consumer call starts: the queue is busy until the matching callFinished. */
  callStarted(): void;
  callFinished(): void;
  wake(): void;
}

/** What an SQS record says about where it comes from. */
export interface RecordSource {
  readonly queueArn: string;
  readonly accountId: string;
  readonly region: string;
  readonly now: () => number;
}

/**
 * One Lambda event source mapping with ReportBatchItemFailures: polls its queue, hands batches to the
 * consumer, and deletes what the consumer did not report as failed.
 */
export class EventSourceMapping {
  private readonly consumer: SqsConsumer;
  private readonly onError: (error: unknown, event: SQSEvent) => void;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly interval: NodeJS.Timeout;
  private running = 0;
  private active = true;

  constructor(
    private readonly queue: PolledQueue,
    consumer: SqsConsumer,
    options: SubscribeOptions = {},
  ) {
    const batchSize = options.batchSize ?? 10;
    const concurrency = options.concurrency ?? 2;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_ENTRIES) {
      throw new RangeError(`batchSize must be an integer from 1 to 10, got ${String(batchSize)}`);
    }
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${String(concurrency)}`);
    }
    this.consumer = consumer;
    this.onError =
      options.onError ??
      ((error) =>
        console.error(`The consumer of SQS queue ${queue.name} failed; the batch will be retried`, error));
    this.batchSize = batchSize;
    this.concurrency = concurrency;
    this.interval = setInterval(() => queue.wake(), options.pollIntervalMs ?? 1000);
  }

  pump(): void {
    while (this.active && this.running < this.concurrency) {
      const batch = this.queue.take(this.batchSize);
      if (batch.length === 0) return;
      this.running += 1;
      this.queue.callStarted();
      void this.invoke(batch).finally(() => {
        this.running -= 1;
        this.queue.callFinished();
        this.pump();
      });
    }
  }

  /** Polls no more; a consumer call already running finishes, its results still applied. */
  stop(): void {
    this.active = false;
    clearInterval(this.interval);
  }

  private async invoke(batch: readonly StoredMessage[]): Promise<void> {
    const event: SQSEvent = { Records: batch.map((message) => this.queue.record(message)) };
    const records = structuredClone(event.Records);
    let response: unknown;
    try {
      response = await this.consumer(event);
    } catch (error) {
      // The whole batch comes back after the visibility timeout, as when a Lambda invocation fails.
      this.onError(error, { Records: records });
      return;
    }
    const failed = failedMessageIds(response, records);
    // Lambda treats a malformed batchItemFailures answer as a failure of the whole batch.
    if (failed === undefined) return;
    batch.forEach((message, index) => {
      // A consumer slower than the visibility timeout holds a stale handle, which deletes nothing in SQS.
      if (!failed.has(message.messageId) && message.receiptHandle === records[index]?.receiptHandle) {
        this.queue.delete(message);
      }
    });
  }
}

/** A message as the SQS record Lambda hands its consumer (ReceiveMessage answers the same fields). */
export function toRecord(message: StoredMessage, source: RecordSource): SQSRecord {
  const attributes: SQSRecordAttributes = {
    ApproximateReceiveCount: String(message.receiveCount),
    SentTimestamp: String(message.sentTimestamp),
    SenderId: message.senderId,
    ApproximateFirstReceiveTimestamp: String(message.firstReceiveTimestamp ?? source.now()),
    ...systemAttributes(message),
  };
  const messageAttributes: Record<string, SQSMessageAttribute> = {};
  for (const [name, value] of Object.entries(message.messageAttributes)) {
    messageAttributes[name] = {
      ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
      ...(value.BinaryValue === undefined
        ? {}
        : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
      stringListValues: [],
      binaryListValues: [],
      dataType: value.DataType,
    };
  }
  return {
    messageId: message.messageId,
    receiptHandle: message.receiptHandle ?? '',
    body: message.body,
    attributes,
    messageAttributes,
    ...(message.md5OfMessageAttributes === undefined
      ? {}
      : { md5OfMessageAttributes: message.md5OfMessageAttributes }),
    md5OfBody: message.md5OfBody,
    eventSource: 'aws:sqs',
    eventSourceARN: source.queueArn,
    awsRegion: source.region,
  };
}

function systemAttributes(message: StoredMessage): Partial<SQSRecordAttributes> {
  const trace = message.messageSystemAttributes.AWSTraceHeader?.StringValue;
  return {
    ...(trace === undefined ? {} : { AWSTraceHeader: trace }),
    ...(message.sequenceNumber === undefined ? {} : { SequenceNumber: message.sequenceNumber }),
    ...(message.messageGroupId === undefined ? {} : { MessageGroupId: message.messageGroupId }),
    ...(message.messageDeduplicationId === undefined
      ? {}
      : { MessageDeduplicationId: message.messageDeduplicationId }),
    ...(message.deadLetterSourceQueue === undefined
      ? {}
      : { DeadLetterQueueSourceArn: message.deadLetterSourceQueue.arn }),
  };
}

/**
 * Which records the consumer reported as failed, by message id; undefined when the answer is malformed
 * (an empty or unknown itemIdentifier), which Lambda treats as a failure of the whole batch.
 */
function failedMessageIds(response: unknown, records: readonly SQSRecord[]): Set<string> | undefined {
  const failures = isRecord(response) ? response.batchItemFailures : undefined;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return undefined;
  const ids = new Set(records.map((record) => record.messageId));
  const failed = new Set<string>();
  for (const failure of failures) {
    const id: unknown = isRecord(failure) ? failure.itemIdentifier : undefined;
    if (typeof id !== 'string' || !ids.has(id)) return undefined;
    failed.add(id);
  }
  return failed;
}
