import type { OutcomeSink } from '../../../functions/app/ports';
import { RetryableError } from '../../../functions/core/errors';
import type { Outcome } from '../../../functions/core/outcomes';

/** The outcome events, in the order they were published; `failNext` makes the next publish fail like a refused PutEvents. */
export class RecordingOutcomes implements OutcomeSink {
  readonly published: Outcome[] = [];
  private failures = 0;

  failNext(times = 1): void {
    this.failures += times;
  }

  async publish(outcomes: readonly Outcome[]): Promise<void> {
    if (this.failures > 0) {
      this.failures -= 1;
      // The real publisher throws refused entries as retryable, never drops them (functions/app/ports.ts).
      throw new RetryableError('PutEvents refused the outcome events (recorded failure)');
    }
    this.published.push(...structuredClone([...outcomes]));
  }

  /** [detail-type, requestId] of every event published: the shape most assertions compare. */
  types(): [string, unknown][] {
    return this.published.map((outcome) => [outcome.detailType, outcome.detail.requestId]);
  }

  about(requestId: string): Outcome[] {
    return this.published.filter((outcome) => outcome.detail.requestId === requestId);
  }
}
