import { parseRequest, parseSqsBody } from '../core/contract';
import type { IntakeDeps } from './deps';
import { type HandleResult, handleRequest } from './handle-request';
import { type Delivery, identifyCaller } from './identify-caller';
import { publishRejection } from './reject';

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
