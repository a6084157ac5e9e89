/**
 * What the broker writes back to a ticket about an outcome of its request: one short plain-text message (a
 * Jira comment, a PagerDuty note) per outcome, paragraphs separated by blank lines. A grant is stated as EKS
 * holds it when the message is written (read back by the app), not as it was asked.
 */
import { policyName } from '../access-policies';
import { DETAIL_TYPES } from '../contract';
import type { AccessScope } from '../model';
import { isRecord } from '../validation';
import { plainText } from './ticket-request';

/** What EKS holds now for the outcome's principal and policy, as the app read it back. */
export interface AppliedAccess {
  /** The association's scope; null: EKS holds no association of the policy for the principal. */
  readonly scope: AccessScope | null;
}

/** Where an outcome is written back: the ticket its request named, of the webhook integration it came through. */
export interface TicketTarget {
  readonly integration: string;
  readonly system: string;
  readonly key: string;
}

type Detail = Readonly<Record<string, unknown>>;

/** The ticket an outcome answers (its `ticket` and `origin.integration`); undefined: not a ticket's outcome. */
export function ticketOf(detail: Detail): TicketTarget | undefined {
  const { ticket, origin } = detail;
  if (!isRecord(ticket) || !isRecord(origin)) return undefined;
  const { system, key } = ticket;
  const { integration } = origin;
  if (typeof system !== 'string' || typeof key !== 'string' || typeof integration !== 'string') {
    return undefined;
  }
  return { integration, system, key };
}

/** The message for an outcome; undefined for an outcome a ticket is not told about. */
export function writeBackText(
  outcome: { readonly detailType: string; readonly detail: Detail },
  applied?: AppliedAccess,
): string | undefined {
  const d = outcome.detail;
  const request = `request ${text(d.requestId)}`;
  switch (outcome.detailType) {
    case 'Access Granted':
      return d.breakGlass === true
        ? message(`Break-glass access granted (${request}).`, holding(d, applied), approval(d))
        : message(`Access granted (${request}).`, holding(d, applied), approval(d));
    // Published with `Access Granted` (which is written back, saying it is break-glass): one message a grant.
    case 'Break Glass Access Granted':
      return undefined;
    case 'Access Extended':
      return message(
        `Access extended (${request}).`,
        holding(d, applied),
        `It was until ${text(d.previousExpiresAt)}; extended by ${who(d.extendedBy)}.`,
      );
    case 'Access Revoked':
      return revokedText(d, request);
    case 'Access Grant Rejected':
      return message(
        `${refusedWhat(d.requestType)} refused (${request}).`,
        `${text(d.code)}: ${text(d.reason)}`,
      );
    case 'Access Grant Failed':
      return message(
        `${d.requestType === DETAIL_TYPES.extend ? 'Extension' : 'Access grant'} failed (${request}).`,
        `${capitalized(access(d))} could not be applied${d.deadLettered === true ? ', even after retries' : ''}: ${text(d.error)}`,
      );
    case 'Access Revocation Failed':
      return message(
        `Revocation failed (${request}).`,
        `Removing ${access(d)} failed: ${text(d.error)}`,
        'The access may remain in EKS until a retry succeeds; the broker keeps retrying and its operators are alerted.',
      );
    default:
      return undefined;
  }
}

function revokedText(d: Detail, request: string): string {
  const at = text(d.revokedAt);
  switch (d.reason) {
    case 'expired':
      return message(
        `Access expired (${request}).`,
        `${capitalized(access(d))} ended at ${at} and was removed from EKS.`,
      );
    case 'requested':
      return message(
        `Access revoked (${request}).`,
        `${capitalized(access(d))} was removed from EKS at ${at}, as requested by ${who(d.revokedBy)}.`,
      );
    case 'failed':
      return message(
        `Access rolled back (${request}).`,
        `The grant failed, so ${access(d)} was taken back at ${at}.`,
      );
    case 'forgotten':
      return message(
        `Access forgotten (${request}).`,
        `Removing ${access(d)} kept failing (last error: ${text(d.lastError)}); an operator told the broker to stop trying at ${at}.`,
        'The access may remain in EKS: check it and remove it by hand.',
      );
    default:
      return message(
        `Access revoked (${request}).`,
        `${capitalized(access(d))} was removed at ${at} (${text(d.reason)}).`,
      );
  }
}

/** What EKS holds, read back (EKS keeps no expiry: the broker ends it); without a read-back, what was granted. */
function holding(d: Detail, applied: AppliedAccess | undefined): string {
  const until = text(d.expiresAt);
  const subject = `${policyOf(d)} for ${text(d.principalArn)} on cluster ${text(d.clusterName)}`;
  if (applied === undefined) {
    return `The broker granted ${subject}, ${scopeText(d.effectiveScope ?? d.accessScope)}, until ${until}.`;
  }
  if (applied.scope === null) {
    return `EKS holds no ${subject} right now (ended since, or changed outside the broker); the grant runs until ${until}.`;
  }
  const held = scopeText(applied.scope);
  const asked = scopeText(d.accessScope);
  const wider = held === asked ? '' : ` (asked: ${asked})`;
  return `EKS holds ${subject}, ${held}${wider}. The broker takes it back at ${until}.`;
}

/** Who approved it, as read back: Jira's approver, or the PagerDuty responder who acknowledged the incident. */
function approval(d: Detail): string | undefined {
  const approvedBy = isRecord(d.origin) ? d.origin.approvedBy : undefined;
  if (typeof approvedBy !== 'string') return undefined;
  const verb = isRecord(d.ticket) && d.ticket.system === 'pagerduty' ? 'Acknowledged by' : 'Approved by';
  return `${verb} ${plainText(approvedBy, MAX_TEXT)}.`;
}

/** Who asked, as the request's origin says: the approver read back, the proven requester, or the integration. */
function who(origin: unknown): string {
  if (!isRecord(origin)) return 'an unnamed requester';
  for (const key of ['approvedBy', 'provenBy'] as const) {
    const value = origin[key];
    if (typeof value === 'string') return plainText(value, MAX_TEXT);
  }
  return `integration ${text(origin.integration)}`;
}

function refusedWhat(requestType: unknown): string {
  if (requestType === DETAIL_TYPES.revoke) return 'Revocation';
  if (requestType === DETAIL_TYPES.extend) return 'Extension';
  return 'Access request';
}

/** `AmazonEKSEditPolicy for <principal> on cluster <name>`, or `the access` when the outcome names none. */
function access(d: Detail): string {
  if (typeof d.principalArn !== 'string') return 'the access';
  return `${policyOf(d)} for ${text(d.principalArn)} on cluster ${text(d.clusterName)}`;
}

function policyOf(d: Detail): string {
  const arn = text(d.policyArn);
  return policyName(arn) ?? arn;
}

function scopeText(scope: unknown): string {
  if (!isRecord(scope)) return 'scope unknown';
  if (scope.type === 'cluster') return 'cluster-wide';
  const namespaces = Array.isArray(scope.namespaces) ? scope.namespaces.map(text).sort().join(', ') : '';
  return `in namespaces ${namespaces}`;
}

const MAX_TEXT = 1024;

/** A detail's value as text: the outcome is the broker's own, but a message never shows `[object Object]`. */
function text(value: unknown): string {
  if (typeof value === 'string') return plainText(value, MAX_TEXT);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '(unknown)';
}

function capitalized(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1);
}

function message(...paragraphs: readonly (string | undefined)[]): string {
  return paragraphs.filter((p) => p !== undefined).join('\n\n');
}
