import type { TicketEventQueue } from '../../../functions/app/ports';
import type { TicketEvent } from '../../../functions/core/tickets/ticket-event';

/** Ticket events queued, in order; `failNext` makes one send fail (an outage of SQS) and queue nothing. */
export class RecordingTicketEventQueue implements TicketEventQueue {
  readonly sent: TicketEvent[] = [];
  private failure: Error | undefined;

  failNext(error: Error): void {
    this.failure = error;
  }

  async send(event: TicketEvent): Promise<void> {
    const failure = this.failure;
    this.failure = undefined;
    if (failure) throw failure;
    this.sent.push(structuredClone(event));
  }
}
