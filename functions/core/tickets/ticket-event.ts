/**
 * A verified webhook, as the webhook function queues it for the intake: only a hint of which ticket changed.
 * The intake reads the ticket back before anything is decided (app/take-ticket-event.ts).
 */
import { BROKER_NAME } from '../names';
import { isRecord } from '../validation';

/** The requests queue's envelope of a ticket event: only the broker's webhook function may send it. */
export const TICKET_EVENT_SOURCE = `${BROKER_NAME}.webhooks`;
export const TICKET_EVENT_DETAIL_TYPE = 'Ticket Event Received';

export interface TicketEvent {
  /** The integration's id: the webhook's path, `/webhooks/<id>`. */
  readonly integration: string;
  readonly vendor: 'jira' | 'pagerduty';
  /** The vendor's delivery id (Jira's X-Atlassian-Webhook-Identifier, PagerDuty's event id): a redelivery repeats it. */
  readonly deliveryId: string;
  /** The Jira issue key, or the PagerDuty incident id. */
  readonly ticket: string;
  /** The vendor's event type (`jira:issue_updated`, `incident.acknowledged`). */
  readonly event: string;
  /** What the webhook claims happened, kept to say so when the read-back does not show it. */
  readonly claims: {
    /** Jira: the status the issue moved to, per the webhook's changelog. */
    readonly status?: string;
    /** The user the webhook names (Jira accountId of the webhook's user, PagerDuty agent id). */
    readonly user?: string;
  };
  /** ISO time the webhook was received. */
  readonly receivedAt: string;
}

/**
 * The ticket event inside a requests-queue message body (already parsed JSON), or undefined when the message is
 * not one (it is then a request, or bad input, for the contract to answer). Only the envelope's source and
 * detail-type decide that it is one; a malformed detail is still a ticket event, answered as such.
 */
export function readTicketEvent(payload: unknown): TicketEvent | 'malformed' | undefined {
  if (!isRecord(payload)) return undefined;
  if (payload.source !== TICKET_EVENT_SOURCE || payload['detail-type'] !== TICKET_EVENT_DETAIL_TYPE) {
    return undefined;
  }
  const detail = payload.detail;
  if (!isRecord(detail)) return 'malformed';
  const { integration, vendor, deliveryId, ticket, event, claims, receivedAt } = detail;
  if (
    typeof integration !== 'string' ||
    (vendor !== 'jira' && vendor !== 'pagerduty') ||
    typeof deliveryId !== 'string' ||
    typeof ticket !== 'string' ||
    ticket === '' ||
    typeof event !== 'string' ||
    typeof receivedAt !== 'string' ||
    !isRecord(claims)
  ) {
    return 'malformed';
  }
  const status = typeof claims.status === 'string' ? claims.status : undefined;
  const user = typeof claims.user === 'string' ? claims.user : undefined;
  return {
    integration,
    vendor,
    deliveryId,
    ticket,
    event,
    claims: { ...(status === undefined ? {} : { status }), ...(user === undefined ? {} : { user }) },
    receivedAt,
  };
}
