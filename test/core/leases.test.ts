import { describe, expect, it } from 'vitest';
import { backoffSeconds } from '../../functions/app/revocation';
import {
  activate,
  end,
  extend,
  fingerprintOf,
  needsAccess,
  newLease,
  wantedAccess,
} from '../../functions/core/leases';
import type { ExtendRequest, GrantRequest, Lease } from '../../functions/core/model';
import { TICKETING_CALLER } from '../support/callers';

const T0 = 1_800_000_000;

const request: GrantRequest = {
  kind: 'grant',
  requestId: 'OPS-1',
  clusterName: 'demo',
  principalArn: 'arn:aws:iam::111122223333:role/dev',
  policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
  accessScope: { type: 'namespace', namespaces: ['a'] },
  durationSeconds: 3600,
  requestedBy: 'alice',
  reason: 'debugging',
  breakGlass: false,
  source: 'com.example.ticketing',
};

function extendBy(seconds: number, reason = 'more time'): ExtendRequest {
  return {
    kind: 'extend',
    requestId: 'OPS-1',
    durationSeconds: seconds,
    requestedBy: 'alice',
    reason,
    source: 's',
  };
}

function activeLease(grantedAt = T0, maxDurationSeconds = 4 * 3600): Lease {
  return activate(
    newLease(request, { ruleId: 'r', maxDurationSeconds }, grantedAt - 1, TICKETING_CALLER),
    grantedAt,
  );
}

describe('fingerprintOf', () => {
  const ticket = { system: 'jira', key: 'OPS-1', url: 'https://jira.example.com/browse/OPS-1' };
  const withTicket: GrantRequest = { ...request, ticket };

  it('is the same for the same content in any field order, and ignores the source', () => {
    // Every object, nested ones included, with its keys in reverse order.
    const reversed = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(reversed)
        : value && typeof value === 'object'
          ? Object.fromEntries(
              Object.entries(value)
                .reverse()
                .map(([k, v]) => [k, reversed(v)]),
            )
          : value;
    const reordered = reversed(withTicket) as GrantRequest;

    expect(Object.keys(reordered.accessScope)).toEqual(['namespaces', 'type']);
    expect(fingerprintOf(reordered)).toBe(fingerprintOf(withTicket));
    expect(fingerprintOf({ ...withTicket, source: 'other' })).toBe(fingerprintOf(withTicket));
  });

  it.each<[string, Partial<GrantRequest>]>([
    ['clusterName', { clusterName: 'other' }],
    ['principalArn', { principalArn: 'arn:aws:iam::111122223333:role/other' }],
    ['policyArn', { policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy' }],
    ['accessScope', { accessScope: { type: 'namespace', namespaces: ['b'] } }],
    ['durationSeconds', { durationSeconds: 60 }],
    ['requestedBy', { requestedBy: 'bob' }],
    ['reason', { reason: 'other' }],
    ['ticket', { ticket: { ...ticket, key: 'OPS-2' } }],
    ['breakGlass', { breakGlass: true }],
  ])('changes when %s changes', (_field, change) => {
    expect(fingerprintOf({ ...withTicket, ...change })).not.toBe(fingerprintOf(withTicket));
  });
});

describe('expiry with a fake clock', () => {
  it('starts the duration at the grant, not at the request', () => {
    const lease = activeLease(T0 + 30);

    expect(lease.grantedAt).toBe(T0 + 30);
    expect(lease.expiresAt).toBe(T0 + 30 + 3600);
  });

  it('needs its access until the second it expires, and never once ended', () => {
    const lease = activeLease();

    expect(needsAccess(lease, T0 + 3599)).toBe(true);
    expect(needsAccess(lease, T0 + 3600)).toBe(false);
    expect(needsAccess(end(lease, 'requested', T0 + 10), T0 + 11)).toBe(false);
    expect(wantedAccess([lease, end(activeLease(), 'expired', T0)], T0 + 1)).toEqual([
      { policyArn: request.policyArn, accessScope: request.accessScope },
    ]);
  });
});

describe('extend', () => {
  it('moves the expiry by the added seconds', () => {
    const result = extend(activeLease(), extendBy(1800), T0);

    expect(result).toMatchObject({ ok: true, lease: { expiresAt: T0 + 5400, durationSeconds: 5400 } });
  });

  it('is capped by the rule maximum counted from the first grant, however many extensions', () => {
    const first = extend(activeLease(T0, 2 * 3600), extendBy(3600), T0);
    if (!first.ok) throw new Error('first extension should pass');

    const second = extend(first.lease, extendBy(1), T0);

    expect(first.lease.expiresAt).toBe(T0 + 7200);
    expect(second).toMatchObject({
      ok: false,
      rejection: { code: 'EXTENSION_CAP_EXCEEDED', field: 'detail.durationSeconds' },
    });
  });

  it('refuses a lease that is not active or is being revoked', () => {
    const ended = extend(end(activeLease(), 'expired', T0 + 3600), extendBy(60), T0 + 3600);
    const revoking = extend({ ...activeLease(), endReason: 'requested' }, extendBy(60), T0);

    expect(ended).toMatchObject({ ok: false, rejection: { code: 'LEASE_NOT_ACTIVE' } });
    expect(revoking).toMatchObject({ ok: false, rejection: { code: 'LEASE_NOT_ACTIVE' } });
  });

  it('refuses a lease that has expired but is not revoked yet, from the second it expires', () => {
    const lastSecond = extend(activeLease(), extendBy(60), T0 + 3599);
    const expired = extend(activeLease(), extendBy(60), T0 + 3600);

    expect(lastSecond).toMatchObject({ ok: true, lease: { expiresAt: T0 + 3660 } });
    expect(expired).toMatchObject({ ok: false, rejection: { code: 'LEASE_NOT_ACTIVE' } });
  });
});

describe('backoffSeconds', () => {
  it('doubles per attempt with jitter between half and all of it, capped at five minutes', () => {
    const low = [1, 2, 3, 4, 5, 6, 9].map((n) => backoffSeconds(n, () => 0));
    const high = [1, 2, 3, 4, 5, 6, 9].map((n) => backoffSeconds(n, () => 1));

    expect(low).toEqual([5, 10, 20, 40, 80, 150, 150]);
    expect(high).toEqual([10, 20, 40, 80, 160, 300, 300]);
  });
});
