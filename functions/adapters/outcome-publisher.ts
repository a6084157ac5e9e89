import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import type { OutcomeSink } from '../app/ports';
import { RetryableError } from '../core/errors';
import { OUTCOME_SOURCE } from '../core/names';
import type { Outcome } from '../core/outcomes';
import { translateAwsError } from './aws-errors';

export interface OutcomePublisherOptions {
  readonly client: EventBridgeClient;
  readonly eventBusName: string;
}

/** Publishes outcome events on EventBridge. An entry EventBridge refuses is retried by redelivery, never lost. */
export class OutcomePublisher implements OutcomeSink {
  constructor(private readonly options: OutcomePublisherOptions) {}

  async publish(outcomes: readonly Outcome[]): Promise<void> {
    for (let i = 0; i < outcomes.length; i += 10) {
      const entries: PutEventsRequestEntry[] = outcomes.slice(i, i + 10).map((outcome) => ({
        EventBusName: this.options.eventBusName,
        Source: OUTCOME_SOURCE,
        DetailType: outcome.detailType,
        Detail: JSON.stringify(outcome.detail),
      }));
      let failed: string[];
      try {
        const result = await this.options.client.send(new PutEventsCommand({ Entries: entries }));
        failed = (result.Entries ?? [])
          .filter((entry) => entry.ErrorCode)
          .map((entry) => `${entry.ErrorCode}: ${entry.ErrorMessage}`);
      } catch (error) {
        throw translateAwsError(error, 'Could not publish outcome events');
      }
      if (failed.length > 0) {
        throw new RetryableError(
          `EventBridge refused ${failed.length} outcome event(s): ${failed.join('; ')}`,
        );
      }
    }
  }
}
