import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { RetryableError } from '../core/errors';

/** SQS delays a message by at most 15 minutes: a timer is armed only for leases that end within that. */
export const MAX_TIMER_DELAY_SECONDS = 900;

/** The body of a timer message: which lease, and which expiry it was armed for (a later one makes it stale). */
export interface TimerMessage {
  readonly requestId: string;
  readonly expiresAt: number;
}

/** Arms a timer that fires `delaySeconds` from now (at most MAX_TIMER_DELAY_SECONDS). */
export interface Timers {
  arm(timer: TimerMessage, delaySeconds: number): Promise<void>;
}

/**
 * Precise expiry timers as SQS delayed messages on the timer queue. No per-lease resource is created, so
 * none can leak or be duplicated (a repeated timer is harmless: the lease is ended once), and the sweeper
 * stays the backstop for timers that are lost or were never armed.
 */
export class ExpiryTimers implements Timers {
  constructor(private readonly options: { client: SQSClient; queueUrl: string }) {}

  async arm(timer: TimerMessage, delaySeconds: number): Promise<void> {
    const delay = Math.min(MAX_TIMER_DELAY_SECONDS, Math.max(0, Math.ceil(delaySeconds)));
    try {
      await this.options.client.send(
        new SendMessageCommand({
          QueueUrl: this.options.queueUrl,
          MessageBody: JSON.stringify(timer),
          DelaySeconds: delay,
        }),
      );
    } catch (error) {
      throw new RetryableError(
        `Could not arm the expiry timer of ${timer.requestId}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
}

/** Reads a timer message body; anything else on the queue is not ours to act on. */
export function parseTimerMessage(body: string): TimerMessage | undefined {
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value !== 'object' || value === null) return undefined;
    const { requestId, expiresAt } = value as Record<string, unknown>;
    if (typeof requestId !== 'string' || typeof expiresAt !== 'number') return undefined;
    return { requestId, expiresAt };
  } catch {
    return undefined;
  }
}
