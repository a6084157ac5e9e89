import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DETAIL_TYPES } from '../core/contract';
import type { Lease } from '../core/model';
import { OUTCOME_SOURCE } from '../core/names';
import type { AwsTarget } from './aws';
import { CliError, EXIT_CODES, type ExitCode } from './errors';
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
  if (failed) {
    // PutEvents answers some refusals per entry (a bus that does not exist): said as the thrown ones are.
    const refusal = Object.assign(new Error(failed.ErrorMessage ?? ''), {
      name: failed.ErrorCode ?? 'Error',
    });
    const explained = target.explain(refusal);
    throw explained instanceof CliError
      ? explained
      : new CliError(`EventBridge refused the request: ${failed.ErrorCode}: ${failed.ErrorMessage}`);
  }
  return result.Entries?.[0]?.EventId;
}

/** What became of a request: the line to print and the exit code that says it to a script. */
export interface RequestFate {
  readonly line: string;
  readonly exitCode: ExitCode;
}

/** What --wait watches: started before the request is sent, so that no answer can come before the first look. */
export interface OutcomeWatch {
  /** Resolves with the request's fate; a CliError with exit code 4 (timed out) when none came in `timeoutMs`. */
  wait(timeoutMs: number): Promise<RequestFate>;
}

/**
 * Watches request `requestId` of `detailType` for its answer: locally the broker's outcome events (the edge
 * keeps them), everywhere the lease reaching the state the request asks for. In AWS a rejection leaves no
 * lease and its event goes to the integration, so only the local broker tells a rejection from silence.
 */
export async function watchOutcome(
  target: AwsTarget,
  requestId: string,
  detailType: string,
): Promise<OutcomeWatch> {
  const store = target.leaseStore();
  const [before, seen] = await Promise.all([
    target.call(() => store.findLease(requestId)),
    localOutcomes(target, requestId).then((events) => new Set(events.map((e) => e.id))),
  ]);
  return {
    async wait(timeoutMs) {
      // Revoking an ended lease changes nothing and the broker answers nothing: its access is already gone.
      if (detailType === DETAIL_TYPES.revoke && before?.status === 'ended') {
        return {
          line: `already ended (${before.endReason}): ${describeLease(before)}`,
          exitCode: EXIT_CODES.done,
        };
      }
      const deadline = Date.now() + timeoutMs;
      let leaseMoved = false;
      while (Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        const event = (await localOutcomes(target, requestId))
          .filter((e) => !seen.has(e.id))
          .map((e) => ({ event: e, exitCode: outcomeExitCode(detailType, e) }))
          .find((answer) => answer.exitCode !== undefined);
        if (event?.exitCode !== undefined) {
          return {
            line: describeOutcomeDetail(event.event['detail-type'], event.event.detail),
            exitCode: event.exitCode,
          };
        }
        const lease = await target.call(() => store.findLease(requestId));
        const fate = lease && leaseFate(detailType, lease, before);
        // The broker publishes the outcome right after saving the lease: locally, one more look for the event,
        // which says more (the scope EKS holds, the reason).
        if (fate && (leaseMoved || !target.endpoint)) return fate;
        leaseMoved = fate !== undefined;
      }
      const seconds = Math.round(timeoutMs / 1000);
      throw new CliError(
        target.endpoint
          ? `No outcome for ${requestId} within ${seconds} s: run \`npx eks-access-broker history ${requestId}\`, or wait longer with --timeout.`
          : `No outcome for ${requestId} within ${seconds} s: a rejection leaves no lease (its "Access Grant Rejected" event goes to your integration); run \`npx eks-access-broker history ${requestId}\`, or wait longer with --timeout.`,
        { exitCode: EXIT_CODES.timedOut },
      );
    },
  };
}

/** Whether an outcome event answers a request of `detailType`, and how: done, rejected or failed. */
function outcomeExitCode(detailType: string, event: OutcomeEvent): ExitCode | undefined {
  const type = event['detail-type'];
  const requestType = event.detail.requestType;
  // Refusals and dead letters say which request they answer; the others are a lease's own events.
  if (requestType !== undefined && requestType !== detailType) return undefined;
  if (type === 'Access Grant Rejected') return EXIT_CODES.rejected;
  switch (detailType) {
    case DETAIL_TYPES.grant:
      if (type === 'Access Granted' || type === 'Break Glass Access Granted') return EXIT_CODES.done;
      // A lease that ended before its access was applied is leaseFate's.
      return type === 'Access Grant Failed' ? EXIT_CODES.failed : undefined;
    case DETAIL_TYPES.revoke:
      if (type === 'Access Revoked') return EXIT_CODES.done;
      if (type === 'Access Revocation Failed') return EXIT_CODES.failed;
      return undefined;
    case DETAIL_TYPES.extend:
      if (type === 'Access Extended') return EXIT_CODES.done;
      if (type === 'Access Grant Failed') return EXIT_CODES.failed;
      return undefined;
    default:
      return undefined;
  }
}

/** The request's fate as the lease table shows it, once the lease has moved since the request was sent. */
function leaseFate(detailType: string, lease: Lease, before: Lease | undefined): RequestFate | undefined {
  if (lease.version === before?.version || lease.status === 'pending') return undefined;
  const line = `${lease.status === 'ended' ? `ended (${lease.endReason})` : lease.status}: ${describeLease(lease)}`;
  switch (detailType) {
    case DETAIL_TYPES.grant:
      // A repeat of a decided requestId changes nothing: the broker answers it with nothing, or a rejection.
      if (before !== undefined && before.status !== 'pending') return undefined;
      return { line, exitCode: lease.grantedAt !== undefined ? EXIT_CODES.done : EXIT_CODES.failed };
    case DETAIL_TYPES.revoke:
      if (lease.status === 'ended') return { line, exitCode: EXIT_CODES.done };
      return lease.status === 'irrevocable' ? { line, exitCode: EXIT_CODES.failed } : undefined;
    case DETAIL_TYPES.extend:
      return lease.expiresAt > (before?.expiresAt ?? Number.POSITIVE_INFINITY)
        ? { line, exitCode: EXIT_CODES.done }
        : undefined;
    default:
      return undefined;
  }
}

interface OutcomeEvent {
  readonly id: string;
  readonly source: string;
  readonly 'detail-type': string;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** On the local edge the outcome events can be read back, oldest first; in AWS they go to the integrations. */
async function localOutcomes(target: AwsTarget, requestId: string): Promise<OutcomeEvent[]> {
  if (!target.endpoint) return [];
  const response = await fetch(`${target.endpoint}/_edge/events`).catch(() => undefined);
  if (!response?.ok) return [];
  const { events } = (await response.json()) as { events: { event: OutcomeEvent }[] };
  return events
    .map((e) => e.event)
    .filter((e) => e.source === OUTCOME_SOURCE && e.detail.requestId === requestId);
}
