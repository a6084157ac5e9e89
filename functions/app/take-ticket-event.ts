import { webhookIntegration } from '../core/integrations';
import type { Caller, Rejection } from '../core/model';
import type { TicketDecision } from '../core/tickets/decision';
import { TICKET_EVENT_DETAIL_TYPE, type TicketEvent } from '../core/tickets/ticket-event';
import type { TicketIntakeDeps } from './deps';
import { type HandleResult, handleRequest } from './handle-request';
import { readJira, readPagerDuty, type WebhookIntegration } from './read-ticket';
import { publishRejection } from './reject';

export type TicketResult =
  /** What the ticket asked, each request with its result (none: the ticket asked nothing of the broker). */
  | { readonly status: 'ticket'; readonly results: readonly HandleResult[] }
  | { readonly status: 'rejected'; readonly rejection: Rejection };

/**
 * A verified webhook, queued by the broker's own webhook function: only a hint that a ticket changed. The
 * ticket is read back from its vendor with the broker's credentials, and what the read-back says (never the
 * webhook) becomes requests, run through the same use cases and rules as any integration's, within the ceiling
 * of the webhook's integration. A vendor that cannot be read is a retryable error: the message comes back, and
 * after the last delivery the dead-letter function answers it.
 */
export async function takeTicketEvent(
  deps: TicketIntakeDeps,
  event: TicketEvent | 'malformed',
  senderId: string | undefined,
): Promise<TicketResult> {
  const principal = senderId === undefined ? undefined : await deps.senders.principalOf(senderId);
  if (deps.webhookSender === undefined || principal !== deps.webhookSender) {
    return refuse(deps, {
      code: 'SENDER_NOT_ALLOWED',
      reason: `ticket events are sent only by the broker's webhook function, not by ${principal ?? senderId ?? 'an unnamed sender'}`,
    });
  }
  if (event === 'malformed') {
    return refuse(deps, {
      code: 'INVALID_ENVELOPE',
      reason:
        'the ticket event is malformed: expected integration, vendor, deliveryId, ticket, event, claims',
    });
  }
  const integration = webhookIntegration(deps.rules, event.integration);
  if (integration === undefined || integration.webhook.vendor !== event.vendor) {
    return refuse(deps, {
      code: 'INVALID_ENVELOPE',
      field: 'detail.integration',
      reason: `the access rules have no ${event.vendor} webhook integration ${JSON.stringify(event.integration)}`,
    });
  }
  // Whatever the ticket asks is what the broker read back: its requests and its refusals alike.
  const caller: Caller = { integration: integration.id, sender: principal, readBack: {} };
  deps.log.info('ticket event read back', {
    integration: integration.id,
    ticket: event.ticket,
    deliveryId: event.deliveryId,
    event: event.event,
  });
  if (integration.webhook.vendor === 'jira') {
    const jira = integration as WebhookIntegration<'jira'>;
    const results = await run(deps, await readJira(deps, jira, event), caller);
    // The issue may have closed while the grant was being applied, and its closing webhook found no lease
    // yet: read it once more, and take the access back now if it says so.
    if (results.some((result) => result.status === 'granted')) {
      const again = await readJira(deps, jira, { ...event, claims: {} });
      if (again.some((decision) => decision.kind === 'revoke')) {
        results.push(...(await run(deps, again, caller)));
      }
    }
    return { status: 'ticket', results };
  }
  const pagerDuty = integration as WebhookIntegration<'pagerduty'>;
  return { status: 'ticket', results: await run(deps, await readPagerDuty(deps, pagerDuty, event), caller) };
}

/** Runs what the ticket asks, in order, each request as its integration would have sent it. */
async function run(
  deps: TicketIntakeDeps,
  decisions: readonly TicketDecision[],
  caller: Caller,
): Promise<HandleResult[]> {
  const results: HandleResult[] = [];
  for (const decision of decisions) {
    switch (decision.kind) {
      case 'grant':
      case 'extend':
        results.push(
          await handleRequest(deps, decision.request, {
            ...caller,
            readBack: { approvedBy: decision.approvedBy },
          }),
        );
        break;
      case 'revoke':
        for (const request of decision.requests) {
          // A ticket closed before it was ever granted has nothing to take back, and nothing to say about it.
          if ((await deps.store.findLease(request.requestId)) === undefined) continue;
          results.push(
            await handleRequest(
              deps,
              request,
              decision.closedBy ? { ...caller, readBack: { approvedBy: decision.closedBy } } : caller,
            ),
          );
        }
        break;
      case 'revoke-responder': {
        // One lease per acknowledgement: `<requestId>:<acknowledged at>`, among the responder's role's leases
        // (and `<requestId>` alone, as leases granted before acknowledgements were told apart are named).
        const { leases } = await deps.store.readSubject(decision.subject);
        const base = decision.request.requestId;
        for (const lease of leases) {
          if (lease.requestId !== base && !lease.requestId.startsWith(`${base}:`)) continue;
          results.push(
            await handleRequest(deps, { ...decision.request, requestId: lease.requestId }, caller),
          );
        }
        break;
      }
      case 'refuse':
        results.push(
          await publishRejection(deps, decision.rejection, {
            requestId: decision.requestId,
            requestType: decision.requestType,
            ticket: decision.ticket,
            caller,
          }),
        );
        break;
      case 'ignore':
        deps.log.info('ticket event asks nothing of the broker', {
          integration: caller.integration,
          why: decision.why,
        });
        break;
    }
  }
  return results;
}

function refuse(deps: TicketIntakeDeps, rejection: Rejection): Promise<TicketResult> {
  return publishRejection(deps, rejection, { requestType: TICKET_EVENT_DETAIL_TYPE });
}
