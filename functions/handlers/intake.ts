import type { HandleResult } from '../app/broker';
import { parseRequest, parseSqsBody } from '../core/contract';
import type { Runtime } from '../runtime';

/**
 * The one intake path both handlers share: parse the envelope against the contract and the source
 * allow-list, then hand the request to the use cases. Bad input is rejected with an outcome event and
 * changes nothing; retryable errors propagate so the message or event is delivered again.
 */
export async function handleEnvelope(
  runtime: Runtime,
  input: { event: unknown } | { sqsBody: string },
): Promise<HandleResult> {
  const options = { allowedSources: runtime.rules.sources };
  const parsed = 'event' in input ? parseRequest(input.event, options) : parseSqsBody(input.sqsBody, options);
  if (!parsed.ok) {
    return runtime.broker.reject(parsed.rejection, {
      ...(parsed.requestId ? { requestId: parsed.requestId } : {}),
      ...(parsed.detailType ? { requestType: parsed.detailType } : {}),
    });
  }
  // No appendKeys on the shared logger: an SQS batch works its records in parallel, and they would overwrite
  // each other's; the use cases name the requestId in every line they log.
  return runtime.broker.handle(parsed.request);
}
