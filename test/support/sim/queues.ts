import type { FaultKind } from './invocation';
import type { Rng } from './random';
import type { Scheduler } from './scheduler';

/** A message as SQS keeps it. */
export interface QueueMessage {
  /** Stable across a shrunk replay: what it was sent for. */
  readonly id: string;
  readonly body: string;
  /** The sender SQS records (a redrive keeps it). */
  readonly senderId: string | undefined;
  receiveCount: number;
  visibleAt: number;
  deleted: boolean;
}

/** What the consumer made of a batch: the ids to delete (answered), or nothing when the invocation died. */
export type BatchResult = { readonly delete: readonly string[] } | 'crashed';

export interface QueueOptions {
  readonly name: string;
  readonly visibilityMs: number;
  /** Receives before SQS moves a message to `deadLetterQueue`; none: it stays until answered. */
  readonly maxReceives?: number;
  readonly deadLetterQueue?: SimQueue;
  readonly batchSize: number;
}

interface QueueHost {
  readonly scheduler: Scheduler;
  /** A stream for the queue's own decisions (poll lag, batch sizes, duplicate receives). */
  readonly rng: Rng;
  duplicateReceiveRate(): number;
  fault(kind: FaultKind, where: string): void;
  trace(line: string): void;
  /** Moved to the dead-letter queue after its last receive. */
  redriven(message: QueueMessage, queue: string): void;
}

/**
 * An SQS standard queue with a Lambda event source mapping: delayed messages, batches of up to `batchSize`
 * received together (several batches at once when enough are visible: concurrent invocations), a visibility
 * timeout after which an unanswered message comes back, partial batch failures (only the answered records
 * are deleted; a dead invocation answers none), a redrive to the dead-letter queue after `maxReceives`, and
 * now and then a message received twice at once (standard queues deliver at least once).
 */
export class SimQueue {
  private readonly messages = new Map<string, QueueMessage>();
  private pollAt: number | undefined;
  private seq = 0;
  consumer: ((batch: readonly QueueMessage[]) => Promise<BatchResult>) | undefined;

  constructor(
    private readonly host: QueueHost,
    readonly options: QueueOptions,
  ) {}

  get size(): number {
    return this.messages.size;
  }

  send(id: string, body: string, senderId: string | undefined, delayMs = 0): void {
    // The same id twice (a requester sending the same request again): SQS gives each its own message.
    const key = this.messages.has(id) ? `${id}.${++this.seq}` : id;
    const message: QueueMessage = {
      id: key,
      body,
      senderId,
      receiveCount: 0,
      visibleAt: this.host.scheduler.peek() + delayMs,
      deleted: false,
    };
    this.messages.set(key, message);
    this.wake(message.visibleAt);
  }

  /** Every message not yet answered (the drain waits for none). */
  pendingMessages(): QueueMessage[] {
    return [...this.messages.values()];
  }

  private wake(visibleAt: number): void {
    const at = Math.max(visibleAt, this.host.scheduler.peek()) + this.host.rng.int(5, 400);
    if (this.pollAt !== undefined && this.pollAt <= at) return;
    this.pollAt = at;
    this.host.scheduler.at(at, () => this.poll(at));
  }

  private poll(at: number): void {
    if (this.pollAt !== at) return;
    this.pollAt = undefined;
    const now = this.host.scheduler.peek();
    const visible: QueueMessage[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const message of this.messages.values()) {
      if (message.visibleAt <= now) visible.push(message);
      else next = Math.min(next, message.visibleAt);
    }
    visible.sort((a, b) => a.visibleAt - b.visibleAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    while (visible.length > 0) {
      const size = this.host.rng.int(1, this.options.batchSize);
      const batch: QueueMessage[] = [];
      for (const message of visible.splice(0, size)) {
        if (this.options.maxReceives !== undefined && message.receiveCount >= this.options.maxReceives) {
          this.messages.delete(message.id);
          this.host.redriven(message, this.options.name);
          this.options.deadLetterQueue?.send(message.id, message.body, message.senderId);
          continue;
        }
        message.receiveCount++;
        if (this.host.rng.chance(this.host.duplicateReceiveRate())) {
          // Received, yet still visible: another poller may receive it too.
          this.host.fault('sqs duplicate receive', `${this.options.name} ${message.id}`);
          next = Math.min(next, now + this.host.rng.int(1, 2000));
        } else {
          message.visibleAt = now + this.options.visibilityMs;
          next = Math.min(next, message.visibleAt);
        }
        batch.push(message);
      }
      if (batch.length > 0) void this.work(batch);
    }
    if (next !== Number.POSITIVE_INFINITY) this.wake(next);
  }

  private async work(batch: readonly QueueMessage[]): Promise<void> {
    const consumer = this.consumer;
    if (!consumer) throw new Error(`Queue ${this.options.name} has no consumer`);
    const result = await consumer(batch);
    if (result === 'crashed') return;
    for (const id of result.delete) {
      const message = this.messages.get(id);
      if (message) {
        message.deleted = true;
        this.messages.delete(id);
      }
    }
  }
}
