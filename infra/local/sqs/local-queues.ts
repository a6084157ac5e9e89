import type { PolicyDocument } from '../auth/resource-policy';
import type { AuthenticatedCaller } from '../identities';
import { LocalQueueError, queueDoesNotExist } from './errors';
import { LocalQueue, type QueueHost, queueArn } from './local-queue';
import type {
  CreateQueueOptions,
  IdleOptions,
  LocalQueueMessage,
  LocalQueuesOptions,
  QueueConfig,
  QueueStats,
  SendMessageInput,
  SendMessageResult,
  SqsConsumer,
  SubscribeOptions,
} from './types';
import {
  checkRange,
  DEFAULT_MAXIMUM_MESSAGE_SIZE,
  MAX_DELAY_SECONDS,
  MAX_VISIBILITY_TIMEOUT_SECONDS,
  validateQueueName,
} from './validation';

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
  readonly accountId: string;
  private readonly region: string;
  private readonly now: () => number;
  private readonly queues = new Map<string, LocalQueue>();
  private readonly host: QueueHost;
  private idleWaiters: IdleWaiter[] = [];
  private closed = false;

  constructor(options: LocalQueuesOptions) {
    this.accountId = options.accountId;
    this.region = options.region;
    this.now = options.now ?? Date.now;
    this.host = {
      accountId: this.accountId,
      region: this.region,
      now: this.now,
      isClosed: () => this.closed,
      queue: (name) => this.queue(name),
      settleIdleWaiters: () => this.settleIdleWaiters(),
    };
    for (const { name, ...queue } of options.queues ?? []) this.createQueue(name, queue);
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
    this.queues.set(name, new LocalQueue(name, config, this.host));
  }

  /** A queue by name. Throws LocalQueueError (QueueDoesNotExist). */
  queue(name: string): LocalQueue {
    const queue = this.queues.get(name);
    if (!queue) throw queueDoesNotExist();
    return queue;
  }

  queueNames(): readonly string[] {
    return [...this.queues.keys()];
  }

  queueArn(queueName: string): string {
    return queueArn(this.region, this.accountId, queueName);
  }

  /**
   * Attaches a resource policy to a queue (SetQueueAttributes Policy): from then on SendMessage and
   * SendMessageBatch over HTTP are decided by it. A queue without one lets every caller of the account send.
   */
  setPolicy(queueName: string, document: PolicyDocument): void {
    this.queue(queueName).setPolicy(document);
  }

  /**
   * SendMessage in process, with SQS's validation, but no policy evaluated: this is the tests' and the handlers'
   * plumbing, not an AWS call (SendMessage over HTTP is authorized first). Throws LocalQueueError. See
   * LocalQueue.send for `sender`.
   */
  send(
    queueName: string,
    input: SendMessageInput,
    sender?: Pick<AuthenticatedCaller, 'userId'>,
  ): SendMessageResult {
    return this.queue(queueName).send(input, sender);
  }

  /** Every message accepted on the queue, oldest first, with its current state. */
  messages(queueName: string): readonly LocalQueueMessage[] {
    return this.queue(queueName).messages();
  }

  stats(queueName: string): QueueStats {
    return this.queue(queueName).stats();
  }

  /**
   * Polls the queue like a Lambda event source mapping with ReportBatchItemFailures. Returns the function
   * that stops it; a consumer call already running finishes, its results still applied.
   */
  subscribe(queueName: string, consumer: SqsConsumer, options: SubscribeOptions = {}): () => void {
    if (this.closed) throw new Error('LocalQueues is closed');
    return this.queue(queueName).subscribe(consumer, options);
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
    for (const queue of this.queues.values()) queue.close();
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter.reject(new Error('LocalQueues was closed while waiting for idle'));
  }

  private isIdle(queueName: string | undefined, includeDelayed: boolean): boolean {
    const now = this.now();
    for (const queue of this.queues.values()) {
      if (queueName !== undefined && queue.name !== queueName) continue;
      if (queue.callsRunning > 0) return false;
      if (queueName === undefined && !queue.subscribed) continue;
      if (queue.hasWork(now, includeDelayed)) return false;
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
}
