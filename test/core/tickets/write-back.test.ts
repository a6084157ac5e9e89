import { describe, expect, it } from 'vitest';
import type { Lease, RequestOrigin } from '../../../functions/core/model';
import * as outcomes from '../../../functions/core/outcomes';
import { ticketOf, writeBackText } from '../../../functions/core/tickets/write-back';

const T0 = Date.parse('2025-03-01T10:00:00Z') / 1000;

const ORIGIN: RequestOrigin = {
  integration: 'jira',
  sender: 'arn:aws:iam::111122223333:role/eks-access-broker-dev-webhook',
  requestedByProof: 'read-back',
  approvedBy: 'jira:acc-bob (Bob Approver)',
};

const LEASE: Lease = {
  requestId: 'jira:ACCESS-12',
  clusterName: 'demo',
  principalArn: 'arn:aws:iam::111122223333:role/dev-carol',
  policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy',
  accessScope: { type: 'namespace', namespaces: ['team-a', 'team-b'] },
  status: 'active',
  breakGlass: false,
  requestedBy: 'jira:acc-carol',
  reason: 'ACCESS-12 approved in Jira',
  ticket: { system: 'jira', key: 'ACCESS-12', url: 'https://example.atlassian.net/browse/ACCESS-12' },
  ruleId: 'developers-view-edit',
  maxDurationSeconds: 28_800,
  durationSeconds: 14_400,
  requestedAt: T0,
  grantedAt: T0,
  expiresAt: T0 + 14_400,
  fingerprint: 'f',
  version: 2,
  origin: ORIGIN,
};

const text = (outcome: outcomes.Outcome, applied?: Parameters<typeof writeBackText>[1]) =>
  writeBackText({ detailType: outcome.detailType, detail: outcome.detail }, applied);

describe('the message written back for a grant', () => {
  it('states the scope EKS holds now, the expiry, and the approver', () => {
    const outcome = outcomes.granted(LEASE, LEASE.accessScope);

    expect(text(outcome, { scope: { type: 'namespace', namespaces: ['team-b', 'team-a'] } })).toBe(
      'Access granted (request jira:ACCESS-12).\n\n' +
        'EKS holds AmazonEKSEditPolicy for arn:aws:iam::111122223333:role/dev-carol on cluster demo, in namespaces team-a, team-b. The broker takes it back at 2025-03-01T14:00:00.000Z.\n\n' +
        'Approved by jira:acc-bob (Bob Approver).',
    );
  });

  it('says so when EKS holds a wider scope than the request asked', () => {
    const outcome = outcomes.granted(LEASE, { type: 'cluster' });

    expect(text(outcome, { scope: { type: 'cluster' } })).toBe(
      'Access granted (request jira:ACCESS-12).\n\n' +
        'EKS holds AmazonEKSEditPolicy for arn:aws:iam::111122223333:role/dev-carol on cluster demo, cluster-wide (asked: in namespaces team-a, team-b). The broker takes it back at 2025-03-01T14:00:00.000Z.\n\n' +
        'Approved by jira:acc-bob (Bob Approver).',
    );
  });

  it('says so when EKS holds nothing of it any more', () => {
    const outcome = outcomes.granted(LEASE, LEASE.accessScope);

    expect(text(outcome, { scope: null })).toBe(
      'Access granted (request jira:ACCESS-12).\n\n' +
        'EKS holds no AmazonEKSEditPolicy for arn:aws:iam::111122223333:role/dev-carol on cluster demo right now (ended since, or changed outside the broker); the grant runs until 2025-03-01T14:00:00.000Z.\n\n' +
        'Approved by jira:acc-bob (Bob Approver).',
    );
  });

  it('states what was granted when EKS was not read', () => {
    const outcome = outcomes.granted(LEASE, LEASE.accessScope);

    expect(text(outcome)).toBe(
      'Access granted (request jira:ACCESS-12).\n\n' +
        'The broker granted AmazonEKSEditPolicy for arn:aws:iam::111122223333:role/dev-carol on cluster demo, in namespaces team-a, team-b, until 2025-03-01T14:00:00.000Z.\n\n' +
        'Approved by jira:acc-bob (Bob Approver).',
    );
  });

  it('states a break-glass grant and who acknowledged, once: its Break Glass Access Granted is not written back', () => {
    const lease: Lease = {
      ...LEASE,
      requestId: 'pagerduty:Q1ABC:PUSR0AL',
      principalArn: 'arn:aws:iam::111122223333:role/oncall-alice',
      policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy',
      accessScope: { type: 'cluster' },
      breakGlass: true,
      reason: 'PagerDuty incident #42 (Q1ABC) acknowledged by responder PUSR0AL',
      expiresAt: T0 + 3600,
      ticket: { system: 'pagerduty', key: 'Q1ABC' },
      origin: { ...ORIGIN, integration: 'pagerduty', approvedBy: 'pagerduty:PUSR0AL' },
    };

    expect(text(outcomes.breakGlassGranted(lease), { scope: { type: 'cluster' } })).toBeUndefined();
    expect(text(outcomes.granted(lease, { type: 'cluster' }), { scope: { type: 'cluster' } })).toBe(
      'Break-glass access granted (request pagerduty:Q1ABC:PUSR0AL).\n\n' +
        'EKS holds AmazonEKSClusterAdminPolicy for arn:aws:iam::111122223333:role/oncall-alice on cluster demo, cluster-wide. The broker takes it back at 2025-03-01T11:00:00.000Z.\n\n' +
        'Acknowledged by pagerduty:PUSR0AL.',
    );
  });
});

