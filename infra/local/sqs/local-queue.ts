import { randomBytes, randomUUID } from 'node:crypto';
import type { SQSRecord } from 'aws-lambda';
import type { PolicyDocument } from '../auth/resource-policy';
import type { AuthenticatedCaller } from '../identities';
import { LocalQueueError } from './errors';
import { EventSourceMapping, type PolledQueue, toRecord } from './event-source-mapping';
import type {
  LocalQueueMessage,
  QueueConfig,
  QueueStats,
  ReceivedMessage,
  ReceiveOptions,
  SendMessageInput,
  SendMessageResult,
  SqsConsumer,
  StoredMessage,
  SubscribeOptions,
} from './types';
import { md5, sha256, validateMessage } from './validation';

const FIFO_DEDUPLICATION_WINDOW_MS = 5 * 60 * 1000;

/** What a queue needs of the service it belongs to. */
export interface QueueHost {
  readonly accountId: string;
  readonly region: string;
  readonly now: () => number;
  /** Once the service is closed, no timer is armed and no poller woken. */
  isClosed(): boolean;
  /** Another queue of the service, by name: a dead-letter queue. Throws QueueDoesNotExist. */
  queue(name: string): LocalQueue;
  /** Called after any change to the queue and when a consumer call finishes: idle() may now resolve. */
  settleIdleWaiters(): void;
}

export function queueArn(region: string, accountId: string, queueName: string): string {
  return `arn:aws:sqs:${region}:${accountId}:${queueName}`;
}

/**
 * One queue in memory: its messages and their states, delays and visibility timeouts, FIFO order and
 * deduplication, moves to its dead-letter queue, long polls, and the event source mappings that poll it.
 */
export class LocalQueue implements PolledQueue {
  readonly arn: string;
  readonly createdTimestamp: number;
  /** Every message ever accepted, for listing. */
  private readonly all: StoredMessage[] = [];
  /** Pending and in-flight messages only, in send order. */
  private live: StoredMessage[] = [];
  /** Every message accepted, by id: receipt handles carry the id. */
  private readonly byId = new Map<string, StoredMessage>();
  private readonly deduplication = new Map<string, { result: SendMessageResult; expiresAt: number }>();
  private readonly mappings = new Set<EventSourceMapping>();
  private readonly longPolls = new Set<() => void>();
  /** Consumer calls running on this queue, including those of a mapping stopped meanwhile. */
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = Number.POSITIVE_INFINITY;
  private wakeScheduled = false;
  private sequence = 0n;
  private resourcePolicy: PolicyDocument | undefined;

  constructor(
    readonly name: string,
    readonly config: QueueConfig,
    private readonly host: QueueHost,
  ) {
    this.arn = queueArn(host.region, host.accountId, name);
    this.createdTimestamp = host.now();
  }

  /** The queue's resource policy (the Policy attribute), if one is attached. */
  get policy(): PolicyDocument | undefined {
    return this.resourcePolicy;
  }

  setPolicy(document: PolicyDocument): void {
    this.resourcePolicy = document;
  }

