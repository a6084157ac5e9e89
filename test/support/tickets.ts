/**
 * Tickets as the broker reads them back (JiraIssue, JiraChange, PagerDutyIncident), the ticket events the
 * webhook function queues for them, and those events as requests-queue bodies: for the use-case tests of the
 * webhook integrations of the shipped rules (infra/access-rules.yaml: `jira` and `pagerduty`).
 */
import type { JiraChange, JiraIssue, PagerDutyIncident } from '../../functions/core/tickets/read-back';
import {
  TICKET_EVENT_DETAIL_TYPE,
  TICKET_EVENT_SOURCE,
  type TicketEvent,
} from '../../functions/core/tickets/ticket-event';
import type { MemoryTickets } from './fakes/memory-tickets';

/** Jira accounts. Alice owns role/dev-alice in the shipped rules, so she may not approve access for it. */
export const ALICE = '712020:4f1e6c55-0a57-4d7c-9c0a-a11ce0000001';
/** Reports ACCESS-12, for her own role/dev-carol. */
export const CAROL = 'acc-carol';
/** An approver of the shipped rules' approverGroup. */
export const BOB = 'acc-bob';
/** Not in the approverGroup. */
export const DAVE = 'acc-dave';

export const APPROVER_GROUP = 'eks-access-approvers';
export const ISSUE_KEY = 'ACCESS-12';
export const ISSUE_URL = `https://example.atlassian.net/browse/${ISSUE_KEY}`;
export const CAROL_ROLE = 'arn:aws:iam::111122223333:role/dev-carol';
export const ALICE_ROLE = 'arn:aws:iam::111122223333:role/dev-alice';

/** The shipped Jira integration's field ids, by what they hold. */
export const JIRA_FIELDS = {
  cluster: 'customfield_10100',
  principal: 'customfield_10101',
  policy: 'customfield_10102',
  namespaces: 'customfield_10103',
  durationHours: 'customfield_10104',
  extensionHours: 'customfield_10105',
} as const;

/**
 * ACCESS-12, reported by Carol, asking AmazonEKSEditPolicy on team-a and team-b of demo for her role for 4 h,
 * in Approved. `fields` are merged over the request form's fields, by field id.
 */
export function jiraIssue(
  overrides: Partial<JiraIssue> = {},
  fields: Record<string, unknown> = {},
): JiraIssue {
  return {
    key: ISSUE_KEY,
    projectKey: 'ACCESS',
    status: 'Approved',
    reporter: CAROL,
    summary: 'Debug the payments rollout',
    url: ISSUE_URL,
    fields: {
      [JIRA_FIELDS.cluster]: 'demo',
      [JIRA_FIELDS.principal]: CAROL_ROLE,
      // A select field, as Jira answers it.
      [JIRA_FIELDS.policy]: { value: 'AmazonEKSEditPolicy', id: '10200' },
      [JIRA_FIELDS.namespaces]: ['team-a', 'team-b'],
      [JIRA_FIELDS.durationHours]: 4,
      ...fields,
    },
    ...overrides,
  };
}

/** A changelog entry: `author` (`authorName`) moved the issue's status to `to`. */
export function statusChange(
  id: string,
  to: string,
  author?: string,
  authorName?: string,
  from = 'Waiting for approval',
): JiraChange {
  return {
    id,
    ...(author === undefined ? {} : { author }),
    ...(authorName === undefined ? {} : { authorName }),
    created: '2026-05-28T20:00:00.000+0000',
    items: [{ field: 'status', from: '1', fromString: from, to: '3', toString: to }],
  };
}

/** Carol opened the issue. */
export const REPORTED = statusChange('10040', 'Waiting for approval', CAROL, 'Carol Reporter', 'Open');
/** Bob, an approver, approved it. */
export const APPROVED_BY_BOB = statusChange('10042', 'Approved', BOB, 'Bob Approver');

/** The webhook's hint about ACCESS-12 (Jira's `jira:issue_updated`), claiming what `claims` says. */
export function jiraEvent(
  claims: TicketEvent['claims'] = { status: 'Approved', user: BOB },
  overrides: Partial<TicketEvent> = {},
): TicketEvent {
  return {
    integration: 'jira',
    vendor: 'jira',
    deliveryId: 'b6b2c7de-0d5e-4bd9-9a3c-3d4f0b1a2c11',
    ticket: ISSUE_KEY,
    event: 'jira:issue_updated',
    claims,
    receivedAt: '2026-05-28T20:26:40.000Z',
    ...overrides,
  };
}

/** A PagerDuty responder the shipped rules map to role/oncall-alice, and one they do not map. */
export const RESPONDER = 'PUSR0AL';
export const UNMAPPED_RESPONDER = 'PUSR0XX';
export const RESPONDER_ROLE = 'arn:aws:iam::111122223333:role/oncall-alice';
export const INCIDENT_ID = 'Q2K3J4H5G6F7D8';
export const INCIDENT_URL = `https://example.pagerduty.com/incidents/${INCIDENT_ID}`;

/** Incident #42 on the mapped service PSVC001, acknowledged by and assigned to the mapped responder. */
export function pagerDutyIncident(overrides: Partial<PagerDutyIncident> = {}): PagerDutyIncident {
  return {
    id: INCIDENT_ID,
    number: 42,
    title: 'Payments API 5xx above 5%',
    status: 'acknowledged',
    serviceId: 'PSVC001',
    url: INCIDENT_URL,
    assignees: [RESPONDER],
    acknowledgements: [{ user: RESPONDER, at: '2026-05-28T20:26:30Z' }],
    ...overrides,
  };
}

/** The webhook's hint about incident #42 (`incident.acknowledged` by the mapped responder unless told). */
export function pagerDutyEvent(
  event = 'incident.acknowledged',
  user: string = RESPONDER,
  overrides: Partial<TicketEvent> = {},
): TicketEvent {
  return {
    integration: 'pagerduty',
    vendor: 'pagerduty',
    deliveryId: '01DZQ7M0X0WQ3KJ5TAEKD1YQ0B',
    ticket: INCIDENT_ID,
    event,
    claims: { user },
    receivedAt: '2026-05-28T20:26:40.000Z',
    ...overrides,
  };
}

/** The requests-queue body the webhook function sends for `detail` (a TicketEvent, or anything to test). */
export function ticketEventBody(detail: unknown): string {
  return JSON.stringify({ source: TICKET_EVENT_SOURCE, 'detail-type': TICKET_EVENT_DETAIL_TYPE, detail });
}

/**
 * Runs `then` once, right after the first Jira call named `call` (`issue ACCESS-12`, `groups acc-bob`, as
 * MemoryTickets records them) answered: a change made in Jira, or an outage, between two of the broker's reads.
 */
export function afterJiraCall(tickets: MemoryTickets, call: string, then: () => void): void {
  const jira = tickets.jira.bind(tickets);
  let done = false;
  tickets.jira = (integrationId) => {
    const api = jira(integrationId);
    const after = async <T>(what: string, answer: Promise<T>): Promise<T> => {
      const value = await answer;
      if (!done && what === call) {
        done = true;
        then();
      }
      return value;
    };
    return {
      issue: (key) => after(`issue ${key}`, api.issue(key)),
      changelog: (key) => after(`changelog ${key}`, api.changelog(key)),
      groupsOf: (accountId) => after(`groups ${accountId}`, api.groupsOf(accountId)),
      comment: (key, text) => after(`comment ${key}`, api.comment(key, text)),
    };
  };
}
