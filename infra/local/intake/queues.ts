import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type {
  SQSBatchResponse,
  SQSEvent,
  SQSMessageAttribute,
  SQSRecord,
  SQSRecordAttributes,
} from 'aws-lambda';
import { decodeSegment, type EdgeRequest, type ServiceHandler, sendAwsError, sendJson } from '../http';

const CONTENT_TYPE = 'application/x-amz-json-1.0';
export const REQUESTS_QUEUE_NAME = 'eks-access-broker-requests';
export const REQUESTS_DLQ_NAME = 'eks-access-broker-requests-dlq';
/** The classic SQS limit; AWS raised its default to 1 MiB in 2025, createQueue can set it per queue. */
export const DEFAULT_MAXIMUM_MESSAGE_SIZE = 256 * 1024;
const MAX_DELAY_SECONDS = 900;
const MAX_VISIBILITY_TIMEOUT_SECONDS = 12 * 60 * 60;
const MAX_BATCH_ENTRIES = 10;
const MAX_MESSAGE_ATTRIBUTES = 10;
const FIFO_DEDUPLICATION_WINDOW_MS = 5 * 60 * 1000;
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;
const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,256}$/;
const ATTRIBUTE_TYPE = /^(String|Number|Binary)(\..+)?$/;

/** The errors this emulation answers, by the name the JS SDK gives them, with what SQS puts on the wire. */
const SQS_ERRORS = {
  QueueDoesNotExist: { queryCode: 'AWS.SimpleQueueService.NonExistentQueue', status: 400, modeled: true },
  QueueNameExists: { queryCode: 'QueueAlreadyExists', status: 400, modeled: true },
  InvalidParameterValue: { queryCode: 'InvalidParameterValue', status: 400, modeled: false },
  MissingParameter: { queryCode: 'MissingParameter', status: 400, modeled: false },
  InvalidMessageContents: { queryCode: 'InvalidMessageContents', status: 400, modeled: true },
  InvalidAttributeName: { queryCode: 'InvalidAttributeName', status: 400, modeled: true },
  EmptyBatchRequest: { queryCode: 'AWS.SimpleQueueService.EmptyBatchRequest', status: 400, modeled: true },
  TooManyEntriesInBatchRequest: {
    queryCode: 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
    status: 400,
    modeled: true,
  },
  BatchEntryIdsNotDistinct: {
    queryCode: 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
    status: 400,
    modeled: true,
  },
  InvalidBatchEntryId: {
    queryCode: 'AWS.SimpleQueueService.InvalidBatchEntryId',
    status: 400,
    modeled: true,
  },
  BatchRequestTooLong: {
    queryCode: 'AWS.SimpleQueueService.BatchRequestTooLong',
    status: 400,
    modeled: true,
  },
  ReceiptHandleIsInvalid: { queryCode: 'ReceiptHandleIsInvalid', status: 404, modeled: true },
  MessageNotInflight: { queryCode: 'AWS.SimpleQueueService.MessageNotInflight', status: 400, modeled: true },
  UnsupportedOperation: {
    queryCode: 'AWS.SimpleQueueService.UnsupportedOperation',
    status: 400,
    modeled: true,
  },
  SerializationException: { queryCode: 'SerializationException', status: 400, modeled: false },
} as const;

export type LocalQueueErrorCode = keyof typeof SQS_ERRORS;

