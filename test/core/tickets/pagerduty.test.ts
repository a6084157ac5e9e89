import { describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../../functions/core/leases';
import type { GrantRequest, RevokeRequest } from '../../../functions/core/model';
import type { PagerDutyWebhook } from '../../../functions/core/tickets/config';
import type { TicketDecision } from '../../../functions/core/tickets/decision';
import { decidePagerDuty, type PagerDutyInput } from '../../../functions/core/tickets/pagerduty';
import type { PagerDutyIncident } from '../../../functions/core/tickets/read-back';
import type { TicketEvent } from '../../../functions/core/tickets/ticket-event';

const ALICE = 'PUSR0AL';
const BOB = 'PUSR0BO';
const EVE = 'PUSR0EV';

const CONFIG: PagerDutyWebhook = {
  vendor: 'pagerduty',
  secret: '/eks-access-broker/pagerduty/webhook-secret',
  url: 'https://api.pagerduty.com',
  token: '/eks-access-broker/pagerduty/api-key',
  from: 'eks-access-broker@example.com',
  services: [{ id: 'PSVC001', cluster: 'demo' }],
  users: [
    { id: ALICE, principal: 'arn:aws:iam::111122223333:role/oncall-alice' },
    { id: BOB, principal: 'arn:aws:iam::111122223333:role/oncall-bob' },
  ],
  policy: 'AmazonEKSClusterAdminPolicy',
  durationSeconds: 3600,
};

const URL = 'https://example.pagerduty.com/incidents/Q1ABC';

function incident(overrides: Partial<PagerDutyIncident> = {}): PagerDutyIncident {
  return {
    id: 'Q1ABC',
    number: 42,
    title: 'Checkout latency above SLO',
    status: 'acknowledged',
    serviceId: 'PSVC001',
    url: URL,
    assignees: [ALICE],
    acknowledgements: [{ user: ALICE, at: '2025-03-01T10:00:00Z' }],
    ...overrides,
  };
}

function event(type = 'incident.acknowledged', user = ALICE): TicketEvent {
  return {
    integration: 'pagerduty',
    vendor: 'pagerduty',
    deliveryId: '01DEN2HA5ZBQ2KQF9W6XG3X0QK',
    ticket: 'Q1ABC',
    event: type,
    claims: { user },
    receivedAt: '2025-03-01T10:00:01.000Z',
  };
}

function input(overrides: Partial<PagerDutyInput> = {}): PagerDutyInput {
  return { event: event(), config: CONFIG, incident: incident(), minReasonLength: 20, ...overrides };
}

const TICKET = { system: 'pagerduty', key: 'Q1ABC', url: URL };

/** The grant of `user`'s acknowledgement at `at` (the incident's first one by default). */
function grant(user: string, role: string, at = '2025-03-01T10:00:00Z'): GrantRequest {
  return {
    kind: 'grant',
    requestId: `pagerduty:Q1ABC:${user}:${at}`,
    clusterName: 'demo',
    principalArn: `arn:aws:iam::111122223333:role/${role}`,
    policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy',
    accessScope: { type: 'cluster' },
    durationSeconds: 3600,
    requestedBy: `pagerduty:${user}`,
    reason: `PagerDuty incident #42 (Q1ABC) acknowledged by responder ${user}`,
    ticket: TICKET,
    breakGlass: true,
    source: 'eks-access-broker.webhooks',
  };
}

/** The fingerprint the lease of a grant decision would carry. */
function fingerprintOfGrant(decision: TicketDecision | undefined): string {
  return decision?.kind === 'grant' ? fingerprintOf(decision.request) : `no grant: ${decision?.kind}`;
}

/** What a resolved incident asks for `user`: every lease of their role named `pagerduty:Q1ABC:<user>:<at>`. */
function revokeResponder(user: string, role: string): TicketDecision {
  return {
    kind: 'revoke-responder',
    subject: { clusterName: 'demo', principalArn: `arn:aws:iam::111122223333:role/${role}` },
    request: revoke(user),
  };
}

function revoke(user: string): RevokeRequest {
  return {
    kind: 'revoke',
    requestId: `pagerduty:Q1ABC:${user}`,
    requestedBy: 'pagerduty',
    reason: 'PagerDuty incident #42 resolved',
    source: 'eks-access-broker.webhooks',
  };
}

describe('an acknowledged PagerDuty incident', () => {
  it('gives the acknowledging, assigned, mapped responder break-glass access for their own role', () => {
    expect(decidePagerDuty(input())).toEqual([
      { kind: 'grant', request: grant(ALICE, 'oncall-alice'), approvedBy: 'pagerduty:PUSR0AL' },
    ]);
  });

  it('gives every acknowledging responder their own grant, each once', () => {
    const read = incident({
      assignees: [ALICE, BOB],
      acknowledgements: [
        { user: ALICE, at: '2025-03-01T10:00:00Z' },
        { user: BOB, at: '2025-03-01T10:01:00Z' },
        { user: ALICE, at: '2025-03-01T10:02:00Z' },
      ],
    });

    expect(decidePagerDuty(input({ event: event('incident.acknowledged', BOB), incident: read }))).toEqual([
      { kind: 'grant', request: grant(ALICE, 'oncall-alice'), approvedBy: 'pagerduty:PUSR0AL' },
      {
        kind: 'grant',
        request: grant(BOB, 'oncall-bob', '2025-03-01T10:01:00Z'),
        approvedBy: 'pagerduty:PUSR0BO',
      },
    ]);
  });

  it('names each grant by the acknowledgement it answers: the same one read again asks for the same lease, one after a reopen for a new one', () => {
    // Arrange: PagerDuty may write the same instant with milliseconds or an offset.
    const sameAcknowledgement = [
      '2025-03-01T10:00:00Z',
      '2025-03-01T10:00:00.456Z',
      '2025-03-01T11:00:00+01:00',
    ];
    const reopened = incident({ acknowledgements: [{ user: ALICE, at: '2025-03-01T11:30:00Z' }] });

    // Act
    const requestIds = sameAcknowledgement.map((at) => {
      const [decision] = decidePagerDuty(
        input({ incident: incident({ acknowledgements: [{ user: ALICE, at }] }) }),
      );
      return decision?.kind === 'grant' ? decision.request.requestId : decision?.kind;
    });
    const [again] = decidePagerDuty(input({ incident: reopened }));

    // Assert
    expect(new Set(requestIds)).toEqual(new Set(['pagerduty:Q1ABC:PUSR0AL:2025-03-01T10:00:00Z']));
    expect(again).toEqual({
      kind: 'grant',
      request: grant(ALICE, 'oncall-alice', '2025-03-01T11:30:00Z'),
      approvedBy: 'pagerduty:PUSR0AL',
    });
  });

  it('grants on a reopening that came back acknowledged, as the read-back shows it', () => {
    const reopened = incident({ acknowledgements: [{ user: ALICE, at: '2025-03-01T12:00:00Z' }] });

    expect(decidePagerDuty(input({ event: event('incident.reopened'), incident: reopened }))).toEqual([
      {
        kind: 'grant',
        request: grant(ALICE, 'oncall-alice', '2025-03-01T12:00:00Z'),
        approvedBy: 'pagerduty:PUSR0AL',
      },
    ]);
  });

  it('counts a triggered incident that still shows the acknowledgement as open', () => {
    expect(decidePagerDuty(input({ incident: incident({ status: 'triggered' }) }))).toEqual([
      { kind: 'grant', request: grant(ALICE, 'oncall-alice'), approvedBy: 'pagerduty:PUSR0AL' },
    ]);
  });

  it("adds the incident's link when the reason is shorter than the rules' break-glass minimum", () => {
    const [decision] = decidePagerDuty(input({ minReasonLength: 65 }));

    expect(decision).toEqual({
      kind: 'grant',
      request: {
        ...grant(ALICE, 'oncall-alice'),
        reason: `PagerDuty incident #42 (Q1ABC) acknowledged by responder PUSR0AL ${URL}`,
      },
      approvedBy: 'pagerduty:PUSR0AL',
    });
  });

  it("adds no link when the reason is exactly the rules' break-glass minimum", () => {
    const [decision] = decidePagerDuty(input({ minReasonLength: 64 }));

    expect(decision).toEqual({
      kind: 'grant',
      request: grant(ALICE, 'oncall-alice'),
      approvedBy: 'pagerduty:PUSR0AL',
    });
  });

  it('asks for the same grant, fingerprint and all, after the incident is renamed', () => {
    const [before] = decidePagerDuty(input());

    const [after] = decidePagerDuty(
      input({ incident: incident({ title: `Disk\nfull ${'x'.repeat(3000)}` }), minReasonLength: 80 }),
    );
    const [padded] = decidePagerDuty(input({ minReasonLength: 80 }));

    expect(fingerprintOfGrant(before)).toBe(fingerprintOf(grant(ALICE, 'oncall-alice')));
    expect(fingerprintOfGrant(after)).toBe(fingerprintOfGrant(padded));
  });

  it('leaves out an incident link the contract would refuse', () => {
    const [decision] = decidePagerDuty(
      input({ incident: incident({ url: 'http://127.0.0.1:4581/incidents/Q1ABC' }) }),
    );

    expect(decision).toEqual({
      kind: 'grant',
      request: { ...grant(ALICE, 'oncall-alice'), ticket: { system: 'pagerduty', key: 'Q1ABC' } },
      approvedBy: 'pagerduty:PUSR0AL',
    });
  });
});

describe('a PagerDuty responder the read-back does not back', () => {
  it('refuses an acknowledgement the incident read back does not show', () => {
    const read = incident({ status: 'triggered', acknowledgements: [] });

    expect(decidePagerDuty(input({ incident: read }))).toEqual([
      {
        kind: 'refuse',
        rejection: {
          code: 'APPROVAL_NOT_FOUND',
          reason:
            'the webhook said PUSR0AL acknowledged incident #42; the incident read back (triggered) shows no acknowledgement by them',
        },
        requestId: 'pagerduty:Q1ABC:PUSR0AL',
        requestType: 'Access Grant Requested',
        ticket: TICKET,
      },
    ]);
  });

  it('still grants the responders the read-back backs next to the refusal', () => {
    const decisions = decidePagerDuty(input({ event: event('incident.acknowledged', BOB) }));

    expect(decisions.map((d) => (d.kind === 'refuse' ? d.rejection.code : d.kind))).toEqual([
      'grant',
      'APPROVAL_NOT_FOUND',
    ]);
  });

  it('refuses a responder who acknowledged but is not assigned', () => {
    const read = incident({ assignees: [BOB] });

    expect(decidePagerDuty(input({ incident: read }))).toEqual([
      {
        kind: 'refuse',
        rejection: {
          code: 'RESPONDER_NOT_ASSIGNED',
          reason: 'PUSR0AL acknowledged incident #42 but is not assigned to it',
        },
        requestId: 'pagerduty:Q1ABC:PUSR0AL',
        requestType: 'Access Grant Requested',
        ticket: TICKET,
      },
    ]);
  });

  it('refuses a responder the integration does not map to a role', () => {
    const read = incident({
      assignees: [EVE],
      acknowledgements: [{ user: EVE, at: '2025-03-01T10:00:00Z' }],
    });

    expect(decidePagerDuty(input({ event: event('incident.acknowledged', EVE), incident: read }))).toEqual([
      {
        kind: 'refuse',
        rejection: {
          code: 'RESPONDER_NOT_MAPPED',
          reason: 'PUSR0EV is no responder the integration maps to a role',
        },
        requestId: 'pagerduty:Q1ABC:PUSR0EV',
        requestType: 'Access Grant Requested',
        ticket: TICKET,
      },
    ]);
  });

  it('answers only the agent the webhook names: another event of the incident refuses nobody', () => {
    const read = incident({ assignees: [BOB] });

    expect(decidePagerDuty(input({ event: event('incident.reassigned', BOB), incident: read }))).toEqual([
      { kind: 'ignore', why: 'incident Q1ABC has no acknowledging responder who is assigned and mapped' },
    ]);
  });

  it('refuses an incident PagerDuty does not find, for the agent the webhook names', () => {
    expect(decidePagerDuty(input({ incident: undefined }))).toEqual([
      {
        kind: 'refuse',
        rejection: {
          code: 'TICKET_NOT_FOUND',
          reason: "PagerDuty incident Q1ABC was not found, or the broker's API key may not see it",
        },
        requestId: 'pagerduty:Q1ABC:PUSR0AL',
        requestType: 'Access Grant Requested',
        ticket: { system: 'pagerduty', key: 'Q1ABC' },
      },
    ]);
  });

  it('refuses an incident PagerDuty does not find under the incident alone when the webhook names no agent', () => {
    const [decision] = decidePagerDuty(input({ event: { ...event(), claims: {} }, incident: undefined }));

    expect(decision?.kind === 'refuse' && decision.requestId).toBe('pagerduty:Q1ABC');
  });
});

describe('a resolved or unmapped PagerDuty incident', () => {
  it('revokes every user the integration maps, as a resolved incident reads back with nobody assigned or acknowledging', () => {
    const read = incident({ status: 'resolved', assignees: [], acknowledgements: [] });

    expect(decidePagerDuty(input({ event: event('incident.resolved', BOB), incident: read }))).toEqual([
      revokeResponder(ALICE, 'oncall-alice'),
      revokeResponder(BOB, 'oncall-bob'),
    ]);
  });

  it('revokes the mapped users only, each once, whoever the resolved incident still names', () => {
    const config = {
      ...CONFIG,
      users: [...CONFIG.users, { id: ALICE, principal: 'arn:aws:iam::111122223333:role/oncall-alice' }],
    };
    const read = incident({
      status: 'resolved',
      assignees: [EVE],
      acknowledgements: [{ user: EVE, at: '2025-03-01T10:00:00Z' }],
    });

    expect(decidePagerDuty(input({ config, incident: read }))).toEqual([
      revokeResponder(ALICE, 'oncall-alice'),
      revokeResponder(BOB, 'oncall-bob'),
    ]);
  });

  it('ignores a resolved incident when the integration maps no user', () => {
    const read = incident({ status: 'resolved', assignees: [], acknowledgements: [] });

    expect(decidePagerDuty(input({ config: { ...CONFIG, users: [] }, incident: read }))).toEqual([
      { kind: 'ignore', why: 'incident Q1ABC is resolved and the integration maps no responder' },
    ]);
  });

  it('ignores an incident of a service the integration does not map', () => {
    expect(decidePagerDuty(input({ incident: incident({ serviceId: 'PSVC999' }) }))).toEqual([
      { kind: 'ignore', why: 'incident Q1ABC is on service PSVC999, which is not mapped' },
    ]);
  });
});
