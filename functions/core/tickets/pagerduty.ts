/**
 * What a PagerDuty incident, read back with the broker's own API key, asks of the broker: break-glass access
 * for each responder who acknowledged it and is assigned to it, for that responder's own mapped role, while it
 * is open; none once it is resolved. One lease per responder per acknowledgement (requestId
 * `<integration id>:<incident id>:<user id>:<acknowledged at>`), so every webhook of an incident can safely ask
 * for all of them, a lease that ran out is not granted again by a later webhook, and a responder who
 * acknowledges the incident again once it was reopened (or went back to triggered) gets access again.
 *
 * PagerDuty assigns an incident to whoever acknowledges it, so "assigned" mostly catches a reassignment after
 * the acknowledgement, read back before the broker acted on it. Who may get access at all is the integration's
 * `users` mapping: the allow-list of responders, each mapped to their own role.
 */
import type { Rejection } from '../model';
import type { PagerDutyWebhook } from './config';
import type { TicketDecision } from './decision';
import type { PagerDutyIncident } from './read-back';
import type { TicketEvent } from './ticket-event';
import { parseTicketRequest, plainText, refuse, ticketFor } from './ticket-request';

export interface PagerDutyInput {
  /** The webhook's hint: its integration, the incident id, its event type and the agent it names. */
  readonly event: TicketEvent;
  readonly config: PagerDutyWebhook;
  /** The incident read back; undefined when PagerDuty answered 404. */
  readonly incident: PagerDutyIncident | undefined;
  /** The access rules' `breakGlass.minReasonLength` (0 when none): a grant's reason is made at least this long. */
  readonly minReasonLength: number;
}

const ACKNOWLEDGED = 'incident.acknowledged';
const MAX_REASON = 1024;

/** Every decision the incident asks for, in order; never empty. */
export function decidePagerDuty(input: PagerDutyInput): readonly TicketDecision[] {
  const { event, config, incident } = input;
  if (incident === undefined) {
    const claimed = event.claims.user;
    return [
      refuse(
        'grant',
        requestIdOf(event.integration, event.ticket, claimed),
        ticketFor('pagerduty', event.ticket, undefined),
        {
          code: 'TICKET_NOT_FOUND',
          reason: `PagerDuty incident ${event.ticket} was not found, or the broker's API key may not see it`,
        },
      ),
    ];
  }
  const service = config.services.find((s) => s.id === incident.serviceId);
  if (service === undefined) {
    return [
      {
        kind: 'ignore',
        why: `incident ${incident.id} is on service ${incident.serviceId}, which is not mapped`,
      },
    ];
  }
  return incident.status === 'resolved'
    ? resolved(input, incident, service.cluster)
    : open(input, incident, service.cluster);
}

/**
 * Every responder the incident may have given access loses it. A resolved incident reads back with no
 * assignments and no acknowledgements, so who had access cannot be read from it: the leases of every user the
 * integration maps are looked for on that user's role (one per acknowledgement), and each found is revoked.
 */
function resolved(
  input: PagerDutyInput,
  incident: PagerDutyIncident,
  cluster: string,
): readonly TicketDecision[] {
  const decisions: TicketDecision[] = [];
  for (const user of new Set(input.config.users.map((u) => u.id))) {
    const principal = roleOf(input.config, user);
    if (principal === undefined) continue;
    const revoke = parseTicketRequest('revoke', {
      requestId: requestIdOf(input.event.integration, incident.id, user),
      requestedBy: 'pagerduty',
      reason: `PagerDuty incident #${incident.number} resolved`,
    });
    if (revoke.ok) {
      decisions.push({
        kind: 'revoke-responder',
        subject: { clusterName: cluster, principalArn: principal },
        request: revoke.request,
      });
    }
  }
  if (decisions.length === 0) {
    return [
      { kind: 'ignore', why: `incident ${incident.id} is resolved and the integration maps no responder` },
    ];
  }
  return decisions;
}

