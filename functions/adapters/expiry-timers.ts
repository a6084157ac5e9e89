import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Timers } from '../app/ports';
import type { TimerMessage } from '../core/timer-message';
import { translateAwsError } from './aws-errors';

/** SQS delays a message by at most 15 minutes: a timer is armed only for leases that end within that. */
export const MAX_TIMER_DELAY_SECONDS = 900;

/**
 * Precise expiry timers as SQS delayed messages on the timer queue. No per-lease resource is created, so
 * none can leak or be duplicated (a repeated timer is harmless: the lease is ended once), and the sweeper
 * stays the backstop for timers that are lost or were never armed.
 */
export class ExpiryTimers implements Timers {
  readonly maxDelaySeconds = MAX_TIMER_DELAY_SECONDS;

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
      throw translateAwsError(error, `Could not arm the expiry timer of ${timer.requestId}`);
    }
  }
}