  /**
   * SendMessage, with SQS's validation. Throws LocalQueueError. `sender` is who signed the call; in-process
   * sends without one are recorded as sent by the account itself (SenderId = account id, as for its root).
   */
  send(input: SendMessageInput, sender?: Pick<AuthenticatedCaller, 'userId'>): SendMessageResult {
    const checked = validateMessage(this.config, input);
    const now = this.host.now();
    let deduplicationId: string | undefined;
    if (this.config.fifo) {
      deduplicationId = input.messageDeduplicationId ?? sha256(input.body);
      for (const [id, entry] of this.deduplication) {
        if (entry.expiresAt <= now) this.deduplication.delete(id);
      }
      const duplicate = this.deduplication.get(deduplicationId);
      // Within the window SQS acknowledges a duplicate with the first message's id and enqueues nothing.
      if (duplicate) return duplicate.result;
    }
    this.sequence += 1n;
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
      sequenceNumber: this.config.fifo ? (10n ** 19n + this.sequence).toString() : undefined,
      senderId: sender?.userId ?? this.host.accountId,
      deadLetterSourceQueue: undefined,
      state: 'pending',
      visibleAt: now + (input.delaySeconds ?? this.config.delaySeconds) * 1000,
      receiveCount: 0,
      firstReceiveTimestamp: undefined,
      receiptHandle: undefined,
    };
    this.all.push(message);
    this.byId.set(message.messageId, message);
    this.live.push(message);
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
      this.deduplication.set(deduplicationId, { result, expiresAt: now + FIFO_DEDUPLICATION_WINDOW_MS });
    }
    this.changed();
    return result;
  }

  /** ReceiveMessage; with a wait, a long poll that answers as soon as a message may be there. */
  async receive(options: ReceiveOptions): Promise<ReceivedMessage[]> {
    const { maxNumberOfMessages: max, visibilityTimeoutSeconds: visibility } = options;
    let messages = this.take(max, visibility);
    const deadline = Date.now() + options.waitTimeSeconds * 1000;
    while (messages.length === 0 && Date.now() < deadline && !this.host.isClosed()) {
      await this.waitForMessages(deadline - Date.now());
      messages = this.take(max, visibility);
    }
    return messages.map((message) => ({
      record: this.record(message),
      messageAttributes: message.messageAttributes,
    }));
  }

  /** DeleteMessage by receipt handle. */
  deleteMessage(receiptHandle: string): void {
    const message = this.messageByReceipt(receiptHandle);
    // SQS accepts the handle of an earlier receive, but only the latest one deletes the message.
    if (message.receiptHandle === receiptHandle) this.delete(message);
  }

  /**
   * ChangeMessageVisibility. The new timeout is read through `timeoutSeconds` only once the handle is known
   * to name a message, so an unknown handle is the error answered first.
   */
  changeMessageVisibility(receiptHandle: string, timeoutSeconds: () => number): void {
    const message = this.messageByReceipt(receiptHandle);
    const timeout = timeoutSeconds();
    this.expireVisibility();
    if (message.state !== 'in-flight' || message.receiptHandle !== receiptHandle) {
      throw new LocalQueueError('MessageNotInflight', 'The message referred to is not in flight.');
    }
    message.visibleAt = this.host.now() + timeout * 1000;
    if (timeout === 0) message.state = 'pending';
    this.changed();
  }

  /** Every message accepted on the queue, oldest first, with its current state. */
  messages(): readonly LocalQueueMessage[] {
    this.expireVisibility();
    return this.all.map((message) => ({
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

  stats(): QueueStats {
    this.expireVisibility();
    const now = this.host.now();
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const message of this.live) {
      if (message.state === 'in-flight') inFlight += 1;
      else if (message.visibleAt > now) delayed += 1;
      else visible += 1;
    }
    return { visible, inFlight, delayed };
  }

  /** Every attribute GetQueueAttributes can answer for the queue, as strings. */
  attributes(): Record<string, string> {
    const stats = this.stats();
    const { config } = this;
    const created = String(Math.floor(this.createdTimestamp / 1000));
    return {
      QueueArn: this.arn,
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
              deadLetterTargetArn: queueArn(
                this.host.region,
                this.host.accountId,
                config.deadLetterQueueName,
              ),
              maxReceiveCount: config.maxReceiveCount,
            }),
          }),
      ...(config.fifo
        ? { FifoQueue: 'true', ContentBasedDeduplication: String(config.contentBasedDeduplication) }
        : {}),
      ...(this.resourcePolicy === undefined ? {} : { Policy: JSON.stringify(this.resourcePolicy) }),
    };
  }

  /** Starts an event source mapping on the queue; returns the function that stops it. */
  subscribe(consumer: SqsConsumer, options: SubscribeOptions): () => void {
    const mapping = new EventSourceMapping(this, consumer, options);
    this.mappings.add(mapping);
    this.scheduleWake();
    return () => this.unsubscribe(mapping);
  }

  /**
   * Whether the queue holds work: a message in flight or visible at `now`, or any pending one with
   * `includeDelayed`. `subscribed` and `callsRunning` tell the rest of what idle means.
   */
  hasWork(now: number, includeDelayed: boolean): boolean {
    return this.live.some(
      (message) => message.state === 'in-flight' || includeDelayed || message.visibleAt <= now,
    );
  }

  get subscribed(): boolean {
    return this.mappings.size > 0;
  }

  get callsRunning(): number {
    return this.running;
  }

  /** Stops the queue's mappings, its timer and its long polls. */
  close(): void {
    for (const mapping of this.mappings) this.unsubscribe(mapping);
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const finish of this.longPolls) finish();
  }

  // ---- what the event source mapping polls through (PolledQueue) ----

  /**
   * Takes up to `max` visible messages and makes them in flight. A message that has already been received
   * maxReceiveCount times moves to the dead-letter queue instead, at this moment, as SQS does.
   */
  take(max: number, visibilityTimeoutSeconds = this.config.visibilityTimeoutSeconds): StoredMessage[] {
    this.expireVisibility();
    const now = this.host.now();
    const taken: StoredMessage[] = [];
    // FIFO: a group with a message in flight is locked; within a group only the oldest messages go out.
    const lockedGroups = new Set<string>();
    if (this.config.fifo) {
      for (const message of this.live) {
        if (message.state === 'in-flight' && message.messageGroupId !== undefined) {
          lockedGroups.add(message.messageGroupId);
        }
      }
    }
    let moved = false;
    for (const message of this.live) {
      if (taken.length >= max) break;
      if (message.state !== 'pending' || message.visibleAt > now) {
        // FIFO order: nothing of a group goes out past one of its messages that is not available.
        if (message.messageGroupId !== undefined && this.config.fifo) {
          lockedGroups.add(message.messageGroupId);
        }
        continue;
      }
      if (message.messageGroupId !== undefined && lockedGroups.has(message.messageGroupId)) continue;
      const { maxReceiveCount, deadLetterQueueName } = this.config;
      if (maxReceiveCount !== undefined && deadLetterQueueName !== undefined) {
        if (message.receiveCount >= maxReceiveCount) {
          this.moveToDeadLetterQueue(message, deadLetterQueueName);
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
    if (moved) this.live = this.live.filter((message) => message.state !== 'moved-to-dlq');
    if (taken.length > 0 || moved) this.changed();
    return taken;
  }

  record(message: StoredMessage): SQSRecord {
    return toRecord(message, {
      queueArn: this.arn,
      accountId: this.host.accountId,
      region: this.host.region,
      now: this.host.now,
    });
  }

  delete(message: StoredMessage): void {
    if (message.state !== 'pending' && message.state !== 'in-flight') return;
    message.state = 'deleted';
    this.live = this.live.filter((other) => other !== message);
    this.changed();
  }

  callStarted(): void {
    this.running += 1;
  }

  callFinished(): void {
    this.running -= 1;
    this.host.settleIdleWaiters();
  }

  wake(): void {
    if (this.host.isClosed()) return;
    for (const finish of this.longPolls) finish();
    for (const mapping of this.mappings) mapping.pump();
  }

  // ---- mechanics ----

  private moveToDeadLetterQueue(message: StoredMessage, deadLetterQueueName: string): void {
    message.state = 'moved-to-dlq';
    const target = this.host.queue(deadLetterQueueName);
    // The message keeps its id, body, attributes, send time and receive count; only its queue changes.
    const copy: StoredMessage = {
      ...message,
      deadLetterSourceQueue: this,
      state: 'pending',
      visibleAt: this.host.now(),
      receiptHandle: undefined,
    };
    target.all.push(copy);
    target.byId.set(copy.messageId, copy);
    target.live.push(copy);
    target.changed();
  }

  private unsubscribe(mapping: EventSourceMapping): void {
    mapping.stop();
    this.mappings.delete(mapping);
    this.host.settleIdleWaiters();
  }

  /** In-flight messages whose visibility timeout has passed are visible again. */
  private expireVisibility(): void {
    const now = this.host.now();
    for (const message of this.live) {
      if (message.state === 'in-flight' && message.visibleAt <= now) message.state = 'pending';
    }
  }

  /** After any change: re-arm the queue's timer, wake its pollers, settle idle waiters. */
  private changed(): void {
    this.armTimer();
    this.scheduleWake();
    this.host.settleIdleWaiters();
  }

  /** One timer per queue, at the next moment a message becomes visible (a delay or a visibility timeout). */
  private armTimer(): void {
    if (this.host.isClosed()) return;
    const now = this.host.now();
    let dueAt = Number.POSITIVE_INFINITY;
    for (const message of this.live) {
      if (message.visibleAt > now && message.visibleAt < dueAt) dueAt = message.visibleAt;
    }
    if (dueAt === this.timerDueAt && this.timer !== undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDueAt = dueAt;
    if (dueAt === Number.POSITIVE_INFINITY) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerDueAt = Number.POSITIVE_INFINITY;
        this.expireVisibility();
        this.changed();
      },
      Math.max(0, dueAt - now),
    );
  }

  /** Coalesced to the next turn so that a batch send reaches the consumer as one batch, as with Lambda. */
  private scheduleWake(): void {
    if (this.wakeScheduled || this.host.isClosed()) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      this.wake();
    });
  }

  /** Long polling: resolves when the queue may have something new, or after `ms`. */
  private waitForMessages(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.longPolls.delete(finish);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.longPolls.add(finish);
    });
  }

  private messageByReceipt(handle: string): StoredMessage {
    const message = this.byId.get(messageIdOfReceipt(handle));
    if (!message) {
      throw new LocalQueueError(
        'ReceiptHandleIsInvalid',
        `The input receipt handle "${handle}" is not a valid receipt handle.`,
      );
    }
    return message;
  }
}

/** Opaque to clients, like SQS's; it carries the message id so no table of handles has to be kept. */
function receiptHandle(messageId: string): string {
  return Buffer.from(`${messageId}:${randomBytes(32).toString('hex')}`).toString('base64');
}

function messageIdOfReceipt(handle: string): string {
  return Buffer.from(handle, 'base64').toString('utf8').split(':')[0] ?? '';
}