describe('the message written back for an extension', () => {
  it('states the new expiry, the previous one, and who extended it', () => {
    const lease = { ...LEASE, expiresAt: T0 + 21_600 };
    const outcome = outcomes.extended(lease, LEASE.expiresAt, {
      ...ORIGIN,
      approvedBy: 'jira:acc-dave (Dave)',
    });

    expect(text(outcome, { scope: LEASE.accessScope })).toBe(
      'Access extended (request jira:ACCESS-12).\n\n' +
        'EKS holds AmazonEKSEditPolicy for arn:aws:iam::111122223333:role/dev-carol on cluster demo, in namespaces team-a, team-b. The broker takes it back at 2025-03-01T16:00:00.000Z.\n\n' +
        'It was until 2025-03-01T14:00:00.000Z; extended by jira:acc-dave (Dave).',
    );
  });

  it('names the integration when the extension had no approver or proof', () => {
    const outcome = outcomes.extended(LEASE, LEASE.expiresAt, {
      integration: 'jira',
      sender: ORIGIN.sender,
      requestedByProof: 'asserted',
    });

    expect(text(outcome, { scope: LEASE.accessScope })?.endsWith('extended by integration jira.')).toBe(true);
  });
});

describe('the message written back for a revocation', () => {
  const ended = (endReason: Lease['endReason'], extra: Partial<Lease> = {}): Lease => ({
    ...LEASE,
    status: 'ended',
    endReason,
    endedAt: T0 + 600,
    ...extra,
  });

  it('says the access expired', () => {
    expect(text(outcomes.revoked(ended('expired', { endedAt: LEASE.expiresAt })))).toBe(
      'Access expired (request jira:ACCESS-12).\n\n' +
        'AmazonEKSEditPolicy for arn:aws:iam::111122223333:role/dev-carol on cluster demo ended at 2025-03-01T14:00:00.000Z and was removed from EKS.',
    );
  });

  it('says who asked for it', () => {
    const by: RequestOrigin = { ...ORIGIN, approvedBy: 'jira:acc-carol (Carol Reporter)' };

    expect(text(outcomes.revoked(ended('requested'), by))).toBe(
      'Access revoked (request jira:ACCESS-12).\n\n' +
        'AmazonEKSEditPolicy for arn:aws:iam::111122223333:role/dev-carol on cluster demo was removed from EKS at 2025-03-01T10:10:00.000Z, as requested by jira:acc-carol (Carol Reporter).',
    );
  });

  it('says a failed grant was rolled back', () => {
    expect(text(outcomes.revoked(ended('failed')))).toBe(
      'Access rolled back (request jira:ACCESS-12).\n\n' +
        'The grant failed, so AmazonEKSEditPolicy for arn:aws:iam::111122223333:role/dev-carol on cluster demo was taken back at 2025-03-01T10:10:00.000Z.',
    );
  });

  it('warns that forgotten access may remain', () => {
    const lease = ended('forgotten', { lastError: 'AccessDeniedException: not authorized' });

    expect(text(outcomes.revoked(lease))).toBe(
      'Access forgotten (request jira:ACCESS-12).\n\n' +
        'Removing AmazonEKSEditPolicy for arn:aws:iam::111122223333:role/dev-carol on cluster demo kept failing (last error: AccessDeniedException: not authorized); an operator told the broker to stop trying at 2025-03-01T10:10:00.000Z.\n\n' +
        'The access may remain in EKS: check it and remove it by hand.',
    );
  });
});