/** An SQS error; `code` is the name the SDK surfaces (error.name) and the per-entry `Code` in batches. */
export class LocalQueueError extends Error {
  override readonly name = 'LocalQueueError';
  constructor(
    readonly code: LocalQueueErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const queueDoesNotExist = () =>
  new LocalQueueError('QueueDoesNotExist', 'The specified queue does not exist.');

export interface CreateQueueOptions {
  /** 30 s by default, as in SQS. */
  readonly visibilityTimeoutSeconds?: number;
  /** Queue-level delay for messages sent without DelaySeconds. */
  readonly delaySeconds?: number;
  readonly maximumMessageSize?: number;
  /** With deadLetterQueueName: receives allowed before a message moves there (default 5). */
  readonly maxReceiveCount?: number;
  /** Created (as a plain queue of the same kind) when it does not exist yet. */
  readonly deadLetterQueueName?: string;
  /** The name must then end in ".fifo". */
  readonly fifo?: boolean;
  readonly contentBasedDeduplication?: boolean;
}

export interface LocalQueuesOptions {
  readonly accountId: string;
  readonly region: string;
  /** Milliseconds since the epoch; timers still run on real time. */
  readonly now?: () => number;
}

/** A message attribute as the SQS API carries it; BinaryValue is base64 on the JSON wire. */
export interface MessageAttributeValue {
  readonly DataType: string;
  readonly StringValue?: string;
  readonly BinaryValue?: Uint8Array;
}

export interface SendMessageInput {
  readonly body: string;
  readonly delaySeconds?: number;
  readonly messageAttributes?: Readonly<Record<string, MessageAttributeValue>>;
  /** Only AWSTraceHeader exists. */
  readonly messageSystemAttributes?: Readonly<Record<string, MessageAttributeValue>>;
  readonly messageGroupId?: string;
  readonly messageDeduplicationId?: string;
}

export interface SendMessageResult {
  readonly MessageId: string;
  readonly MD5OfMessageBody: string;
  readonly MD5OfMessageAttributes?: string;
  readonly MD5OfMessageSystemAttributes?: string;
  readonly SequenceNumber?: string;
}

export type LocalMessageState = 'pending' | 'in-flight' | 'deleted' | 'moved-to-dlq';

/** A snapshot of one accepted message, for listing. A delayed message is pending with `visibleAt` ahead. */
export interface LocalQueueMessage {
  readonly messageId: string;
  readonly body: string;
  readonly messageAttributes: Readonly<Record<string, MessageAttributeValue>>;
  readonly state: LocalMessageState;
  readonly receiveCount: number;
  readonly sentTimestamp: number;
  readonly visibleAt: number;
  readonly messageGroupId?: string;
  /** The queue a dead-lettered message came from. */
  readonly deadLetterSourceQueue?: string;
}

export interface QueueStats {
  /** Visible now. */
  readonly visible: number;
  readonly inFlight: number;
  /** Pending but not visible yet (DelaySeconds). */
  readonly delayed: number;
}

// biome-ignore lint/suspicious/noConfusingVoidType: the return type of Lambda's own SQSHandler, so handlers plug in unchanged.
export type SqsConsumer = (event: SQSEvent) => Promise<SQSBatchResponse | void>;

export interface SubscribeOptions {
  /** Records per consumer call, 1-10 (default 10). */
  readonly batchSize?: number;
  /** Consumer calls running at once (default 2). */
  readonly concurrency?: number;
  /** A safety net only: sends, delays and visibility timeouts wake the poller directly (default 1000). */
  readonly pollIntervalMs?: number;
  /** Told when the consumer throws, as Lambda would log it; console.error by default. */
  readonly onError?: (error: unknown, event: SQSEvent) => void;
}

export interface IdleOptions {
  /** Also wait for delayed messages to come due and be consumed. */
  readonly includeDelayed?: boolean;
  /** Reject after this long, with the queue counts in the message, instead of waiting forever. */
  readonly timeoutMs?: number;
}

interface QueueConfig {
  readonly visibilityTimeoutSeconds: number;
  readonly delaySeconds: number;
  readonly maximumMessageSize: number;
  readonly maxReceiveCount: number | undefined;
  readonly deadLetterQueueName: string | undefined;
  readonly fifo: boolean;
  readonly contentBasedDeduplication: boolean;
}

interface StoredMessage {
  readonly messageId: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly messageAttributes: Record<string, MessageAttributeValue>;
  readonly md5OfMessageAttributes: string | undefined;
  readonly messageSystemAttributes: Record<string, MessageAttributeValue>;
  readonly sentTimestamp: number;
  readonly messageGroupId: string | undefined;
  readonly messageDeduplicationId: string | undefined;
  readonly sequenceNumber: string | undefined;
  readonly deadLetterSourceQueue: Queue | undefined;
  state: LocalMessageState;
  visibleAt: number;
  receiveCount: number;
  firstReceiveTimestamp: number | undefined;
  receiptHandle: string | undefined;
}

interface Subscription {
  readonly consumer: SqsConsumer;
  readonly onError: (error: unknown, event: SQSEvent) => void;
  readonly batchSize: number;
  readonly concurrency: number;
  running: number;
  active: boolean;
  readonly interval: NodeJS.Timeout;
}

interface Queue {
  readonly name: string;
  readonly arn: string;
  readonly config: QueueConfig;
  readonly createdTimestamp: number;
  /** Every message ever accepted, for listing. */
  readonly all: StoredMessage[];
  /** Pending and in-flight messages only, in send order. */
  live: StoredMessage[];
  /** Every message accepted, by id: receipt handles carry the id. */
  readonly byId: Map<string, StoredMessage>;
  readonly deduplication: Map<string, { result: SendMessageResult; expiresAt: number }>;
  readonly subscriptions: Set<Subscription>;
  readonly longPolls: Set<() => void>;
  /** Consumer calls running on this queue, including those of a subscription stopped meanwhile. */
  running: number;
  timer: NodeJS.Timeout | undefined;
  timerDueAt: number;
  wakeScheduled: boolean;
  sequence: bigint;
}

interface IdleWaiter {
  readonly queueName: string | undefined;
  readonly includeDelayed: boolean;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/**
 * SQS for the local edge and Lambda's SQS event source mapping, in memory.
 *
 * idle() semantics: with a queue name, it resolves once that queue has no visible and no in-flight message and
 * no consumer call is running; delayed messages not yet due do not count unless `includeDelayed` is set.
 * Without a name it applies that to every queue with a subscribed consumer (a dead-letter queue nobody reads
 * would otherwise never be idle), plus any consumer call still running anywhere.
 */
export class LocalQueues {
  readonly handler: ServiceHandler;
  private readonly accountId: string;
  private readonly region: string;
  private readonly now: () => number;
  private readonly queues = new Map<string, Queue>();
  private idleWaiters: IdleWaiter[] = [];
  private closed = false;

  constructor(options: LocalQueuesOptions) {
    this.accountId = options.accountId;
    this.region = options.region;
    this.now = options.now ?? Date.now;
    this.createQueue(REQUESTS_QUEUE_NAME, {
      visibilityTimeoutSeconds: 30,
      deadLetterQueueName: REQUESTS_DLQ_NAME,
      maxReceiveCount: 5,
    });
    this.handler = (req, res) => this.handle(req, res);
  }

  /** Creates a queue; creating one again with the same options is a no-op, with other options an error. */
  createQueue(name: string, options: CreateQueueOptions = {}): void {
    const fifo = options.fifo ?? false;
    const config: QueueConfig = {
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
      delaySeconds: options.delaySeconds ?? 0,
      maximumMessageSize: options.maximumMessageSize ?? DEFAULT_MAXIMUM_MESSAGE_SIZE,
      maxReceiveCount: options.deadLetterQueueName ? (options.maxReceiveCount ?? 5) : undefined,
      deadLetterQueueName: options.deadLetterQueueName,
      fifo,
      contentBasedDeduplication: options.contentBasedDeduplication ?? false,
    };
    validateQueueName(name, fifo);
    checkRange('VisibilityTimeout', config.visibilityTimeoutSeconds, 0, MAX_VISIBILITY_TIMEOUT_SECONDS);
    checkRange('DelaySeconds', config.delaySeconds, 0, MAX_DELAY_SECONDS);
    checkRange('MaximumMessageSize', config.maximumMessageSize, 1024, 1024 * 1024);
    if (config.maxReceiveCount !== undefined) checkRange('maxReceiveCount', config.maxReceiveCount, 1, 1000);
    const existing = this.queues.get(name);
    if (existing) {
      if (JSON.stringify(existing.config) === JSON.stringify(config)) return;
      throw new LocalQueueError(
        'QueueNameExists',
        'A queue already exists with the same name and a different value for attribute(s) given.',
      );
    }
    if (config.deadLetterQueueName !== undefined && !this.queues.has(config.deadLetterQueueName)) {
      this.createQueue(config.deadLetterQueueName, { fifo });
    }
    this.queues.set(name, {
      name,
      arn: this.queueArn(name),
      config,
      createdTimestamp: this.now(),
      all: [],
      live: [],
      byId: new Map(),
      deduplication: new Map(),
      subscriptions: new Set(),
      longPolls: new Set(),
      running: 0,
      timer: undefined,
      timerDueAt: Number.POSITIVE_INFINITY,
      wakeScheduled: false,
      sequence: 0n,
    });
  }

  queueNames(): readonly string[] {
    return [...this.queues.keys()];
  }

  queueArn(queueName: string): string {
    return `arn:aws:sqs:${this.region}:${this.accountId}:${queueName}`;
  }

  /** SendMessage in process, with SQS's validation. Throws LocalQueueError. */
  send(queueName: string, input: SendMessageInput): SendMessageResult {
    return this.enqueue(this.queue(queueName), input);
  }

  /** Every message accepted on the queue, oldest first, with its current state. */
  messages(queueName: string): readonly LocalQueueMessage[] {
    const queue = this.queue(queueName);
    this.expireVisibility(queue);
    return queue.all.map((message) => ({
      messageId: message.messageId,
      body: message.body,
      messageAttributes: { ...message.messageAttributes },
      state: message.state,
      receiveCount: message.receiveCount,
      sentTimestamp: message.sentTimestamp,
      visibleAt: message.visibleAt,
      ...(message.messageGroupId === undefined ? {} : { messageGroupId: message.messageGroupId }),
      ...(message.deadLetterSourceQueue === undefined
        ? {}
        : { deadLetterSourceQueue: message.deadLetterSourceQueue.name }),
    }));
  }

  stats(queueName: string): QueueStats {
    const queue = this.queue(queueName);
    this.expireVisibility(queue);
    const now = this.now();
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const message of queue.live) {
      if (message.state === 'in-flight') inFlight += 1;
      else if (message.visibleAt > now) delayed += 1;
      else visible += 1;
    }
    return { visible, inFlight, delayed };
  }

  /**
   * Polls the queue like a Lambda event source mapping with ReportBatchItemFailures. Returns the function
   * that stops it; a consumer call already running finishes, its results still applied.
   */
  subscribe(queueName: string, consumer: SqsConsumer, options: SubscribeOptions = {}): () => void {
    if (this.closed) throw new Error('LocalQueues is closed');
    const queue = this.queue(queueName);
    const batchSize = options.batchSize ?? 10;
    const concurrency = options.concurrency ?? 2;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_ENTRIES) {
      throw new RangeError(`batchSize must be an integer from 1 to 10, got ${String(batchSize)}`);
    }
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${String(concurrency)}`);
    }
    const subscription: Subscription = {
      consumer,
      onError:
        options.onError ??
        ((error) =>
          console.error(`The consumer of SQS queue ${queueName} failed; the batch will be retried`, error)),
      batchSize,
      concurrency,
      running: 0,
      active: true,
      interval: setInterval(() => this.wake(queue), options.pollIntervalMs ?? 1000),
    };
    queue.subscriptions.add(subscription);
    this.scheduleWake(queue);
    return () => this.unsubscribe(queue, subscription);
  }

  /** See the class comment for what idle means. */
  idle(queueName?: string, options: IdleOptions = {}): Promise<void> {
    if (queueName !== undefined) this.queue(queueName);
    const includeDelayed = options.includeDelayed ?? false;
    if (this.isIdle(queueName, includeDelayed)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timeout: NodeJS.Timeout | undefined;
      const waiter: IdleWaiter = {
        queueName,
        includeDelayed,
        resolve: () => {
          clearTimeout(timeout);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timeout);
          reject(error);
        },
      };
      if (options.timeoutMs !== undefined) {
        timeout = setTimeout(() => {
          this.idleWaiters = this.idleWaiters.filter((other) => other !== waiter);
          const names = queueName === undefined ? [...this.queues.keys()] : [queueName];
          const counts = names.map((name) => `${name} ${JSON.stringify(this.stats(name))}`).join(', ');
          reject(new Error(`Queues not idle after ${String(options.timeoutMs)} ms: ${counts}`));
        }, options.timeoutMs);
      }
      this.idleWaiters.push(waiter);
    });
  }

  /** Stops every poller, timer and long poll so the process can exit; idle() waiters are rejected. */
  close(): void {
    this.closed = true;
    for (const queue of this.queues.values()) {
      for (const subscription of queue.subscriptions) this.unsubscribe(queue, subscription);
      clearTimeout(queue.timer);
      queue.timer = undefined;
      for (const finish of queue.longPolls) finish();
    }
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter.reject(new Error('LocalQueues was closed while waiting for idle'));
  }

  // ---- queue mechanics ----

  private queue(name: string): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw queueDoesNotExist();
    return queue;
  }

  private enqueue(queue: Queue, input: SendMessageInput): SendMessageResult {
    const checked = validateMessage(queue.config, input);
    const now = this.now();
    let deduplicationId: string | undefined;
    if (queue.config.fifo) {
      deduplicationId = input.messageDeduplicationId ?? sha256(input.body);
      for (const [id, entry] of queue.deduplication) {
        if (entry.expiresAt <= now) queue.deduplication.delete(id);
      }
      const duplicate = queue.deduplication.get(deduplicationId);
      // Within the window SQS acknowledges a duplicate with the first message's id and enqueues nothing.
      if (duplicate) return duplicate.result;
    }
    queue.sequence += 1n;
    const message: StoredMessage = {
      messageId: randomUUID(),
      body: input.body,
      md5OfBody: md5(input.body),
      messageAttributes: { ...input.messageAttributes },
      md5OfMessageAttributes: checked.md5OfMessageAttributes,
      messageSystemAttributes: { ...input.messageSystemAttributes },
      sentTimestamp: now,
      messageGroupId: input.messageGroupId,
      messageDeduplicationId: deduplicationId,
      // SQS sequence numbers are large, increasing decimal strings.
      sequenceNumber: queue.config.fifo ? (10n ** 19n + queue.sequence).toString() : undefined,
      deadLetterSourceQueue: undefined,
      state: 'pending',
      visibleAt: now + (input.delaySeconds ?? queue.config.delaySeconds) * 1000,
      receiveCount: 0,
      firstReceiveTimestamp: undefined,
      receiptHandle: undefined,
    };
    queue.all.push(message);
    queue.byId.set(message.messageId, message);
    queue.live.push(message);
    const result: SendMessageResult = {
      MessageId: message.messageId,
      MD5OfMessageBody: message.md5OfBody,
      ...(checked.md5OfMessageAttributes === undefined
        ? {}
        : { MD5OfMessageAttributes: checked.md5OfMessageAttributes }),
      ...(checked.md5OfMessageSystemAttributes === undefined
        ? {}
        : { MD5OfMessageSystemAttributes: checked.md5OfMessageSystemAttributes }),
      ...(message.sequenceNumber === undefined ? {} : { SequenceNumber: message.sequenceNumber }),
    };
    if (deduplicationId !== undefined) {
      queue.deduplication.set(deduplicationId, { result, expiresAt: now + FIFO_DEDUPLICATION_WINDOW_MS });
    }
    this.changed(queue);
    return result;
  }

  /**
   * Takes up to `max` visible messages and makes them in flight. A message that has already been received
   * maxReceiveCount times moves to the dead-letter queue instead, at this moment, as SQS does.
   */
  private receive(queue: Queue, max: number, visibilityTimeoutSeconds: number): StoredMessage[] {
    this.expireVisibility(queue);
    const now = this.now();
    const taken: StoredMessage[] = [];
    // FIFO: a group with a message in flight is locked; within a group only the oldest messages go out.
    const lockedGroups = new Set<string>();
    if (queue.config.fifo) {
      for (const message of queue.live) {
        if (message.state === 'in-flight' && message.messageGroupId !== undefined) {
          lockedGroups.add(message.messageGroupId);
        }
      }
    }
    let moved = false;
    for (const message of queue.live) {
      if (taken.length >= max) break;
      if (message.state !== 'pending' || message.visibleAt > now) {
        // FIFO order: nothing of a group goes out past one of its messages that is not available.
        if (message.messageGroupId !== undefined && queue.config.fifo) {
          lockedGroups.add(message.messageGroupId);
        }
        continue;
      }
      if (message.messageGroupId !== undefined && lockedGroups.has(message.messageGroupId)) continue;
      const { maxReceiveCount, deadLetterQueueName } = queue.config;
      if (maxReceiveCount !== undefined && deadLetterQueueName !== undefined) {
        if (message.receiveCount >= maxReceiveCount) {
          this.moveToDeadLetterQueue(queue, message, deadLetterQueueName);
          moved = true;
          continue;
        }
      }
      message.state = 'in-flight';
      message.receiveCount += 1;
      message.firstReceiveTimestamp ??= now;
      message.visibleAt = now + visibilityTimeoutSeconds * 1000;
      message.receiptHandle = receiptHandle(message.messageId);
      taken.push(message);
    }
    if (moved) queue.live = queue.live.filter((message) => message.state !== 'moved-to-dlq');
    if (taken.length > 0 || moved) this.changed(queue);
    return taken;
  }

  private moveToDeadLetterQueue(queue: Queue, message: StoredMessage, deadLetterQueueName: string): void {
    message.state = 'moved-to-dlq';
    const target = this.queue(deadLetterQueueName);
    // The message keeps its id, body, attributes, send time and receive count; only its queue changes.
    const copy: StoredMessage = {
      ...message,
      deadLetterSourceQueue: queue,
      state: 'pending',
      visibleAt: this.now(),
      receiptHandle: undefined,
    };
    target.all.push(copy);
    target.byId.set(copy.messageId, copy);
    target.live.push(copy);
    this.changed(target);
  }

  private deleteMessage(queue: Queue, message: StoredMessage): void {
    if (message.state !== 'pending' && message.state !== 'in-flight') return;
    message.state = 'deleted';
    queue.live = queue.live.filter((other) => other !== message);
    this.changed(queue);
  }

  /** In-flight messages whose visibility timeout has passed are visible again. */
  private expireVisibility(queue: Queue): void {
    const now = this.now();
    for (const message of queue.live) {
      if (message.state === 'in-flight' && message.visibleAt <= now) message.state = 'pending';
    }
  }

  /** After any change: re-arm the queue's timer, wake its pollers, settle idle waiters. */
  private changed(queue: Queue): void {
    this.armTimer(queue);
    this.scheduleWake(queue);
    this.settleIdleWaiters();
  }

  /** One timer per queue, at the next moment a message becomes visible (a delay or a visibility timeout). */
  private armTimer(queue: Queue): void {
    if (this.closed) return;
    const now = this.now();
    let dueAt = Number.POSITIVE_INFINITY;
    for (const message of queue.live) {
      if (message.visibleAt > now && message.visibleAt < dueAt) dueAt = message.visibleAt;
    }
    if (dueAt === queue.timerDueAt && queue.timer !== undefined) return;
    clearTimeout(queue.timer);
    queue.timer = undefined;
    queue.timerDueAt = dueAt;
    if (dueAt === Number.POSITIVE_INFINITY) return;
    queue.timer = setTimeout(
      () => {
        queue.timer = undefined;
        queue.timerDueAt = Number.POSITIVE_INFINITY;
        this.expireVisibility(queue);
        this.changed(queue);
      },
      Math.max(0, dueAt - now),
    );
  }

  /** Coalesced to the next turn so that a batch send reaches the consumer as one batch, as with Lambda. */
  private scheduleWake(queue: Queue): void {
    if (queue.wakeScheduled || this.closed) return;
    queue.wakeScheduled = true;
    setImmediate(() => {
      queue.wakeScheduled = false;
      this.wake(queue);
    });
  }

  private wake(queue: Queue): void {
    if (this.closed) return;
    for (const finish of queue.longPolls) finish();
    for (const subscription of queue.subscriptions) this.pump(queue, subscription);
  }

  private pump(queue: Queue, subscription: Subscription): void {
    while (subscription.active && subscription.running < subscription.concurrency) {
      const batch = this.receive(queue, subscription.batchSize, queue.config.visibilityTimeoutSeconds);
      if (batch.length === 0) return;
      subscription.running += 1;
      queue.running += 1;
      void this.invoke(queue, subscription, batch).finally(() => {
        subscription.running -= 1;
        queue.running -= 1;
        this.settleIdleWaiters();
        this.pump(queue, subscription);
      });
    }
  }

  private async invoke(
    queue: Queue,
    subscription: Subscription,
    batch: readonly StoredMessage[],
  ): Promise<void> {
    const event: SQSEvent = { Records: batch.map((message) => this.toRecord(queue, message)) };
    const records = structuredClone(event.Records);
    let response: unknown;
    try {
      response = await subscription.consumer(event);
    } catch (error) {
      // The whole batch comes back after the visibility timeout, as when a Lambda invocation fails.
      subscription.onError(error, { Records: records });
      return;
    }
    const failed = failedMessageIds(response, records);
    // Lambda treats a malformed batchItemFailures answer as a failure of the whole batch.
    if (failed === undefined) return;
    batch.forEach((message, index) => {
      // A consumer slower than the visibility timeout holds a stale handle, which deletes nothing in SQS.
      if (!failed.has(message.messageId) && message.receiptHandle === records[index]?.receiptHandle) {
        this.deleteMessage(queue, message);
      }
    });
  }

  private unsubscribe(queue: Queue, subscription: Subscription): void {
    subscription.active = false;
    clearInterval(subscription.interval);
    queue.subscriptions.delete(subscription);
    this.settleIdleWaiters();
  }

  private toRecord(queue: Queue, message: StoredMessage): SQSRecord {
    const attributes: SQSRecordAttributes = {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: String(message.sentTimestamp),
      SenderId: this.accountId,
      ApproximateFirstReceiveTimestamp: String(message.firstReceiveTimestamp ?? this.now()),
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
      eventSourceARN: queue.arn,
      awsRegion: this.region,
    };
  }

  private isIdle(queueName: string | undefined, includeDelayed: boolean): boolean {
    const now = this.now();
    for (const queue of this.queues.values()) {
      if (queueName !== undefined && queue.name !== queueName) continue;
      if (queue.running > 0) return false;
      if (queueName === undefined && queue.subscriptions.size === 0) continue;
      const busy = queue.live.some(
        (message) => message.state === 'in-flight' || includeDelayed || message.visibleAt <= now,
      );
      if (busy) return false;
    }
    return true;
  }

  private settleIdleWaiters(): void {
    if (this.idleWaiters.length === 0) return;
    const waiting: IdleWaiter[] = [];
    for (const waiter of this.idleWaiters) {
      if (this.isIdle(waiter.queueName, waiter.includeDelayed)) waiter.resolve();
      else waiting.push(waiter);
    }
    this.idleWaiters = waiting;
  }

  // ---- the JSON 1.0 wire protocol ----

  private async handle(req: EdgeRequest, res: ServerResponse): Promise<void> {
    const operation = String(req.headers['x-amz-target'] ?? '').slice('AmazonSQS.'.length);
    try {
      const input = parseBody(req.body);
      const result = await this.dispatch(operation, input, req.origin);
      sendJson(res, 200, result, CONTENT_TYPE);
    } catch (error) {
      if (error instanceof UnknownOperationError) {
        sendAwsError(res, 400, 'UnknownOperationException', error.message, {
          contentType: CONTENT_TYPE,
          extraBody: { __type: 'com.amazon.coral.service#UnknownOperationException' },
        });
        return;
      }
      if (!(error instanceof LocalQueueError)) throw error;
      const wire = SQS_ERRORS[error.code];
      const type = wire.modeled
        ? `com.amazonaws.sqs#${error.code}`
        : `com.amazon.coral.service#${error.code}Exception`;
      sendAwsError(res, wire.status, error.code, error.message, {
        contentType: CONTENT_TYPE,
        extraBody: { __type: type },
        // Clients of the JSON protocol name the error from this header (the query protocol's code) first.
        extraHeaders: { 'x-amzn-query-error': `${wire.queryCode};Sender` },
      });
    }
  }

