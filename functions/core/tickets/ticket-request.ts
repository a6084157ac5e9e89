/**
 * How a ticket read back becomes a request: through the contract's own parser, exactly as if an integration had
 * sent it, so a ticket's fields are held to the same rules as any other request and refused with the same
 * reasons. Also the refusal of a ticket, and the free text a ticket lends a request.
 */
import { DETAIL_TYPES, parseRequest } from '../contract';
import type { BrokerRequest, Rejection, Ticket } from '../model';
import type { TicketDecision } from './decision';
import { TICKET_EVENT_SOURCE } from './ticket-event';

type RequestKind = keyof typeof DETAIL_TYPES;

export type Refusal = Extract<TicketDecision, { readonly kind: 'refuse' }>;

/** A request of `kind` from `detail`, or the contract's rejection of it. */
export function parseTicketRequest<K extends RequestKind>(
  kind: K,
  detail: Readonly<Record<string, unknown>>,
):
  | { readonly ok: true; readonly request: Extract<BrokerRequest, { readonly kind: K }> }
  | { readonly ok: false; readonly rejection: Rejection } {
  const parsed = parseRequest(
    { source: TICKET_EVENT_SOURCE, 'detail-type': DETAIL_TYPES[kind], detail },
    { allowedSources: [TICKET_EVENT_SOURCE] },
  );
  if (!parsed.ok) return { ok: false, rejection: parsed.rejection };
  // The detail-type decides the kind the parser builds.
  return { ok: true, request: parsed.request as Extract<BrokerRequest, { readonly kind: K }> };
}

/** The ticket refuses a request of `kind`: written back to the ticket as `Access Grant Rejected`. */
export function refuse(kind: RequestKind, requestId: string, ticket: Ticket, rejection: Rejection): Refusal {
  return { kind: 'refuse', rejection, requestId, requestType: DETAIL_TYPES[kind], ticket };
}

/**
 * The ticket a request names. The contract takes only https links: a vendor answering over http (the local
 * fakes) leaves the link out rather than have the request refused for it.
 */
export function ticketFor(system: string, key: string, url: string | undefined): Ticket {
  return { system, key, ...(url?.startsWith('https://') ? { url } : {}) };
}

/**
 * A vendor's free text (a summary, a title, a name) made fit for a request or a message: one line, valid
 * Unicode, at most `max` characters. The contract refuses control characters and overlong text; a ticket's odd
 * title should never be the reason access is refused.
 */
export function plainText(value: string, max: number): string {
  const line = printable(value).replace(/ {2,}/g, ' ').trim();
  if (line.length <= max) return line;
  let cut = line.slice(0, Math.max(0, max - 1));
  // Never split a surrogate pair: half of one is not text.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** Control characters become spaces and lone surrogates (no UTF-8 encoding) the replacement character. */
function printable(value: string): string {
  let out = '';
  // By code point: a surrogate pair comes as one, a lone surrogate alone.
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    out += code < 0x20 || code === 0x7f ? ' ' : code >= 0xd800 && code <= 0xdfff ? '\uFFFD' : char;
  }
  return out;
}
