/**
 * A verified webhook read into the hint the intake acts on (a TicketEvent): which ticket changed, and what the
 * webhook claims happened. Nothing here decides access: the intake reads the ticket back with the broker's own
 * credentials first. What is checked is only what the vendor always sends, so that a body no vendor sends is
 * refused (400) rather than queued, and what the broker does not act on is answered as ignored (202), which
 * the vendors take as delivered and do not send again.
 */
import { isRecord } from '../validation';
import type { JiraWebhook, PagerDutyWebhook, WebhookConfig } from './config';
import type { TicketEvent } from './ticket-event';

export type WebhookHint =
  | { readonly kind: 'event'; readonly event: TicketEvent }
  /** The body is not what the vendor sends: answered 400, with the reason. */
  | { readonly kind: 'invalid'; readonly reason: string }
  /** A well-formed webhook the broker does not act on: answered 202, with the reason. */
  | { readonly kind: 'ignored'; readonly reason: string };

/** One webhook as received, its signature already verified. */
export interface WebhookDelivery {
  /** The integration's id, from the path. */
  readonly integration: string;
  /** Header names in lowercase. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The raw body. */
  readonly body: Uint8Array;
  /** ISO time the webhook was received. */
  readonly receivedAt: string;
}

/** Jira's delivery id: the same on every retry of one webhook. */
export const JIRA_DELIVERY_HEADER = 'x-atlassian-webhook-identifier';

const JIRA_EVENTS: readonly string[] = ['jira:issue_created', 'jira:issue_updated'];
/**
 * What a PagerDuty webhook may start: an acknowledgement grants its responder, a resolution revokes, a reopening
 * may come back acknowledged (the read-back tells). Others (triggered: nobody has acknowledged yet; reassigned,
 * escalated, annotated...) change no access.
 */
const PAGERDUTY_EVENTS: readonly string[] = [
  'incident.acknowledged',
  'incident.resolved',
  'incident.reopened',
];

/** A delivery id: printable ASCII without blanks, short enough to key the table (the vendors' are ~26-36). */
const DELIVERY_ID = /^[\x21-\x7e]{1,128}$/;
/** A Jira issue key: the project key, a dash, the issue's number. */
const JIRA_ISSUE_KEY = /^[A-Za-z][A-Za-z0-9_]{0,99}-[1-9][0-9]{0,17}$/;
const JIRA_PROJECT_KEY = /^[A-Za-z][A-Za-z0-9_]{0,99}$/;
/** PagerDuty object ids (incidents, users, services): `PGR0VU2`. */
const PAGERDUTY_ID = /^[A-Za-z0-9]{1,64}$/;
/** Longer claims are cut: they are kept only to be quoted in a refusal. */
const MAX_CLAIM_LENGTH = 256;

/** Reads the verified body of a webhook of the integration's vendor into a TicketEvent, or says why not. */
export function readWebhook(webhook: WebhookConfig, delivery: WebhookDelivery): WebhookHint {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(delivery.body));
  } catch {
    return invalid('the body is not JSON');
  }
  if (!isRecord(body)) return invalid('the body is not a JSON object');
  return webhook.vendor === 'jira'
    ? readJira(webhook, delivery, body)
    : readPagerDuty(webhook, delivery, body);
}

/** Jira Cloud's issue webhooks: `webhookEvent`, `issue` (`key`, `fields.project.key`), `user`, `changelog`. */
function readJira(
  webhook: JiraWebhook,
  delivery: WebhookDelivery,
  body: Record<string, unknown>,
): WebhookHint {
  const deliveryId = delivery.headers[JIRA_DELIVERY_HEADER]?.trim();
  if (!deliveryId) return invalid('no X-Atlassian-Webhook-Identifier header');
  if (!DELIVERY_ID.test(deliveryId)) {
    return invalid('X-Atlassian-Webhook-Identifier is not 1-128 printable characters');
  }
  const event = own(body, 'webhookEvent');
  if (typeof event !== 'string') return invalid('webhookEvent is missing or not a string');
  if (!JIRA_EVENTS.includes(event)) return ignored(`event ${cut(event)} is not one the broker acts on`);
  const issue = own(body, 'issue');
  if (!isRecord(issue)) return invalid('issue is missing or not an object');
  const key = own(issue, 'key');
  if (typeof key !== 'string' || !JIRA_ISSUE_KEY.test(key)) {
    return invalid('issue.key is missing or not an issue key (PROJECT-123)');
  }
  const project = own(own(own(issue, 'fields'), 'project'), 'key');
  if (typeof project !== 'string' || !JIRA_PROJECT_KEY.test(project)) {
    return invalid('issue.fields.project.key is missing or not a project key');
  }
  if (!webhook.projects.includes(project)) {
    return ignored(`project ${project} is not one of the integration's projects`);
  }
  const status = claimedStatus(own(body, 'changelog'));
  if (status === null) return invalid('changelog.items is not a list of changes');
  // Only a move between statuses can ask anything of the broker. Jira also sends issue_updated for every edit
  // and every comment, the broker's own write-back comments included: acting on those would answer each
  // comment with another.
  if (status === undefined) return ignored(`the webhook names no status change of ${key}`);
  // Absent from webhooks no user caused (automation); a claim only, never who approved.
  const user = own(body, 'user') ?? undefined;
  const accountId = own(user, 'accountId');
  if ((user !== undefined && !isRecord(user)) || (accountId !== undefined && typeof accountId !== 'string')) {
    return invalid('user.accountId is not a string');
  }
  return {
    kind: 'event',
    event: {
      integration: delivery.integration,
      vendor: 'jira',
      deliveryId,
      ticket: key,
      event,
      claims: {
        status: cut(status),
        ...(typeof accountId === 'string' ? { user: cut(accountId) } : {}),
      },
      receivedAt: delivery.receivedAt,
    },
  };
}

