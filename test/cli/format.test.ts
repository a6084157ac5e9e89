import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../functions/app/ports';
import {
  auditTable,
  describeLease,
  describeOutcomeDetail,
  leaseHeadline,
  leaseTable,
} from '../../functions/cli/format';
import type { Lease } from '../../functions/core/model';

const lease: Lease = {
  requestId: 'REQ-1',
  clusterName: 'demo',
  principalArn: 'arn:aws:iam::111122223333:role/dev',
  policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
  accessScope: { type: 'namespace', namespaces: ['team-a', 'team-b'] },
  status: 'active',
  breakGlass: false,
  requestedBy: 'me',
  reason: 'r',
  ruleId: 'rule-1',
  maxDurationSeconds: 7200,
  durationSeconds: 3600,
  requestedAt: 1_700_000_000,
  expiresAt: 1_700_003_600,
  fingerprint: 'f',
  version: 2,
};

describe('what the CLI prints', () => {
  it('describes an outcome on one line: who, where, until when', () => {
    const line = describeOutcomeDetail('Access Granted', {
      requestId: 'REQ-1',
      clusterName: 'demo',
      principalArn: 'arn:aws:iam::111122223333:role/dev',
      policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
      effectiveScope: { type: 'namespace', namespaces: ['team-a'] },
      expiresAt: '2023-11-14T23:13:20.000Z',
    });

    expect(line).toBe(
      'Access Granted  REQ-1  role/dev on demo  AmazonEKSViewPolicy  namespaces team-a  until 2023-11-14T23:13:20.000Z',
    );
  });

  it('describes a rejection with its code and reason, and a revocation with its reason and time', () => {
    const rejected = describeOutcomeDetail('Access Grant Rejected', {
      requestId: 'REQ-2',
      code: 'NOT_ALLOWED',
      reason: 'no rule allows it',
    });
    const revoked = describeOutcomeDetail('Access Revoked', {
      requestId: 'REQ-1',
      clusterName: 'demo',
      principalArn: 'arn:aws:iam::111122223333:role/dev',
      policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
      accessScope: { type: 'cluster' },
      reason: 'requested',
      revokedAt: '2023-11-14T22:30:00.000Z',
    });

    expect(rejected).toBe('Access Grant Rejected  REQ-2  NOT_ALLOWED: no rule allows it');
    expect(revoked).toBe(
      'Access Revoked  REQ-1  role/dev on demo  AmazonEKSViewPolicy  cluster-wide  (requested) at 2023-11-14T22:30:00.000Z',
    );
  });

  it('describes a lease by its policy name, scope, principal, cluster and end', () => {
    expect(describeLease(lease)).toBe(
      'AmazonEKSViewPolicy namespaces team-a,team-b for arn:aws:iam::111122223333:role/dev on demo until 2023-11-14T23:13:20.000Z',
    );
    expect(leaseHeadline(lease)).toBe(
      'REQ-1: AmazonEKSViewPolicy for arn:aws:iam::111122223333:role/dev on demo, active',
    );
  });

  it('names who asked for a lease: the integration, the sender, and a requester proven or asserted', () => {
    const proven: Lease = {
      ...lease,
      origin: {
        integration: 'self-service',
        sender: '111122223333:com.example.self-service',
        requestedByProof: 'proven',
        provenBy: 'arn:aws:sts::111122223333:assumed-role/dev-bob/bob',
      },
    };
    const asserted: Lease = {
      ...lease,
      origin: {
        integration: 'ticketing',
        sender: 'arn:aws:iam::111122223333:role/ticketing-integration',
        requestedByProof: 'asserted',
      },
    };

    expect(leaseHeadline(proven)).toBe(
      `REQ-1: AmazonEKSViewPolicy for arn:aws:iam::111122223333:role/dev on demo, active; asked by ${lease.requestedBy} (proven: arn:aws:sts::111122223333:assumed-role/dev-bob/bob) through self-service, sent by 111122223333:com.example.self-service`,
    );
    expect(leaseHeadline(asserted)).toBe(
      `REQ-1: AmazonEKSViewPolicy for arn:aws:iam::111122223333:role/dev on demo, active; asked by ${lease.requestedBy} (asserted) through ticketing, sent by arn:aws:iam::111122223333:role/ticketing-integration`,
    );
  });

  it('names the ticket a lease came from, with its link when the request gave one', () => {
    const fromJira: Lease = { ...lease, ticket: { system: 'jira', key: 'OPS-9' } };
    const withLink: Lease = {
      ...lease,
      ticket: { system: 'jira', key: 'ACCESS-1', url: 'https://example.atlassian.net/browse/ACCESS-1' },
    };

    expect(leaseHeadline(fromJira)).toBe(
      'REQ-1: AmazonEKSViewPolicy for arn:aws:iam::111122223333:role/dev on demo, active; ticket jira:OPS-9',
    );
    expect(leaseHeadline(withLink)).toBe(
      'REQ-1: AmazonEKSViewPolicy for arn:aws:iam::111122223333:role/dev on demo, active; ticket jira:ACCESS-1 https://example.atlassian.net/browse/ACCESS-1',
    );
  });

  it('lists leases in aligned columns with the time they have left', () => {
    const irrevocable: Lease = {
      ...lease,
      requestId: 'REQ-2',
      accessScope: { type: 'cluster' },
      status: 'irrevocable',
      lastError: 'AccessDenied',
      expiresAt: 1_700_000_000,
    };

    const text = leaseTable(
      [lease, { ...lease, requestId: 'REQ-3', expiresAt: 1_700_000_090 }, irrevocable],
      1_700_000_000,
    );

    expect(text.split('\n')).toEqual([
      'REQUEST  CLUSTER  PRINCIPAL                           POLICY               SCOPE          STATUS                     LEFT',
      'REQ-1    demo     arn:aws:iam::111122223333:role/dev  AmazonEKSViewPolicy  team-a,team-b  active                     1h00m',
      'REQ-3    demo     arn:aws:iam::111122223333:role/dev  AmazonEKSViewPolicy  team-a,team-b  active                     1m30s',
      'REQ-2    demo     arn:aws:iam::111122223333:role/dev  AmazonEKSViewPolicy  cluster        IRREVOCABLE: AccessDenied  due',
    ]);
  });

  it("names each event's request only in a subject's audit trail, which spans leases", () => {
    const events: AuditEvent[] = [
      { type: 'granted', at: 1_700_000_000_000, actor: 'broker', requestId: 'REQ-1' },
      { type: 'revoked', at: 1_700_000_001_000, actor: 'me', requestId: 'REQ-1', detail: { reason: 'done' } },
    ];

    expect(auditTable(events, { withRequestId: false }).split('\n')).toEqual([
      'TIME                      EVENT    BY      DETAIL',
      '2023-11-14T22:13:20.000Z  granted  broker',
      '2023-11-14T22:13:21.000Z  revoked  me      {"reason":"done"}',
    ]);
    expect(auditTable(events, { withRequestId: true }).split('\n')).toEqual([
      'TIME                      REQUEST  EVENT    BY      DETAIL',
      '2023-11-14T22:13:20.000Z  REQ-1    granted  broker',
      '2023-11-14T22:13:21.000Z  REQ-1    revoked  me      {"reason":"done"}',
    ]);
  });
});
