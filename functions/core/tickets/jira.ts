/**
 * What a Jira issue, read back with the broker's own token, asks of the broker. The webhook only said which
 * issue changed; its status, its fields and who moved it where come from the read-back. One lease per issue
 * (requestId `<integration id>:<KEY>`): a second approval with the same fields changes nothing.
 *
 * The app calls `jiraApproverToCheck` first and, when it names an account, reads that account's groups, then
 * `decideJira` with them: groups are read only for the one approver that needs checking.
 */

import { globMatch } from '../glob';
import type { Rejection, Ticket } from '../model';
import type { JiraWebhook } from './config';
import type { TicketDecision } from './decision';
import { extensionOf, jiraGrantRequest } from './jira-request';
import type { JiraChange, JiraIssue } from './read-back';
import type { TicketEvent } from './ticket-event';
import { parseTicketRequest, plainText, refuse, ticketFor } from './ticket-request';

export interface JiraInput {
  /** The webhook's hint: its integration, the issue key, and what it claims. */
  readonly event: TicketEvent;
  readonly config: JiraWebhook;
  /** The issue read back; undefined when Jira answered 404. */
  readonly issue: JiraIssue | undefined;
  /** The issue's changelog read back, oldest first. */
  readonly changelog: readonly JiraChange[];
}

/**
 * The account whose groups `decideJira` checks: the author of the move into the issue's current approved or
 * extend status, when the integration names an approverGroup. Undefined: no group to read.
 */
export function jiraApproverToCheck(input: JiraInput): string | undefined {
  const { config, issue } = input;
  if (config.approverGroup === undefined || issue === undefined) return undefined;
  if (approvalKind(config, issue.status) === undefined || isIn(config.statuses.closed, issue.status)) {
    return undefined;
  }
  return lastMoveInto(input.changelog, issue.status)?.author;
}

/**
 * `approverGroups`: the groups of the account `jiraApproverToCheck` named (absent: none, so an approverGroup
 * refuses).
 */
export function decideJira(input: JiraInput, approverGroups: readonly string[] = []): TicketDecision {
  const { event, config, issue } = input;
  if (issue === undefined) {
    return refuse(
      'grant',
      `${event.integration}:${event.ticket}`,
      ticketFor('jira', event.ticket, undefined),
      {
        code: 'TICKET_NOT_FOUND',
        reason: `Jira issue ${event.ticket} was not found, or the broker's account may not see it`,
      },
    );
  }
  if (!config.projects.includes(issue.projectKey)) {
    return {
      kind: 'ignore',
      why: `${issue.key} is in project ${issue.projectKey}, not one of ${config.projects.join(', ')}`,
    };
  }
  const read: Read = {
    input,
    issue,
    requestId: `${event.integration}:${issue.key}`,
    ticket: ticketFor('jira', issue.key, issue.url),
  };
  // Closed wins over any other list the status is also in: ending access is never the unsafe choice.
  if (isIn(config.statuses.closed, issue.status)) return closed(read);
  const kind = approvalKind(config, issue.status);
  return kind === undefined ? unapproved(read) : approved(read, kind, approverGroups);
}

/** An issue of the integration's projects, read back. */
interface Read {
  readonly input: JiraInput;
  readonly issue: JiraIssue;
  readonly requestId: string;
  readonly ticket: Ticket;
}

function refusal(read: Read, kind: 'grant' | 'extend' | 'revoke', rejection: Rejection): TicketDecision {
  return refuse(kind, read.requestId, read.ticket, rejection);
}

function closed(read: Read): TicketDecision {
  const { issue } = read;
  const closing = lastMoveInto(read.input.changelog, issue.status);
  const revoke = parseTicketRequest('revoke', {
    requestId: read.requestId,
    requestedBy: `jira:${closing?.author ?? 'unknown'}`,
    reason: `${issue.key} moved to ${issue.status}`,
  });
  if (!revoke.ok) return refusal(read, 'revoke', revoke.rejection);
  return {
    kind: 'revoke',
    requests: [revoke.request],
    ...(closing?.author === undefined ? {} : { closedBy: personOf(closing.author, closing.authorName) }),
  };
}