/**
 * The status the issue moved to, per the webhook's changelog: the last status item's `toString`. Undefined
 * when the webhook names no move (no changelog: a creation, an edit); null when the changelog is malformed.
 */
function claimedStatus(changelog: unknown): string | undefined | null {
  if (changelog === undefined || changelog === null) return undefined;
  const items = own(changelog, 'items');
  if (!Array.isArray(items)) return null;
  let status: string | undefined;
  for (const item of items) {
    if (!isRecord(item)) return null;
    // fieldId names system fields (`status`) apart from a custom field a site may have called "status".
    if ((own(item, 'fieldId') ?? own(item, 'field')) !== 'status') continue;
    const to = own(item, 'toString');
    if (typeof to !== 'string') return null;
    status = to;
  }
  return status;
}

/** PagerDuty's v3 webhooks: `{event: {id, event_type, resource_type, agent, data: {id, service}}}`. */
function readPagerDuty(
  webhook: PagerDutyWebhook,
  delivery: WebhookDelivery,
  body: Record<string, unknown>,
): WebhookHint {
  const event = own(body, 'event');
  if (!isRecord(event)) return invalid('event is missing or not an object');
  const deliveryId = own(event, 'id');
  if (typeof deliveryId !== 'string' || !DELIVERY_ID.test(deliveryId)) {
    return invalid('event.id is missing or not 1-128 printable characters');
  }
  const type = own(event, 'event_type');
  if (typeof type !== 'string') return invalid('event.event_type is missing or not a string');
  if (!PAGERDUTY_EVENTS.includes(type)) return ignored(`event ${cut(type)} is not one the broker acts on`);
  if (own(event, 'resource_type') !== 'incident') return invalid('event.resource_type is not incident');
  const data = own(event, 'data');
  if (!isRecord(data)) return invalid('event.data is missing or not an object');
  const incident = own(data, 'id');
  if (typeof incident !== 'string' || !PAGERDUTY_ID.test(incident)) {
    return invalid('event.data.id is missing or not a PagerDuty id');
  }
  const service = own(own(data, 'service'), 'id');
  if (service !== undefined && typeof service !== 'string')
    return invalid('event.data.service.id is not a string');
  // The incident's service as the webhook names it; the read-back checks it again.
  if (service !== undefined && !webhook.services.some((mapped) => mapped.id === service)) {
    return ignored(`service ${cut(service)} is not one of the integration's services`);
  }
  // Null when no one acted (an auto-resolution); a claim only, never who acknowledged.
  const agent = own(event, 'agent') ?? undefined;
  const agentId = own(agent, 'id');
  if ((agent !== undefined && !isRecord(agent)) || (agentId !== undefined && typeof agentId !== 'string')) {
    return invalid('event.agent.id is not a string');
  }
  // Only a user is a responder: a service or an integration resolving an incident names no one.
  const user =
    typeof agentId === 'string' && (own(agent, 'type') ?? 'user_reference') === 'user_reference'
      ? agentId
      : undefined;
  return {
    kind: 'event',
    event: {
      integration: delivery.integration,
      vendor: 'pagerduty',
      deliveryId,
      ticket: incident,
      event: type,
      claims: user === undefined ? {} : { user: cut(user) },
      receivedAt: delivery.receivedAt,
    },
  };
}

/** A key of a parsed JSON object, never one its prototype answers (`toString`, `constructor`). */
function own(value: unknown, key: string): unknown {
  return isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined;
}

function cut(text: string): string {
  return text.length > MAX_CLAIM_LENGTH ? `${text.slice(0, MAX_CLAIM_LENGTH)}…` : text;
}

function invalid(reason: string): WebhookHint {
  return { kind: 'invalid', reason };
}

function ignored(reason: string): WebhookHint {
  return { kind: 'ignored', reason };
}