  private async dispatch(
    operation: string,
    input: Record<string, unknown>,
    origin: string,
  ): Promise<unknown> {
    switch (operation) {
      case 'GetQueueUrl':
        return this.getQueueUrl(input, origin);
      case 'ListQueues':
        return this.listQueues(input, origin);
      case 'GetQueueAttributes':
        return this.getQueueAttributes(input);
      case 'SendMessage':
        return this.enqueue(this.queueFromUrl(input), readSendInput(input));
      case 'SendMessageBatch':
        return this.sendMessageBatch(input);
      case 'ReceiveMessage':
        return this.receiveMessage(input);
      case 'DeleteMessage':
        return this.deleteByReceipt(input);
      case 'ChangeMessageVisibility':
        return this.changeMessageVisibility(input);
      case 'CreateQueue':
      case 'DeleteQueue':
      case 'PurgeQueue':
      case 'SetQueueAttributes':
      case 'DeleteMessageBatch':
      case 'ChangeMessageVisibilityBatch':
      case 'TagQueue':
      case 'UntagQueue':
      case 'ListQueueTags':
      case 'AddPermission':
      case 'RemovePermission':
      case 'ListDeadLetterSourceQueues':
      case 'StartMessageMoveTask':
      case 'CancelMessageMoveTask':
      case 'ListMessageMoveTasks':
        throw new LocalQueueError(
          'UnsupportedOperation',
          `The local edge does not emulate SQS ${operation}.`,
        );
      default:
        throw new UnknownOperationError(`Unknown operation AmazonSQS.${operation}`);
    }
  }

