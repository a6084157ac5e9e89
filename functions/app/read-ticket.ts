import type { Integration } from '../core/rules';
import type { JiraWebhook, PagerDutyWebhook, WebhookConfig } from '../core/tickets/config';
import type { TicketDecision } from '../core/tickets/decision';
import { decideJira, jiraApproverToCheck } from '../core/tickets/jira';
import { decidePagerDuty } from '../core/tickets/pagerduty';
import type { TicketEvent } from '../core/tickets/ticket-event';
import type { TicketIntakeDeps } from './deps';

/** A webhook integration of one vendor. */
export type WebhookIntegration<V extends WebhookConfig['vendor']> = Integration & {
  readonly webhook: Extract<WebhookConfig, { readonly vendor: V }>;
};

/**
 * Reads a Jira issue back (the issue, its changelog, and the approver's groups when a group is required) and
 * decides what it asks. A vendor error propagates: retryable ones bring the message back.
 */
export async function readJira(
  deps: Pick<TicketIntakeDeps, 'tickets'>,
  integration: WebhookIntegration<'jira'>,
  event: TicketEvent,
): Promise<TicketDecision[]> {
  const jira = deps.tickets.jira(integration.id);
  const issue = await jira.issue(event.ticket);
  const changelog = issue === undefined ? [] : await jira.changelog(event.ticket);
  const input = { event, config: integration.webhook satisfies JiraWebhook, issue, changelog };
  const approver = jiraApproverToCheck(input);
  const groups = approver === undefined ? [] : await jira.groupsOf(approver);
  return [decideJira(input, groups)];
}

/** Reads a PagerDuty incident back and decides what it asks. */
export async function readPagerDuty(
  deps: Pick<TicketIntakeDeps, 'tickets' | 'rules'>,
  integration: WebhookIntegration<'pagerduty'>,
  event: TicketEvent,
): Promise<TicketDecision[]> {
  const incident = await deps.tickets.pagerDuty(integration.id).incident(event.ticket);
  return [
    ...decidePagerDuty({
      event,
      config: integration.webhook satisfies PagerDutyWebhook,
      incident,
      minReasonLength: deps.rules.breakGlass?.minReasonLength ?? 0,
    }),
  ];
}
