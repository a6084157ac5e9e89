import { parseRequest, parseSqsBody } from '../core/contract';
import { readTicketEvent } from '../core/tickets/ticket-event';
import type { IntakeDeps, TicketIntakeDeps } from './deps';
import { type HandleResult, handleRequest } from './handle-request';
import { type Delivery, identifyCaller } from './identify-caller';
import { publishRejection } from './reject';
import { type TicketResult, takeTicketEvent } from './take-ticket-event';

/**
 * The one intake path of both transports: parse the envelope against the contract and the source allow-list,
 * identify the caller (its integration, its sender, its proof), then hand the request to the use cases within
 * what that integration may ask. Bad input and outsiders are rejected with an outcome event and change nothing;
 * retryable errors propagate so the message or event is delivered again.
 */
export async function takeRequest(deps: IntakeDeps, delivery: Delivery): Promise<HandleResult> {
  const options = { allowedSources: deps.rules.sources };
  const parsed =
    'event' in delivery ? parseRequest(delivery.event, options) : parseSqsBody(delivery.sqsBody, options);
  if (!parsed.ok) {
    return publishRejection(deps, parsed.rejection, {
      ...(parsed.requestId ? { requestId: parsed.requestId } : {}),
      ...(parsed.detailType ? { requestType: parsed.detailType } : {}),
    });
  }
  const identified = await identifyCaller(deps, parsed.request, delivery);
  if (!identified.ok) return publishRejection(deps, identified.rejection, { request: parsed.request });
  // No appendKeys on the shared logger: an SQS batch works its records in parallel, and they would overwrite
  // each other's; the use cases name the requestId in every line they log.
  return handleRequest(deps, parsed.request, identified.caller);
}

/**
 * A message of the requests queue: a request, or a verified webhook the broker's webhook function queued (a
 * ticket event), whose ticket is read back before anything else.
 */
export function takeQueued(
  deps: TicketIntakeDeps,
  delivery: Extract<Delivery, { sqsBody: string }>,
): Promise<HandleResult | TicketResult> {
  const ticketEvent = readTicketEvent(parseJson(delivery.sqsBody));
  return ticketEvent === undefined
    ? takeRequest(deps, delivery)
    : takeTicketEvent(deps, ticketEvent, delivery.senderId);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