  private queueUrl(origin: string, name: string): string {
    return `${origin}/${this.accountId}/${name}`;
  }

  private queueFromUrl(input: Record<string, unknown>): Queue {
    const url = requiredString(input, 'QueueUrl');
    let path: string;
    try {
      path = new URL(url).pathname;
    } catch {
      // SQS also takes the bare path form "/account/name".
      path = url;
    }
    const [account, name, ...rest] = path.split('/').filter((part) => part !== '');
    const decoded = name === undefined ? undefined : decodeSegment(name);
    if (account !== this.accountId || decoded === undefined || rest.length > 0) throw queueDoesNotExist();
    return this.queue(decoded);
  }

  private getQueueUrl(input: Record<string, unknown>, origin: string): { QueueUrl: string } {
    const name = requiredString(input, 'QueueName');
    const owner = optionalString(input, 'QueueOwnerAWSAccountId');
    if ((owner !== undefined && owner !== this.accountId) || !this.queues.has(name))
      throw queueDoesNotExist();
    return { QueueUrl: this.queueUrl(origin, name) };
  }

  private listQueues(
    input: Record<string, unknown>,
    origin: string,
  ): { QueueUrls?: string[]; NextToken?: string } {
    const prefix = optionalString(input, 'QueueNamePrefix') ?? '';
    const maxResults = optionalInteger(input, 'MaxResults');
    if (maxResults !== undefined) checkRange('MaxResults', maxResults, 1, 1000);
    const names = [...this.queues.keys()].filter((name) => name.startsWith(prefix)).sort();
    const start = Number(optionalString(input, 'NextToken') ?? '0');
    if (!Number.isInteger(start) || start < 0) {
      throw new LocalQueueError('InvalidParameterValue', 'Invalid NextToken value.');
    }
    // Without MaxResults SQS answers up to 1000 queues and no token.
    const page = names.slice(start, maxResults === undefined ? start + 1000 : start + maxResults);
    const next = start + page.length;
    return {
      ...(page.length > 0 ? { QueueUrls: page.map((name) => this.queueUrl(origin, name)) } : {}),
      ...(maxResults !== undefined && next < names.length ? { NextToken: String(next) } : {}),
    };
  }