describe('the message written back for a refusal or a failure', () => {
  it('states the rejection code and reason', () => {
    const outcome = outcomes.rejected(
      { code: 'SELF_APPROVAL', reason: 'jira:acc-carol (Carol) reported ACCESS-12 and may not approve it' },
      { requestId: 'jira:ACCESS-12', requestType: 'Access Grant Requested', ticket: LEASE.ticket },
    );

    expect(text(outcome)).toBe(
      'Access request refused (request jira:ACCESS-12).\n\n' +
        'SELF_APPROVAL: jira:acc-carol (Carol) reported ACCESS-12 and may not approve it',
    );
  });

  it('names a refused extension and a refused revocation as such', () => {
    const refused = (requestType: string) =>
      text(
        outcomes.rejected(
          { code: 'UNKNOWN_REQUEST', reason: 'r' },
          { requestId: 'jira:ACCESS-12', requestType },
        ),
      );

    expect(refused('Access Extend Requested')).toBe(
      'Extension refused (request jira:ACCESS-12).\n\nUNKNOWN_REQUEST: r',
    );
    expect(refused('Access Revoke Requested')).toBe(
      'Revocation refused (request jira:ACCESS-12).\n\nUNKNOWN_REQUEST: r',
    );
  });

  it('states why a grant failed', () => {
    expect(
      text(outcomes.grantFailed(LEASE, 'ResourceNotFoundException: No cluster found for name: demo.')),
    ).toBe(
      'Access grant failed (request jira:ACCESS-12).\n\n' +
        'AmazonEKSEditPolicy for arn:aws:iam::111122223333:role/dev-carol on cluster demo could not be applied: ResourceNotFoundException: No cluster found for name: demo.',
    );
  });

  it('states that the broker gave up on a dead-lettered extension', () => {
    const outcome = outcomes.deadLettered(
      {
        kind: 'extend',
        requestId: 'jira:ACCESS-12',
        durationSeconds: 7200,
        requestedBy: 'jira:acc-carol',
        reason: 'more time',
        source: 'eks-access-broker.webhooks',
      },
      'ThrottlingException: Rate exceeded',
    );

    expect(text(outcome)).toBe(
      'Extension failed (request jira:ACCESS-12).\n\n' +
        'The access could not be applied, even after retries: ThrottlingException: Rate exceeded',
    );
  });

  it('warns that access may remain when a revocation failed', () => {
    expect(text(outcomes.revocationFailed(LEASE, 'ThrottlingException: Rate exceeded'))).toBe(
      'Revocation failed (request jira:ACCESS-12).\n\n' +
        'Removing AmazonEKSEditPolicy for arn:aws:iam::111122223333:role/dev-carol on cluster demo failed: ThrottlingException: Rate exceeded\n\n' +
        'The access may remain in EKS until a retry succeeds; the broker keeps retrying and its operators are alerted.',
    );
  });

  it('has nothing to say about drift repairs and unknown outcomes', () => {
    expect(
      writeBackText({ detailType: 'Access Drift Repaired', detail: { requestIds: ['jira:ACCESS-12'] } }),
    ).toBe(undefined);
    expect(writeBackText({ detailType: 'Something Else', detail: {} })).toBe(undefined);
  });

  it('never shows an object where it expects text', () => {
    const message = writeBackText({
      detailType: 'Access Grant Rejected',
      detail: { requestId: { nested: true }, code: 'NOT_ALLOWED', reason: ['a'] },
    });

    expect(message).toBe('Access request refused (request (unknown)).\n\nNOT_ALLOWED: (unknown)');
  });
});

describe('the ticket an outcome answers', () => {
  it('is the ticket and integration of a grant outcome', () => {
    expect(ticketOf(outcomes.granted(LEASE, LEASE.accessScope).detail)).toEqual({
      integration: 'jira',
      system: 'jira',
      key: 'ACCESS-12',
    });
  });

  it("is a lease's ticket and origin, as the app passes them for an outcome that names none", () => {
    expect(ticketOf({ ticket: LEASE.ticket, origin: LEASE.origin })).toEqual({
      integration: 'jira',
      system: 'jira',
      key: 'ACCESS-12',
    });
  });

  it('is none for an outcome without a ticket or without an origin', () => {
    expect(ticketOf({ ticket: undefined, origin: undefined })).toBeUndefined();
    expect(ticketOf({ ticket: LEASE.ticket })).toBeUndefined();
    expect(ticketOf({ ticket: { system: 'jira' }, origin: ORIGIN })).toBeUndefined();
  });
});