/** Each acknowledger who is assigned and mapped gets break-glass access; the webhook's agent hears why not. */
function open(
  input: PagerDutyInput,
  incident: PagerDutyIncident,
  cluster: string,
): readonly TicketDecision[] {
  const { event, config } = input;
  const ticket = ticketFor('pagerduty', incident.id, incident.url);
  const decisions: TicketDecision[] = [];
  for (const [user, acknowledgedAt] of firstAcknowledgements(incident)) {
    const role = roleOf(config, user);
    if (role === undefined || !incident.assignees.includes(user)) continue;
    const requestId = `${requestIdOf(event.integration, incident.id, user)}:${acknowledgedAt}`;
    const grant = parseTicketRequest('grant', {
      requestId,
      clusterName: cluster,
      principalArn: role,
      policyArn: config.policy,
      accessScope: { type: 'cluster' },
      durationSeconds: config.durationSeconds,
      requestedBy: `pagerduty:${user}`,
      reason: grantReason(incident, user, input.minReasonLength),
      ticket,
      breakGlass: true,
    });
    decisions.push(
      grant.ok
        ? { kind: 'grant', request: grant.request, approvedBy: `pagerduty:${user}` }
        : refuse('grant', requestId, ticket, grant.rejection),
    );
  }
  // Refusals only answer the agent this webhook names: another responder's were answered by their own webhook.
  const agent = event.claims.user;
  if (event.event === ACKNOWLEDGED && agent !== undefined) {
    const rejection = agentRejection(config, incident, agent);
    if (rejection !== undefined) {
      decisions.push(refuse('grant', requestIdOf(event.integration, incident.id, agent), ticket, rejection));
    }
  }
  if (decisions.length === 0) {
    return [
      {
        kind: 'ignore',
        why: `incident ${incident.id} has no acknowledging responder who is assigned and mapped`,
      },
    ];
  }
  return decisions;
}

/**
 * Each acknowledging user with the instant of their first acknowledgement the incident shows, to the second
 * (`2025-03-01T10:00:00Z`): the same on every read-back until the incident is resolved or goes back to
 * triggered, which clear its acknowledgements. An instant PagerDuty wrote otherwise is kept as it came.
 */
function firstAcknowledgements(incident: PagerDutyIncident): Map<string, string> {
  const first = new Map<string, string>();
  for (const { user, at } of incident.acknowledgements) {
    const ms = Date.parse(at);
    const instant = Number.isNaN(ms)
      ? at
      : new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    const seen = first.get(user);
    if (seen === undefined || instant < seen) first.set(user, instant);
  }
  return first;
}

/** The IAM role a PagerDuty user maps to. */
function roleOf(config: PagerDutyWebhook, user: string): string | undefined {
  return config.users.find((u) => u.id === user)?.principal;
}

/** Why the agent the webhook says acknowledged gets nothing, per the read-back; undefined: they get access. */
function agentRejection(
  config: PagerDutyWebhook,
  incident: PagerDutyIncident,
  agent: string,
): Rejection | undefined {
  if (!incident.acknowledgements.some((a) => a.user === agent)) {
    return {
      code: 'APPROVAL_NOT_FOUND',
      reason: `the webhook said ${agent} acknowledged incident #${incident.number}; the incident read back (${incident.status}) shows no acknowledgement by them`,
    };
  }
  if (!incident.assignees.includes(agent)) {
    return {
      code: 'RESPONDER_NOT_ASSIGNED',
      reason: `${agent} acknowledged incident #${incident.number} but is not assigned to it`,
    };
  }
  if (roleOf(config, agent) === undefined) {
    return {
      code: 'RESPONDER_NOT_MAPPED',
      reason: `${agent} is no responder the integration maps to a role`,
    };
  }
  return undefined;
}

function requestIdOf(integration: string, incident: string, user: string | undefined): string {
  return user === undefined ? `${integration}:${incident}` : `${integration}:${incident}:${user}`;
}

/**
 * `PagerDuty incident #<number> (<incident id>) acknowledged by responder <user id>`, with the incident's link
 * when that is shorter than the rules' break-glass minimum. The reason is part of the lease's fingerprint, so it
 * holds nothing that may change during the incident (its title, a responder's name): a read-back after an edit
 * asks for the same grant, not a conflicting one.
 */
function grantReason(incident: PagerDutyIncident, user: string, minLength: number): string {
  const reason = `PagerDuty incident #${incident.number} (${incident.id}) acknowledged by responder ${user}`;
  if (reason.length >= minLength) return reason;
  return plainText(`${reason} ${incident.url}`, MAX_REASON);
}
