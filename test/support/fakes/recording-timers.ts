import { MAX_TIMER_DELAY_SECONDS } from '../../../functions/adapters/expiry-timers';
import type { Timers } from '../../../functions/app/ports';
import type { TimerMessage } from '../../../functions/core/timer-message';

/** Armed expiry timers, in order, with the SQS adapter's window. */
export class RecordingTimers implements Timers {
  readonly maxDelaySeconds = MAX_TIMER_DELAY_SECONDS;
  readonly armed: { readonly timer: TimerMessage; readonly delaySeconds: number }[] = [];

  async arm(timer: TimerMessage, delaySeconds: number): Promise<void> {
    this.armed.push({ timer: { ...timer }, delaySeconds });
  }
}
