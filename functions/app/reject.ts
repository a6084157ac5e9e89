import type { BrokerRequest, Caller, Rejection, Ticket } from '../core/model';
import * as outcomes from '../core/outcomes';
import type { AppDeps } from './deps';

/** What a rejection answers about the request: the request itself, or what could be read of bad input. */
export type RejectedInput =
  | { readonly request: BrokerRequest; readonly caller?: Caller }
  | {
      readonly requestId?: string;
      readonly requestType?: string;
      /** A ticket's refusal (a webhook integration's): where it is written back, and who asked. */
      readonly ticket?: Ticket;
      readonly caller?: Caller;
    };

/** The one way a request is refused: logged, counted, and answered with `Access Grant Rejected`. */
export async function publishRejection(
  deps: Pick<AppDeps, 'log' | 'metrics' | 'publisher'>,
  rejection: Rejection,
  input: RejectedInput,
): Promise<{ readonly status: 'rejected'; readonly rejection: Rejection }> {
  const about =
    'request' in input
      ? {
          requestId: input.request.requestId,
          kind: input.request.kind,
          integration: input.caller?.integration,
        }
      : {
          requestId: input.requestId,
          requestType: input.requestType,
          ...(input.caller ? { integration: input.caller.integration } : {}),
          ...(input.ticket ? { ticket: input.ticket.key } : {}),
        };
  deps.log.warn('request rejected', { ...about, ...rejection });
  deps.metrics.add('RequestRejected');
  await deps.publisher.publish([outcomes.rejected(rejection, input)]);
  return { status: 'rejected', rejection };
}
