import { parseRequest, parseSqsBody } from '../core/contract';
import type { AppDeps } from './deps';
import { type HandleResult, handleRequest } from './handle-request';
import { publishRejection } from './reject';

/**
 * The one intake path of both transports: parse the envelope against the contract and the source allow-list,
 * then hand the request to the use cases. Bad input is rejected with an outcome event and changes nothing;
 * retryable errors propagate so the message or event is delivered again.
 */
export async function takeRequest(
  deps: AppDeps,
  input: { readonly event: unknown } | { readonly sqsBody: string },
): Promise<HandleResult> {
  const options = { allowedSources: deps.rules.sources };
  const parsed = 'event' in input ? parseRequest(input.event, options) : parseSqsBody(input.sqsBody, options);
  if (!parsed.ok) {
    return publishRejection(deps, parsed.rejection, {
      ...(parsed.requestId ? { requestId: parsed.requestId } : {}),
      ...(parsed.detailType ? { requestType: parsed.detailType } : {}),
    });
  }
  // No appendKeys on the shared logger: an SQS batch works its records in parallel, and they would overwrite
  // each other's; the use cases name the requestId in every line they log.
  return handleRequest(deps, parsed.request);
}