  private getQueueAttributes(input: Record<string, unknown>): { Attributes?: Record<string, string> } {
    const queue = this.queueFromUrl(input);
    const requested = optionalStringList(input, 'AttributeNames') ?? [];
    const all = this.queueAttributes(queue);
    const attributes: Record<string, string> = {};
    for (const name of requested) {
      if (name === 'All') {
        Object.assign(attributes, all);
      } else if (name in all) {
        attributes[name] = all[name] as string;
      } else if (!KNOWN_QUEUE_ATTRIBUTES.has(name)) {
        throw new LocalQueueError('InvalidAttributeName', `Unknown Attribute ${name}.`);
      }
    }
    return Object.keys(attributes).length > 0 ? { Attributes: attributes } : {};
  }

  private queueAttributes(queue: Queue): Record<string, string> {
    const stats = this.stats(queue.name);
    const { config } = queue;
    const created = String(Math.floor(queue.createdTimestamp / 1000));
    return {
      QueueArn: queue.arn,
      ApproximateNumberOfMessages: String(stats.visible),
      ApproximateNumberOfMessagesNotVisible: String(stats.inFlight),
      ApproximateNumberOfMessagesDelayed: String(stats.delayed),
      CreatedTimestamp: created,
      LastModifiedTimestamp: created,
      VisibilityTimeout: String(config.visibilityTimeoutSeconds),
      MaximumMessageSize: String(config.maximumMessageSize),
      MessageRetentionPeriod: '345600',
      DelaySeconds: String(config.delaySeconds),
      ReceiveMessageWaitTimeSeconds: '0',
      SqsManagedSseEnabled: 'true',
      ...(config.deadLetterQueueName === undefined
        ? {}
        : {
            RedrivePolicy: JSON.stringify({
              deadLetterTargetArn: this.queueArn(config.deadLetterQueueName),
              maxReceiveCount: config.maxReceiveCount,
            }),
          }),
      ...(config.fifo
        ? { FifoQueue: 'true', ContentBasedDeduplication: String(config.contentBasedDeduplication) }
        : {}),
    };
  }

