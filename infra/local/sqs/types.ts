import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

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
  /** Queues created at start, in order; none by default. */
  readonly queues?: readonly QueueSeed[];
}

/** A queue to create at start: its name and createQueue's options. */
export interface QueueSeed extends CreateQueueOptions {
  readonly name: string;
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

/** A message as ReceiveMessage hands it out: its Lambda record, and its attributes as they were sent. */
export interface ReceivedMessage {
  readonly record: SQSRecord;
  readonly messageAttributes: Readonly<Record<string, MessageAttributeValue>>;
}

/** ReceiveMessage's parameters, once read and checked. */
export interface ReceiveOptions {
  readonly maxNumberOfMessages: number;
  readonly visibilityTimeoutSeconds: number;
  /** Long polling: how long to wait for a message when none is visible. */
  readonly waitTimeSeconds: number;
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

/** A queue's settings, defaults applied. */
export interface QueueConfig {
  readonly visibilityTimeoutSeconds: number;
  readonly delaySeconds: number;
  readonly maximumMessageSize: number;
  readonly maxReceiveCount: number | undefined;
  readonly deadLetterQueueName: string | undefined;
  readonly fifo: boolean;
  readonly contentBasedDeduplication: boolean;
}

/** One message as its queue keeps it; the queue changes its state as it is received, deleted or moved. */
export interface StoredMessage {
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
  /** What SQS reports as SenderId: the sender's user id (`AROA…:<session>` for a role session, `AIDA…`). */
  readonly senderId: string;
  /** The queue a dead-lettered message came from. */
  readonly deadLetterSourceQueue: { readonly name: string; readonly arn: string } | undefined;
  state: LocalMessageState;
  visibleAt: number;
  receiveCount: number;
  firstReceiveTimestamp: number | undefined;
  receiptHandle: string | undefined;
}
