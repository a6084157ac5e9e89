import type { AuditEvent } from '../app/ports';
import { policyName } from '../core/access-policies';
import type { Lease } from '../core/model';

/** One line for people: what happened, to whom, where, until when, or why not. */
export function describeOutcomeDetail(detailType: string, d: Readonly<Record<string, unknown>>): string {
  const principal = String(d.principalArn ?? '').replace(/^arn:[^:]+:iam::\d+:/, '');
  const policy = shownPolicy(String(d.policyArn ?? ''));
  const scope = (d.effectiveScope ?? d.accessScope) as { type?: string; namespaces?: string[] } | undefined;
  const where =
    scope?.type === 'namespace' ? `namespaces ${scope.namespaces?.join(',')}` : scope ? 'cluster-wide' : '';
  const parts = [detailType, d.requestId, principal && `${principal} on ${d.clusterName}`, policy, where];
  if (detailType === 'Access Revoked') parts.push(`(${d.reason}) at ${d.revokedAt}`);
  else if (d.expiresAt) parts.push(`until ${d.expiresAt}`);
  if (d.code) parts.push(`${d.code}: ${d.reason}`);
  if (d.error) parts.push(String(d.error));
  return parts.filter(Boolean).join('  ');
}

export function describeLease(lease: Lease): string {
  const scope =
    lease.accessScope.type === 'cluster'
      ? 'cluster-wide'
      : `namespaces ${lease.accessScope.namespaces.join(',')}`;
  return `${shownPolicy(lease.policyArn)} ${scope} for ${lease.principalArn} on ${lease.clusterName} until ${new Date(lease.expiresAt * 1000).toISOString()}`;
}

/**
 * The first line of a lease's history: whose access it is, where it stands, the ticket it came from, and who
 * asked for it.
 */
export function leaseHeadline(lease: Lease): string {
  return `${lease.requestId}: ${shownPolicy(lease.policyArn)} for ${lease.principalArn} on ${lease.clusterName}, ${lease.status}${ticketOf(lease)}${askedBy(lease)}`;
}

/** `system:key`, as the request named it (`--ticket jira:OPS-1`), and its link when it had one. */
function ticketOf(lease: Lease): string {
  const ticket = lease.ticket;
  if (ticket === undefined) return '';
  return `; ticket ${ticket.system}:${ticket.key}${ticket.url ? ` ${ticket.url}` : ''}`;
}

/** Who asked: the integration, its sender, and whether `requestedBy` was proven by STS or only asserted. */
function askedBy(lease: Lease): string {
  const origin = lease.origin;
  if (origin === undefined) return '';
  const requester =
    origin.requestedByProof === 'proven'
      ? `${lease.requestedBy} (proven: ${origin.provenBy})`
      : origin.requestedByProof === 'read-back'
        ? `${lease.requestedBy} (read back from the ticket, approved by ${origin.approvedBy})`
        : `${lease.requestedBy} (asserted)`;
  return `; asked by ${requester} through ${origin.integration}, sent by ${origin.sender}`;
}

/** Leases with the time they have left at `now` (epoch seconds). */
export function leaseTable(leases: readonly Lease[], now: number): string {
  return table(
    ['REQUEST', 'CLUSTER', 'PRINCIPAL', 'POLICY', 'SCOPE', 'STATUS', 'LEFT'],
    leases.map((lease) => leaseRow(lease, now)),
  );
}

/** An audit trail; a subject's spans its leases, so it names each event's request. */
export function auditTable(
  events: readonly AuditEvent[],
  options: { readonly withRequestId: boolean },
): string {
  const detail = (e: AuditEvent) => (e.detail ? JSON.stringify(e.detail) : '');
  const time = (e: AuditEvent) => new Date(e.at).toISOString();
  return options.withRequestId
    ? table(
        ['TIME', 'REQUEST', 'EVENT', 'BY', 'DETAIL'],
        events.map((e) => [time(e), e.requestId, e.type, e.actor, detail(e)]),
      )
    : table(
        ['TIME', 'EVENT', 'BY', 'DETAIL'],
        events.map((e) => [time(e), e.type, e.actor, detail(e)]),
      );
}

function leaseRow(lease: Lease, now: number): string[] {
  const left = lease.expiresAt - now;
  const scope = lease.accessScope.type === 'cluster' ? 'cluster' : lease.accessScope.namespaces.join(',');
  const status =
    lease.status === 'irrevocable'
      ? `IRREVOCABLE: ${lease.lastError ?? ''}`
      : lease.endReason
        ? `${lease.status} (ending: ${lease.endReason})`
        : lease.status;
  return [
    lease.requestId,
    lease.clusterName,
    lease.principalArn,
    shownPolicy(lease.policyArn),
    scope,
    status,
    left > 0 ? formatSeconds(left) : 'due',
  ];
}

/** The broker stores access-policy ARNs (parseRequest normalizes them); anything else is shown whole. */
function shownPolicy(arn: string): string {
  return policyName(arn) ?? arn;
}

function formatSeconds(total: number): string {
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m > 0
      ? `${m}m${String(s).padStart(2, '0')}s`
      : `${s}s`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