  private sendMessageBatch(input: Record<string, unknown>): {
    Successful: Array<SendMessageResult & { Id: string }>;
    Failed: Array<{ Id: string; SenderFault: boolean; Code: string; Message: string }>;
  } {
    const queue = this.queueFromUrl(input);
    const entries = optionalRecordList(input, 'Entries') ?? [];
    if (entries.length === 0) {
      throw new LocalQueueError(
        'EmptyBatchRequest',
        'There should be at least one SendMessageBatchRequestEntry in the request.',
      );
    }
    if (entries.length > MAX_BATCH_ENTRIES) {
      throw new LocalQueueError(
        'TooManyEntriesInBatchRequest',
        `Maximum number of entries per request are 10. You have sent ${String(entries.length)}.`,
      );
    }
    const ids: string[] = [];
    for (const entry of entries) {
      const id = requiredString(entry, 'Id');
      if (!BATCH_ENTRY_ID.test(id)) {
        throw new LocalQueueError(
          'InvalidBatchEntryId',
          'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
        );
      }
      if (ids.includes(id)) throw new LocalQueueError('BatchEntryIdsNotDistinct', `Id ${id} repeated.`);
      ids.push(id);
    }
    // A malformed entry fails alone, like any other invalid entry.
    const inputs = entries.map((entry) => {
      try {
        return readSendInput(entry);
      } catch (error) {
        if (error instanceof LocalQueueError) return error;
        throw error;
      }
    });
    const totalBytes = inputs.reduce(
      (sum, entry) => sum + (entry instanceof LocalQueueError ? 0 : messageSize(entry)),
      0,
    );
    if (totalBytes > queue.config.maximumMessageSize) {
      throw new LocalQueueError(
        'BatchRequestTooLong',
        `Batch requests cannot be longer than ${String(queue.config.maximumMessageSize)} bytes. You have sent ${String(totalBytes)} bytes.`,
      );
    }
    const successful: Array<SendMessageResult & { Id: string }> = [];
    const failed: Array<{ Id: string; SenderFault: boolean; Code: string; Message: string }> = [];
    inputs.forEach((entryInput, index) => {
      const id = ids[index] as string;
      try {
        if (entryInput instanceof LocalQueueError) throw entryInput;
        successful.push({ Id: id, ...this.enqueue(queue, entryInput) });
      } catch (error) {
        if (!(error instanceof LocalQueueError)) throw error;
        failed.push({ Id: id, SenderFault: true, Code: error.code, Message: error.message });
      }
    });
    return { Successful: successful, Failed: failed };
  }

  private async receiveMessage(input: Record<string, unknown>): Promise<{ Messages?: unknown[] }> {
    const queue = this.queueFromUrl(input);
    const max = optionalInteger(input, 'MaxNumberOfMessages') ?? 1;
    if (max < 1 || max > MAX_BATCH_ENTRIES) {
      throw new LocalQueueError(
        'InvalidParameterValue',
        `Value ${String(max)} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.`,
      );
    }
    const visibility = optionalInteger(input, 'VisibilityTimeout') ?? queue.config.visibilityTimeoutSeconds;
    checkRange('VisibilityTimeout', visibility, 0, MAX_VISIBILITY_TIMEOUT_SECONDS);
    const waitSeconds = optionalInteger(input, 'WaitTimeSeconds') ?? 0;
    checkRange('WaitTimeSeconds', waitSeconds, 0, 20);
    const attributeNames = [
      ...(optionalStringList(input, 'AttributeNames') ?? []),
      ...(optionalStringList(input, 'MessageSystemAttributeNames') ?? []),
    ];
    const messageAttributeNames = optionalStringList(input, 'MessageAttributeNames') ?? [];

    let messages = this.receive(queue, max, visibility);
    const deadline = Date.now() + waitSeconds * 1000;
    while (messages.length === 0 && Date.now() < deadline && !this.closed) {
      await this.waitForMessages(queue, deadline - Date.now());
      messages = this.receive(queue, max, visibility);
    }
    if (messages.length === 0) return {};
    return {
      Messages: messages.map((message) =>
        this.toWireMessage(queue, message, attributeNames, messageAttributeNames),
      ),
    };
  }

