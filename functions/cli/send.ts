import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { OUTCOME_SOURCE } from '../core/names';
import type { AwsTarget } from './aws';
import { CliError } from './errors';
import { describeLease, describeOutcomeDetail } from './format';

/** A contract event, as a ticketing system would put it on the bus. */
interface BusRequest {
  readonly source: string;
  readonly detailType: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** Puts the request on the bus; answers the event's id. */
export async function putRequest(target: AwsTarget, request: BusRequest): Promise<string | undefined> {
  const events = target.eventBridge();
  const result = await target.call(() =>
    events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: target.busName,
            Source: request.source,
            DetailType: request.detailType,
            Detail: JSON.stringify(request.detail),
          },
        ],
      }),
    ),
  );
  const failed = result.Entries?.find((e) => e.ErrorCode);
  if (failed)
    throw new CliError(`EventBridge refused the request: ${failed.ErrorCode}: ${failed.ErrorMessage}`);
  return result.Entries?.[0]?.EventId;
}

/**
 * Waits for the lease to reach the state the request asks for, or for the broker's rejection (local edge);
 * answers the line that says which.
 */
export async function waitForOutcome(
  target: AwsTarget,
  requestId: string,
  detailType: string,
): Promise<string> {
  const store = target.leaseStore();
  const deadline = Date.now() + 30_000;
  const before = await target.call(() => store.findLease(requestId));
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const outcome = await localOutcome(target, requestId, detailType);
    if (outcome) return outcome;
    const lease = await target.call(() => store.findLease(requestId));
    if (lease && lease.version !== before?.version && lease.status !== 'pending') {
      return `${lease.status === 'ended' ? `ended (${lease.endReason})` : lease.status}: ${describeLease(lease)}`;
    }
  }
  throw new CliError(
    `No outcome for ${requestId} within 30 s: look for an "Access Grant Rejected" event, or run \`npx eks-access-broker history ${requestId}\`.`,
  );
}

/** On the local edge the outcome events can be read back; in AWS they go to the ticketing system. */
async function localOutcome(
  target: AwsTarget,
  requestId: string,
  detailType: string,
): Promise<string | undefined> {
  if (!target.endpoint) return undefined;
  const response = await fetch(`${target.endpoint}/_edge/events`).catch(() => undefined);
  if (!response?.ok) return undefined;
  const { events } = (await response.json()) as {
    events: {
      event: { source: string; 'detail-type': string; time: string; detail: Record<string, unknown> };
    }[];
  };
  const match = events
    .map((e) => e.event)
    .filter((e) => e.source === OUTCOME_SOURCE && e.detail.requestId === requestId)
    .filter((e) => e['detail-type'] !== 'Access Grant Rejected' || e.detail.requestType === detailType)
    .at(-1);
  if (!match) return undefined;
  return describeOutcomeDetail(match['detail-type'], match.detail);
}