/** A status that asks nothing; but a webhook that claimed an approval the read-back lacks is answered. */
function unapproved(read: Read): TicketDecision {
  const { issue } = read;
  const claimed = read.input.event.claims.status;
  const claimedKind = claimed === undefined ? undefined : approvalKind(read.input.config, claimed);
  if (claimed !== undefined && claimedKind !== undefined) {
    return refusal(read, claimedKind, {
      code: 'APPROVAL_NOT_FOUND',
      reason: `the webhook said ${issue.key} moved to ${claimed}; the issue read back is in ${issue.status}`,
    });
  }
  return {
    kind: 'ignore',
    why: `${issue.key} is in ${issue.status}, which neither grants, extends nor revokes`,
  };
}

/** An approved (or extension-approved) issue: who moved it there decides, then what its fields ask. */
function approved(read: Read, kind: 'grant' | 'extend', approverGroups: readonly string[]): TicketDecision {
  const { issue, input } = read;
  const { config } = input;
  const approval = lastMoveInto(input.changelog, issue.status);
  if (approval === undefined) {
    return refusal(read, kind, {
      code: 'APPROVAL_NOT_FOUND',
      reason: `${issue.key} is in ${issue.status}, but its changelog shows no move into it`,
    });
  }
  const approver = approval.author;
  if (approver === undefined) {
    return refusal(read, kind, {
      code: 'APPROVAL_NOT_FOUND',
      reason: `${issue.key} was moved to ${issue.status} by no user (anonymous), so there is no approver to check`,
    });
  }
  const approvedBy = personOf(approver, approval.authorName);
  if (issue.reporter === approver) {
    return refusal(read, kind, {
      code: 'SELF_APPROVAL',
      reason: `${approvedBy} reported ${issue.key} and may not approve it`,
    });
  }
  const grant = jiraGrantRequest(input.event.integration, config, issue);
  if (!grant.ok) return refusal(read, kind, grant.rejection);
  const { principalArn } = grant.value;
  if (config.owners.some((o) => o.accountIds.includes(approver) && globMatch(o.principal, principalArn))) {
    return refusal(read, kind, {
      code: 'SELF_APPROVAL',
      reason: `${approvedBy} owns ${principalArn} and may not approve access for it`,
    });
  }
  const group = config.approverGroup;
  if (group !== undefined && !approverGroups.includes(group)) {
    return refusal(read, kind, {
      code: 'APPROVER_NOT_IN_GROUP',
      reason: `${approvedBy} moved ${issue.key} to ${issue.status} but is not a member of ${group}`,
    });
  }
  if (kind === 'grant') return { kind: 'grant', request: grant.value, approvedBy };

  const added = extensionOf(config, issue);
  if (!added.ok) return refusal(read, 'extend', added.rejection);
  const extend = parseTicketRequest('extend', {
    requestId: read.requestId,
    durationSeconds: added.value,
    requestedBy: grant.value.requestedBy,
    // The reason is part of what makes two extend requests the same extension (app/extend.ts extensionKey).
    // The history id makes each extension transition its own extension, extended once however often it is
    // read back; the approver is named by account id, never by a display name that may change in between.
    reason: `${issue.key} extension approved in Jira by jira:${approver} (history ${approval.id})`,
  });
  if (!extend.ok) return refusal(read, 'extend', extend.rejection);
  return { kind: 'extend', request: extend.request, approvedBy };
}

/** Whether moving into `status` asks for a grant or an extension (approved wins when both list it). */
function approvalKind(config: JiraWebhook, status: string): 'grant' | 'extend' | undefined {
  if (isIn(config.statuses.approved, status)) return 'grant';
  if (isIn(config.statuses.extend ?? [], status)) return 'extend';
  return undefined;
}

/** Jira status names are unique regardless of case; an admin may write them either way in the rules. */
function isIn(statuses: readonly string[], status: string): boolean {
  const wanted = status.toLowerCase();
  return statuses.some((s) => s.toLowerCase() === wanted);
}

/** The latest changelog entry that moved the issue's status to `status`: who put it where it is now. */
function lastMoveInto(changelog: readonly JiraChange[], status: string): JiraChange | undefined {
  return changelog.findLast((change) =>
    change.items.some(
      (item) => item.field === 'status' && typeof item.toString === 'string' && isIn([status], item.toString),
    ),
  );
}

/** `jira:<accountId> (<display name>)`, as outcomes and leases name an approver. */
function personOf(accountId: string, name: string | undefined): string {
  const shown = name === undefined ? '' : plainText(name, MAX_NAME);
  return shown === '' ? `jira:${accountId}` : `jira:${accountId} (${shown})`;
}

const MAX_NAME = 128;