  /** Long polling: resolves when the queue may have something new, or after `ms`. */
  private waitForMessages(queue: Queue, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        queue.longPolls.delete(finish);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      queue.longPolls.add(finish);
    });
  }

  private toWireMessage(
    queue: Queue,
    message: StoredMessage,
    attributeNames: readonly string[],
    messageAttributeNames: readonly string[],
  ): Record<string, unknown> {
    const record = this.toRecord(queue, message);
    const everyAttribute: Record<string, string> = { ...record.attributes } as Record<string, string>;
    const attributes: Record<string, string> = {};
    for (const [name, value] of Object.entries(everyAttribute)) {
      if (attributeNames.includes('All') || attributeNames.includes(name)) attributes[name] = value;
    }
    const selected: Record<string, MessageAttributeValue> = {};
    const messageAttributes: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(message.messageAttributes)) {
      const wanted = messageAttributeNames.some(
        (pattern) =>
          pattern === 'All' ||
          pattern === '.*' ||
          pattern === name ||
          (pattern.endsWith('.*') && name.startsWith(pattern.slice(0, -1))),
      );
      if (!wanted) continue;
      selected[name] = value;
      messageAttributes[name] = {
        DataType: value.DataType,
        ...(value.StringValue === undefined ? {} : { StringValue: value.StringValue }),
        ...(value.BinaryValue === undefined
          ? {}
          : { BinaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
      };
    }
    const hasMessageAttributes = Object.keys(messageAttributes).length > 0;
    return {
      MessageId: message.messageId,
      ReceiptHandle: message.receiptHandle,
      MD5OfBody: message.md5OfBody,
      Body: message.body,
      ...(Object.keys(attributes).length > 0 ? { Attributes: attributes } : {}),
      // The digest covers the attributes returned, not all the message has.
      ...(hasMessageAttributes ? { MD5OfMessageAttributes: md5OfAttributes(selected) } : {}),
      ...(hasMessageAttributes ? { MessageAttributes: messageAttributes } : {}),
    };
  }

  private messageByReceipt(queue: Queue, handle: string): StoredMessage {
    const message = queue.byId.get(messageIdOfReceipt(handle));
    if (!message) {
      throw new LocalQueueError(
        'ReceiptHandleIsInvalid',
        `The input receipt handle "${handle}" is not a valid receipt handle.`,
      );
    }
    return message;
  }

  private deleteByReceipt(input: Record<string, unknown>): Record<string, never> {
    const queue = this.queueFromUrl(input);
    const handle = requiredString(input, 'ReceiptHandle');
    const message = this.messageByReceipt(queue, handle);
    // SQS accepts the handle of an earlier receive, but only the latest one deletes the message.
    if (message.receiptHandle === handle) this.deleteMessage(queue, message);
    return {};
  }

  private changeMessageVisibility(input: Record<string, unknown>): Record<string, never> {
    const queue = this.queueFromUrl(input);
    const handle = requiredString(input, 'ReceiptHandle');
    const message = this.messageByReceipt(queue, handle);
    const timeout = optionalInteger(input, 'VisibilityTimeout');
    if (timeout === undefined) {
      throw new LocalQueueError(
        'MissingParameter',
        'The request must contain the parameter VisibilityTimeout.',
      );
    }
    checkRange('VisibilityTimeout', timeout, 0, MAX_VISIBILITY_TIMEOUT_SECONDS);
    this.expireVisibility(queue);
    if (message.state !== 'in-flight' || message.receiptHandle !== handle) {
      throw new LocalQueueError('MessageNotInflight', 'The message referred to is not in flight.');
    }
    message.visibleAt = this.now() + timeout * 1000;
    if (timeout === 0) message.state = 'pending';
    this.changed(queue);
    return {};
  }
}

class UnknownOperationError extends Error {}

const KNOWN_QUEUE_ATTRIBUTES = new Set([
  'Policy',
  'KmsMasterKeyId',
  'KmsDataKeyReusePeriodSeconds',
  'RedriveAllowPolicy',
  'RedrivePolicy',
  'FifoQueue',
  'ContentBasedDeduplication',
  'DeduplicationScope',
  'FifoThroughputLimit',
]);

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

// ---- validation, shared by the wire and in-process paths ----

function validateQueueName(name: string, fifo: boolean): void {
  const base = fifo ? name.replace(/\.fifo$/, '') : name;
  if ((fifo && !name.endsWith('.fifo')) || !QUEUE_NAME.test(base) || name.length > 80) {
    throw new LocalQueueError(
      'InvalidParameterValue',
      fifo
        ? 'The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.'
        : 'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length',
    );
  }
}

function checkRange(parameter: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new LocalQueueError(
      'InvalidParameterValue',
      `Value ${String(value)} for parameter ${parameter} is invalid. Reason: Must be >= ${String(min)} and <= ${String(max)}.`,
    );
  }
}

/** Checks a message the way SQS does, in its order; answers the attribute digests SQS returns. */
function validateMessage(
  config: QueueConfig,
  input: SendMessageInput,
): { md5OfMessageAttributes: string | undefined; md5OfMessageSystemAttributes: string | undefined } {
  if (input.body === '') {
    throw new LocalQueueError('MissingParameter', 'The request must contain the parameter MessageBody.');
  }
  const invalid = firstInvalidCharacter(input.body);
  if (invalid !== undefined) {
    throw new LocalQueueError(
      'InvalidMessageContents',
      `Invalid binary character '#x${invalid.toString(16).toUpperCase()}' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF`,
    );
  }
  if (input.delaySeconds !== undefined) {
    // FIFO queues only have a queue-level delay; an explicit 0 is accepted.
    if (config.fifo && input.delaySeconds !== 0) {
      throw new LocalQueueError(
        'InvalidParameterValue',
        `Value ${String(input.delaySeconds)} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.`,
      );
    }
    if (
      !Number.isInteger(input.delaySeconds) ||
      input.delaySeconds < 0 ||
      input.delaySeconds > MAX_DELAY_SECONDS
    ) {
      throw new LocalQueueError(
        'InvalidParameterValue',
        `Value ${String(input.delaySeconds)} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.`,
      );
    }
  }
  const attributes = input.messageAttributes ?? {};
  validateAttributes(attributes);
  const system = input.messageSystemAttributes ?? {};
  for (const name of Object.keys(system)) {
    if (name !== 'AWSTraceHeader') {
      throw new LocalQueueError(
        'InvalidParameterValue',
        `Message system attribute name '${name}' is invalid.`,
      );
    }
  }
  validateAttributes(system);
  if (messageSize(input) > config.maximumMessageSize) {
    throw new LocalQueueError(
      'InvalidParameterValue',
      `One or more parameters are invalid. Reason: Message must be shorter than ${String(config.maximumMessageSize)} bytes.`,
    );
  }
  if (config.fifo) {
    if (!input.messageGroupId) {
      throw new LocalQueueError('MissingParameter', 'The request must contain the parameter MessageGroupId.');
    }
    if (!input.messageDeduplicationId && !config.contentBasedDeduplication) {
      throw new LocalQueueError(
        'InvalidParameterValue',
        'The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly',
      );
    }
  } else if (input.messageDeduplicationId !== undefined) {
    throw new LocalQueueError(
      'InvalidParameterValue',
      `Value ${input.messageDeduplicationId} for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type.`,
    );
  }
  return {
    md5OfMessageAttributes: Object.keys(attributes).length > 0 ? md5OfAttributes(attributes) : undefined,
    md5OfMessageSystemAttributes: Object.keys(system).length > 0 ? md5OfAttributes(system) : undefined,
  };
}

