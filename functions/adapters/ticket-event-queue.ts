import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { TicketEventQueue } from '../app/ports';
import {
  TICKET_EVENT_DETAIL_TYPE,
  TICKET_EVENT_SOURCE,
  type TicketEvent,
} from '../core/tickets/ticket-event';
import { translateAwsError } from './aws-errors';

/**
 * Ticket events on the requests queue, in the envelope every request on it has, so the intake takes them on
 * its one path (retries, DLQ, outcomes). SQS names the webhook function's role as the sender: the intake
 * accepts the detail-type from that sender only.
 */
export class SqsTicketEventQueue implements TicketEventQueue {
  constructor(private readonly options: { readonly client: SQSClient; readonly queueUrl: string }) {}

  async send(event: TicketEvent): Promise<void> {
    const envelope = { source: TICKET_EVENT_SOURCE, 'detail-type': TICKET_EVENT_DETAIL_TYPE, detail: event };
    try {
      await this.options.client.send(
        new SendMessageCommand({ QueueUrl: this.options.queueUrl, MessageBody: JSON.stringify(envelope) }),
      );
    } catch (error) {
      throw translateAwsError(error, `Could not queue the ${event.vendor} webhook ${event.deliveryId}`);
    }
  }
}
