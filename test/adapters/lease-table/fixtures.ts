/** What the lease table's tests share: a lease, its audit events, and a lock taken by someone else. */
import { takeLock } from '../../../functions/adapters/lease-table/subject-lock';
import type { TableClient } from '../../../functions/adapters/lease-table/table-client';
import type { AuditEvent } from '../../../functions/app/ports';
import type { Lease, Subject } from '../../../functions/core/model';

export const NOW = 1_780_000_000;
export const DAY = 86_400;
export const SUBJECT: Subject = { clusterName: 'demo', principalArn: 'arn:aws:iam::111122223333:role/dev' };
export const OTHER_SUBJECT: Subject = {
  clusterName: 'demo',
  principalArn: 'arn:aws:iam::111122223333:role/ops',
};

export function aLease(overrides: Partial<Lease> = {}): Lease {
  return {
    requestId: 'req-1',
    ...SUBJECT,
    policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
    accessScope: { type: 'namespace', namespaces: ['team-a', 'team-b'] },
    status: 'active',
    breakGlass: false,
    requestedBy: 'alice@example.com',
    reason: 'debug a failing rollout',
    ticket: { system: 'jira', key: 'OPS-42', url: 'https://jira.example.com/browse/OPS-42' },
    ruleId: 'developers-view',
    maxDurationSeconds: 8 * 3600,
    durationSeconds: 3600,
    requestedAt: NOW,
    grantedAt: NOW + 2,
    expiresAt: NOW + 3600,
    fingerprint: 'fp-1',
    version: 1,
    ...overrides,
  };
}

export function anAudit(
  lease: Lease,
  type: string,
  at: number,
  detail?: Record<string, unknown>,
): AuditEvent {
  return {
    type,
    at,
    actor: 'broker',
    requestId: lease.requestId,
    ...(detail === undefined ? {} : { detail }),
  };
}

export function ended(lease: Lease, endedAt: number): Lease {
  return { ...lease, status: 'ended', endedAt, endReason: 'requested' };
}

/** Takes the subject's lock alone, as another invocation would: true when it was free, expired or `owner`'s. */
export async function acquireLock(
  table: TableClient,
  subject: Subject,
  owner: string,
  now: number,
  ttlSeconds: number,
): Promise<boolean> {
  return (await takeLock(table, subject, owner, now, ttlSeconds)) !== undefined;
}