function validateAttributes(attributes: Readonly<Record<string, MessageAttributeValue>>): void {
  const names = Object.keys(attributes);
  if (names.length > MAX_MESSAGE_ATTRIBUTES) {
    throw new LocalQueueError(
      'InvalidParameterValue',
      `Number of message attributes [${String(names.length)}] exceeds the allowed maximum [${String(MAX_MESSAGE_ATTRIBUTES)}].`,
    );
  }
  for (const name of names) {
    const value = attributes[name] as MessageAttributeValue;
    if (
      !ATTRIBUTE_NAME.test(name) ||
      /^(aws\.|amazon\.)/i.test(name) ||
      name.includes('..') ||
      name.startsWith('.') ||
      name.endsWith('.')
    ) {
      throw new LocalQueueError(
        'InvalidParameterValue',
        `Message (user) attribute name '${name}' is invalid.`,
      );
    }
    const type = ATTRIBUTE_TYPE.exec(value.DataType);
    if (!type) {
      throw new LocalQueueError(
        'InvalidParameterValue',
        `The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`,
      );
    }
    const kind = type[1] as 'String' | 'Number' | 'Binary';
    if (kind === 'Binary') {
      if (value.BinaryValue === undefined || value.BinaryValue.length === 0) {
        throw new LocalQueueError(
          'InvalidParameterValue',
          `Message (user) attribute '${name}' must contain a non-empty value of type 'Binary'.`,
        );
      }
    } else {
      if (value.StringValue === undefined || value.StringValue === '') {
        throw new LocalQueueError(
          'InvalidParameterValue',
          `Message (user) attribute '${name}' must contain a non-empty value of type '${kind}'.`,
        );
      }
      if (kind === 'Number' && !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value.StringValue)) {
        throw new LocalQueueError(
          'InvalidParameterValue',
          `Can't cast the value of message (user) attribute '${name}' to a number.`,
        );
      }
      const invalid = firstInvalidCharacter(value.StringValue);
      if (invalid !== undefined) {
        throw new LocalQueueError(
          'InvalidParameterValue',
          `Message (user) attribute '${name}' value contains invalid binary character '#x${invalid.toString(16).toUpperCase()}'.`,
        );
      }
    }
  }
}

/** The code point of the first character SQS refuses, if any; a lone surrogate counts as invalid. */
function firstInvalidCharacter(text: string): number | undefined {
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    const allowed =
      code === 0x9 ||
      code === 0xa ||
      code === 0xd ||
      (code >= 0x20 && code <= 0xd7ff) ||
      (code >= 0xe000 && code <= 0xfffd) ||
      (code >= 0x10000 && code <= 0x10ffff);
    if (!allowed) return code;
  }
  return undefined;
}

/** What counts against MaximumMessageSize: the body plus each attribute's name, type and value. */
function messageSize(input: SendMessageInput): number {
  let size = Buffer.byteLength(input.body, 'utf8');
  for (const [name, value] of Object.entries(input.messageAttributes ?? {})) {
    size += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value.DataType, 'utf8');
    size += value.BinaryValue?.length ?? Buffer.byteLength(value.StringValue ?? '', 'utf8');
  }
  return size;
}

/** Opaque to clients, like SQS's; it carries the message id so no table of handles has to be kept. */
function receiptHandle(messageId: string): string {
  return Buffer.from(`${messageId}:${randomBytes(32).toString('hex')}`).toString('base64');
}

function messageIdOfReceipt(handle: string): string {
  return Buffer.from(handle, 'base64').toString('utf8').split(':')[0] ?? '';
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * MD5OfMessageAttributes as SQS documents it: attributes sorted by name; for each, the name, the data type
 * and the value, each prefixed with its 4-byte big-endian length, and a transport byte (1 string, 2 binary)
 * before the value.
 */
export function md5OfAttributes(attributes: Readonly<Record<string, MessageAttributeValue>>): string {
  const hash = createHash('md5');
  const lengthPrefixed = (bytes: Uint8Array) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length);
    hash.update(bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const value = attributes[name] as MessageAttributeValue;
    lengthPrefixed(Buffer.from(name, 'utf8'));
    lengthPrefixed(Buffer.from(value.DataType, 'utf8'));
    if (value.BinaryValue !== undefined && value.DataType.startsWith('Binary')) {
      hash.update(Buffer.from([2]));
      lengthPrefixed(value.BinaryValue);
    } else {
      hash.update(Buffer.from([1]));
      lengthPrefixed(Buffer.from(value.StringValue ?? '', 'utf8'));
    }
  }
  return hash.digest('hex');
}

// ---- reading the JSON 1.0 request ----

function parseBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new LocalQueueError('SerializationException', 'The request body is not valid JSON.');
  }
  if (!isRecord(value))
    throw new LocalQueueError('SerializationException', 'The request body must be a JSON object.');
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(input: Record<string, unknown>, key: string): string | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    throw new LocalQueueError('SerializationException', `${key} must be a string.`);
  return value;
}

function requiredString(input: Record<string, unknown>, key: string): string {
  const value = optionalString(input, key);
  if (value === undefined) {
    throw new LocalQueueError('MissingParameter', `The request must contain the parameter ${key}.`);
  }
  return value;
}

function optionalInteger(input: Record<string, unknown>, key: string): number | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number')
    throw new LocalQueueError('SerializationException', `${key} must be a number.`);
  return value;
}

function optionalStringList(input: Record<string, unknown>, key: string): string[] | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new LocalQueueError('SerializationException', `${key} must be a list of strings.`);
  }
  return value as string[];
}

function optionalRecordList(
  input: Record<string, unknown>,
  key: string,
): Record<string, unknown>[] | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every(isRecord)) {
    throw new LocalQueueError('SerializationException', `${key} must be a list of structures.`);
  }
  return value;
}

function readAttributeMap(
  input: Record<string, unknown>,
  key: string,
): Record<string, MessageAttributeValue> | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw new LocalQueueError('SerializationException', `${key} must be a map.`);
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, raw] of Object.entries(value)) {
    if (!isRecord(raw))
      throw new LocalQueueError('SerializationException', `${key}.${name} must be a structure.`);
    const dataType = optionalString(raw, 'DataType');
    const stringValue = optionalString(raw, 'StringValue');
    const binaryValue = optionalString(raw, 'BinaryValue');
    attributes[name] = {
      DataType: dataType ?? '',
      ...(stringValue === undefined ? {} : { StringValue: stringValue }),
      ...(binaryValue === undefined ? {} : { BinaryValue: Buffer.from(binaryValue, 'base64') }),
    };
  }
  return attributes;
}

/** A SendMessage request (or batch entry) as SendMessageInput; the body is checked later, with the rest. */
function readSendInput(input: Record<string, unknown>): SendMessageInput {
  const messageAttributes = readAttributeMap(input, 'MessageAttributes');
  const messageSystemAttributes = readAttributeMap(input, 'MessageSystemAttributes');
  const delaySeconds = optionalInteger(input, 'DelaySeconds');
  const messageGroupId = optionalString(input, 'MessageGroupId');
  const messageDeduplicationId = optionalString(input, 'MessageDeduplicationId');
  return {
    body: optionalString(input, 'MessageBody') ?? '',
    ...(delaySeconds === undefined ? {} : { delaySeconds }),
    ...(messageAttributes === undefined ? {} : { messageAttributes }),
    ...(messageSystemAttributes === undefined ? {} : { messageSystemAttributes }),
    ...(messageGroupId === undefined ? {} : { messageGroupId }),
    ...(messageDeduplicationId === undefined ? {} : { messageDeduplicationId }),
  };
}
