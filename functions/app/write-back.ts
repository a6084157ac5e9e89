import { PermanentError } from '../core/errors';
import { webhookIntegration } from '../core/integrations';
import type { Ticket } from '../core/model';
import type { AccessRules } from '../core/rules';
import { type AppliedAccess, ticketOf, writeBackText } from '../core/tickets/write-back';
import { isRecord } from '../core/validation';
import type { Log } from './deps';
import type { BrokerMetrics } from './metrics';
import type { AccessApi, LeaseRepository, TicketSystems } from './ports';

/** What writing an outcome back to its ticket needs: the vendors, and reads of EKS and the leases. */
export interface WriteBackDeps {
  readonly rules: AccessRules;
  readonly tickets: TicketSystems;
  readonly eks: Pick<AccessApi, 'readActual'>;
  readonly store: Pick<LeaseRepository, 'findLease'>;
  readonly log: Log;
  readonly metrics: BrokerMetrics;
}

/** An outcome event as EventBridge delivers it to the write-back queue. */
export interface OutcomeEvent {
  readonly 'detail-type': string;
  readonly detail: Readonly<Record<string, unknown>>;
}

export type WriteBackResult =
  | { readonly status: 'written'; readonly ticket: Ticket }
  /** Not a ticket's outcome, or nothing to say about it. */
  | { readonly status: 'skipped'; readonly why: string }
  /** The vendor refused it for good (the issue is gone, the token lacks a permission): logged and counted. */
  | { readonly status: 'dropped'; readonly error: string };

/**
 * Posts an outcome to the ticket its request came from: a Jira comment, a PagerDuty note. A grant is stated as
 * EKS holds it (read back now), not as it was asked. Only reads the broker's state: a write-back that fails
 * never blocks nor undoes an access decision. A vendor outage is thrown (retryable): the message comes back.
 */
export async function writeBack(deps: WriteBackDeps, event: OutcomeEvent): Promise<WriteBackResult> {
  const detail = event.detail;
  const requestId = typeof detail.requestId === 'string' ? detail.requestId : undefined;
  // A refusal of a revoke or an extension names no ticket: its lease does.
  const lease =
    requestId !== undefined && (!isRecord(detail.ticket) || !isRecord(detail.origin))
      ? await deps.store.findLease(requestId)
      : undefined;
  // The lease's ticket, only for an outcome of the lease's own integration (or of no named one).
  const sameIntegration =
    !isRecord(detail.origin) || detail.origin.integration === lease?.origin?.integration;
  const target =
    ticketOf(detail) ??
    (sameIntegration ? ticketOf({ ticket: lease?.ticket, origin: lease?.origin }) : undefined);
  if (target === undefined) return { status: 'skipped', why: 'the outcome is not a ticket request' };
  const integration = webhookIntegration(deps.rules, target.integration);
  if (integration === undefined) {
    return { status: 'skipped', why: `integration ${target.integration} is no webhook integration` };
  }
  const applied = await appliedAccess(deps, event);
  const text = writeBackText({ detailType: event['detail-type'], detail }, applied);
  if (text === undefined) return { status: 'skipped', why: `nothing to say of ${event['detail-type']}` };
  const ticket: Ticket = { system: integration.webhook.vendor, key: target.key };
  try {
    if (integration.webhook.vendor === 'jira') {
      await deps.tickets.jira(integration.id).comment(target.key, text);
    } else {
      await deps.tickets.pagerDuty(integration.id).note(target.key, text);
    }
  } catch (error) {
    if (!(error instanceof PermanentError)) throw error;
    deps.metrics.add('WriteBackFailed');
    deps.log.error('write-back refused by the vendor: dropped', {
      requestId,
      integration: integration.id,
      ticket: target.key,
      error: error.message,
    });
    return { status: 'dropped', error: error.message };
  }
  deps.metrics.add('WrittenBack');
  deps.log.info('outcome written back', {
    requestId,
    integration: integration.id,
    ticket: target.key,
    detailType: event['detail-type'],
  });
  return { status: 'written', ticket };
}

/** What EKS holds now for the outcome's policy, for the outcomes that announce access. */
async function appliedAccess(deps: WriteBackDeps, event: OutcomeEvent): Promise<AppliedAccess | undefined> {
  if (!ANNOUNCES_ACCESS.has(event['detail-type'])) return undefined;
  const { clusterName, principalArn, policyArn } = event.detail;
  if (typeof clusterName !== 'string' || typeof principalArn !== 'string' || typeof policyArn !== 'string') {
    return undefined;
  }
  const actual = await deps.eks.readActual({ clusterName, principalArn });
  const held = actual?.associations.find((association) => association.policyArn === policyArn);
  return { scope: held?.accessScope ?? null };
}

const ANNOUNCES_ACCESS: ReadonlySet<string> = new Set(['Access Granted', 'Access Extended']);
