import { describe, expect, it } from 'vitest';
import type { Caller, Lease } from '../../functions/core/model';
import { integrationMismatch } from '../../functions/core/rejections';

const BOB_SESSION = 'arn:aws:sts::111122223333:assumed-role/dev-bob/bob-laptop';

function leaseFrom(origin: Lease['origin']): Lease {
  return {
    requestId: 'REQ-1',
    clusterName: 'demo',
    principalArn: 'arn:aws:iam::111122223333:role/dev-bob',
    policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
    accessScope: { type: 'cluster' },
    status: 'active',
    breakGlass: false,
    requestedBy: 'bob',
    reason: 'debugging',
    ruleId: 'developers-self',
    maxDurationSeconds: 3600,
    durationSeconds: 600,
    requestedAt: 1,
    expiresAt: 601,
    fingerprint: 'f',
    version: 2,
    ...(origin ? { origin } : {}),
  };
}

const ticketing: Caller = {
  integration: 'ticketing',
  sender: 'arn:aws:iam::111122223333:role/ticketing-integration',
};

describe('who may revoke or extend a grant', () => {
  it('lets the integration the grant came through revoke it', () => {
    const lease = leaseFrom({
      integration: 'ticketing',
      sender: ticketing.sender,
      requestedByProof: 'asserted',
    });

    expect(integrationMismatch(lease, ticketing)).toBeUndefined();
  });

  it('refuses another integration with INTEGRATION_MISMATCH, naming the grant and its integration', () => {
    const lease = leaseFrom({
      integration: 'oncall',
      sender: '111122223333:com.example.oncall',
      requestedByProof: 'asserted',
    });

    expect(integrationMismatch(lease, ticketing)).toEqual({
      code: 'INTEGRATION_MISMATCH',
      field: 'detail.requestId',
      reason: 'grant REQ-1 came through integration oncall; only it may repeat, revoke or extend it',
    });
  });

  it('lets a proven grant be ended only by a session of the same role, whatever its session name', () => {
    const lease = leaseFrom({
      integration: 'self-service',
      sender: '111122223333:com.example.self-service',
      requestedByProof: 'proven',
      provenBy: BOB_SESSION,
    });
    const caller = (proven?: string): Caller => ({
      integration: 'self-service',
      sender: '111122223333:com.example.self-service',
      ...(proven ? { proven } : {}),
    });

    expect(
      integrationMismatch(lease, caller('arn:aws:sts::111122223333:assumed-role/dev-bob/other-session')),
    ).toBeUndefined();
    expect(
      integrationMismatch(lease, caller('arn:aws:sts::111122223333:assumed-role/dev-alice/bob-laptop'))?.code,
    ).toBe('NOT_SELF');
    expect(integrationMismatch(lease, caller())?.code).toBe('NOT_SELF');
  });

  it('takes any integration for a lease recorded before integrations existed', () => {
    expect(integrationMismatch(leaseFrom(undefined), ticketing)).toBeUndefined();
  });
});
