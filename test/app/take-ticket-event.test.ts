import { describe, expect, it } from 'vitest';
import { sweep } from '../../functions/app/expiry';
import { takeQueued } from '../../functions/app/intake';
import { RetryableError } from '../../functions/core/errors';
import type { RejectionCode } from '../../functions/core/model';
import type { JiraChange, JiraIssue } from '../../functions/core/tickets/read-back';
import {
  appDeps,
  type FakeWorld,
  START_MS,
  WEBHOOK_ROLE,
  WEBHOOK_SENDER_ID,
} from '../support/fakes/app-deps';
import {
  ALICE,
  ALICE_ROLE,
  APPROVED_BY_BOB,
  APPROVER_GROUP,
  afterJiraCall,
  BOB,
  CAROL,
  CAROL_ROLE,
  DAVE,
  INCIDENT_ID,
  INCIDENT_URL,
  ISSUE_KEY,
  ISSUE_URL,
  JIRA_FIELDS,
  jiraEvent,
  jiraIssue,
  pagerDutyEvent,
  pagerDutyIncident,
  REPORTED,
  RESPONDER,
  RESPONDER_ROLE,
  statusChange,
  ticketEventBody,
  UNMAPPED_RESPONDER,
} from '../support/tickets';
import { ADMIN, accessOf, EDIT, grantEvent, namespaces, send } from './scenario';

const START = START_MS / 1000;
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

const REQUEST_ID = `jira:${ISSUE_KEY}`;
const TICKET = { system: 'jira', key: ISSUE_KEY, url: ISSUE_URL };
const FOUR_HOURS = 4 * 3600;
/** The lease's origin: the webhook function sent the hint, the broker read the approval back. */
const APPROVED_BY_BOB_ORIGIN = {
  integration: 'jira',
  sender: WEBHOOK_ROLE,
  requestedByProof: 'read-back',
  approvedBy: 'jira:acc-bob (Bob Approver)',
};
/** A refusal of a ticket names the integration and the webhook function that queued its hint. */
const REFUSED_ORIGIN = { integration: 'jira', sender: WEBHOOK_ROLE, requestedByProof: 'read-back' };
/** The ticketing integration's role, as SQS names it when it sends on the requests queue. */
const TICKETING_SENDER_ID = 'AROAFAKETICKETING01:ticketing';
/** The vendor calls of one read-back of ACCESS-12 approved by Bob: the issue, its changelog, Bob's groups. */
const READ_APPROVED = [`issue ${ISSUE_KEY}`, `changelog ${ISSUE_KEY}`, `groups ${BOB}`];

/** Jira holds `issue` with `changelog`; Bob and Carol are approvers, Alice too, Dave is not. */
function seedJira(
  world: FakeWorld,
  issue: JiraIssue = jiraIssue(),
  changelog: JiraChange[] = [REPORTED, APPROVED_BY_BOB],
): void {
  world.tickets.issues.set(issue.key, issue);
  world.tickets.changelogs.set(issue.key, changelog);
  for (const approver of [ALICE, BOB, CAROL])
    world.tickets.groups.set(approver, ['jira-users', APPROVER_GROUP]);
  world.tickets.groups.set(DAVE, ['jira-users']);
}

/** The issue moved on in Jira: now `status`, by `author`, after what its changelog showed. */
function moveIssue(world: FakeWorld, status: string, change: JiraChange): void {
  const issue = world.tickets.issues.get(ISSUE_KEY);
  if (issue === undefined) throw new Error(`${ISSUE_KEY} is not in the fake Jira`);
  world.tickets.issues.set(ISSUE_KEY, { ...issue, status });
  world.tickets.changelogs.set(ISSUE_KEY, [...(world.tickets.changelogs.get(ISSUE_KEY) ?? []), change]);
}

/** The webhook function queued `detail` on the requests queue; the intake takes it. */
function deliver(world: FakeWorld, detail: unknown) {
  return takeQueued(world.deps, { sqsBody: ticketEventBody(detail), senderId: WEBHOOK_SENDER_ID });
}

/** `Access Grant Rejected` of ACCESS-12's grant, as written back to the issue. */
function jiraRefusal(code: RejectionCode, reason: string) {
  return {
    detailType: 'Access Grant Rejected',
    detail: {
      requestId: REQUEST_ID,
      requestType: 'Access Grant Requested',
      code,
      reason,
      ticket: TICKET,
      origin: REFUSED_ORIGIN,
    },
  };
}

describe('a Jira ticket event', () => {
  it('of an issue approved by an approver grants what its fields ask, with the approver on the lease', async () => {
    // Arrange
    const world = appDeps();
    seedJira(world);

    // Act
    const result = await deliver(world, jiraEvent());

    // Assert
    expect(result).toMatchObject({ status: 'ticket', results: [{ status: 'granted' }] });
    expect(accessOf(world, CAROL_ROLE)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
    expect(world.outcomes.published).toEqual([
      {
        detailType: 'Access Granted',
        detail: {
          requestId: REQUEST_ID,
          clusterName: 'demo',
          principalArn: CAROL_ROLE,
          policyArn: EDIT,
          accessScope: namespaces('team-a', 'team-b'),
          breakGlass: false,
          requestedBy: `jira:${CAROL}`,
          ticket: TICKET,
          origin: APPROVED_BY_BOB_ORIGIN,
          effectiveScope: namespaces('team-a', 'team-b'),
          grantedAt: iso(START),
          expiresAt: iso(START + FOUR_HOURS),
          durationSeconds: FOUR_HOURS,
        },
      },
    ]);
    expect(await world.table.findLease(REQUEST_ID)).toMatchObject({
      status: 'active',
      ruleId: 'developers-view-edit',
      requestedBy: `jira:${CAROL}`,
      reason: `${ISSUE_KEY} approved in Jira`,
      ticket: TICKET,
      origin: APPROVED_BY_BOB_ORIGIN,
      expiresAt: START + FOUR_HOURS,
    });
    // Read back once to decide, and once more after the grant in case the issue closed meanwhile.
    expect(world.tickets.calls).toEqual([...READ_APPROVED, ...READ_APPROVED]);
  });

  it('of an issue approved by its reporter is refused SELF_APPROVAL, though she is an approver', async () => {
    // Arrange
    const world = appDeps();
    seedJira(world, jiraIssue(), [REPORTED, statusChange('10042', 'Approved', CAROL, 'Carol Reporter')]);

    // Act
    const result = await deliver(world, jiraEvent({ status: 'Approved', user: CAROL }));

    // Assert
    const reason = `jira:${CAROL} (Carol Reporter) reported ${ISSUE_KEY} and may not approve it`;
    expect(result).toEqual({
      status: 'ticket',
      results: [{ status: 'rejected', rejection: { code: 'SELF_APPROVAL', reason } }],
    });
    expect(world.outcomes.published).toEqual([jiraRefusal('SELF_APPROVAL', reason)]);
    expect(await world.table.findLease(REQUEST_ID)).toBeUndefined();
    expect(world.emulator.totalCalls()).toBe(0);
  });

  it("approved by an owner of the beneficiary's role is refused SELF_APPROVAL", async () => {
    // Arrange: Carol asks for Alice's role; Alice, its owner in the rules, approves.
    const world = appDeps();
    seedJira(world, jiraIssue({}, { [JIRA_FIELDS.principal]: ALICE_ROLE }), [
      REPORTED,
      statusChange('10042', 'Approved', ALICE, 'Alice Owner'),
    ]);

    // Act
    const result = await deliver(world, jiraEvent({ status: 'Approved', user: ALICE }));

    // Assert
    const reason = `jira:${ALICE} (Alice Owner) owns ${ALICE_ROLE} and may not approve access for it`;
    expect(result).toEqual({
      status: 'ticket',
      results: [{ status: 'rejected', rejection: { code: 'SELF_APPROVAL', reason } }],
    });
    expect(world.outcomes.published).toEqual([jiraRefusal('SELF_APPROVAL', reason)]);
    expect(world.emulator.totalCalls()).toBe(0);
  });

  it('approved by someone outside the approver group is refused APPROVER_NOT_IN_GROUP, after reading their groups', async () => {
    // Arrange
    const world = appDeps();
    seedJira(world, jiraIssue(), [REPORTED, statusChange('10042', 'Approved', DAVE, 'Dave Outsider')]);

    // Act
    const result = await deliver(world, jiraEvent({ status: 'Approved', user: DAVE }));

    // Assert
    const reason = `jira:${DAVE} (Dave Outsider) moved ${ISSUE_KEY} to Approved but is not a member of ${APPROVER_GROUP}`;
    expect(result).toEqual({
      status: 'ticket',
      results: [{ status: 'rejected', rejection: { code: 'APPROVER_NOT_IN_GROUP', reason } }],
    });
    expect(world.outcomes.published).toEqual([jiraRefusal('APPROVER_NOT_IN_GROUP', reason)]);
    expect(world.tickets.calls).toEqual([`issue ${ISSUE_KEY}`, `changelog ${ISSUE_KEY}`, `groups ${DAVE}`]);
    expect(world.emulator.totalCalls()).toBe(0);
  });

  it('claiming an approval the read-back does not show is refused APPROVAL_NOT_FOUND, whatever the webhook said', async () => {
    // Arrange: the webhook says Approved; Jira says the issue still waits.
    const world = appDeps();
    seedJira(world, jiraIssue({ status: 'Waiting for approval' }), [REPORTED]);

    // Act
    const result = await deliver(world, jiraEvent({ status: 'Approved', user: BOB }));

    // Assert
    const reason = `the webhook said ${ISSUE_KEY} moved to Approved; the issue read back is in Waiting for approval`;
    expect(result).toEqual({
      status: 'ticket',
      results: [{ status: 'rejected', rejection: { code: 'APPROVAL_NOT_FOUND', reason } }],
    });
    expect(world.outcomes.published).toEqual([jiraRefusal('APPROVAL_NOT_FOUND', reason)]);
    expect(world.tickets.calls).toEqual([`issue ${ISSUE_KEY}`, `changelog ${ISSUE_KEY}`]);
    expect(world.emulator.totalCalls()).toBe(0);
  });

  it('of an issue Jira answers 404 for is refused TICKET_NOT_FOUND', async () => {
    // Arrange: the fake Jira holds no issue.
    const world = appDeps();

    // Act
    const result = await deliver(world, jiraEvent());

    // Assert
    const reason = `Jira issue ${ISSUE_KEY} was not found, or the broker's account may not see it`;
    expect(result).toEqual({
      status: 'ticket',
      results: [{ status: 'rejected', rejection: { code: 'TICKET_NOT_FOUND', reason } }],
    });
    expect(world.outcomes.published).toEqual([
      {
        ...jiraRefusal('TICKET_NOT_FOUND', reason),
        // The issue was not read, so its link is not known.
        detail: {
          ...jiraRefusal('TICKET_NOT_FOUND', reason).detail,
          ticket: { system: 'jira', key: ISSUE_KEY },
        },
      },
    ]);
    expect(world.tickets.calls).toEqual([`issue ${ISSUE_KEY}`]);
    expect(world.emulator.totalCalls()).toBe(0);
  });

  it('approving the same issue again with the same fields is a duplicate: one lease, one outcome', async () => {
    // Arrange
    const world = appDeps();
    seedJira(world);
    await deliver(world, jiraEvent());
    const eksCalls = world.emulator.totalCalls();

    // Act: another webhook of the same issue (an edit of its summary), another delivery id.
    const result = await deliver(
      world,
      jiraEvent({}, { deliveryId: 'a0b1c2d3-0000-4000-8000-000000000002' }),
    );

    // Assert
    expect(result).toMatchObject({ status: 'ticket', results: [{ status: 'duplicate' }] });
    expect(world.outcomes.types()).toEqual([['Access Granted', REQUEST_ID]]);
    expect(world.emulator.totalCalls()).toBe(eksCalls);
    expect(await world.table.findLease(REQUEST_ID)).toMatchObject({
      status: 'active',
      expiresAt: START + FOUR_HOURS,
    });
  });

  it('approved again with other fields is refused IDEMPOTENCY_CONFLICT, which names the ticket, and keeps the lease', async () => {
    // Arrange: granted for 4 h; then the duration field is edited to 8 h and the issue approved again.
    const world = appDeps();
    seedJira(world);
    await deliver(world, jiraEvent());
    const eksCalls = world.emulator.totalCalls();
    seedJira(world, jiraIssue({}, { [JIRA_FIELDS.durationHours]: 8 }), [
      REPORTED,
      APPROVED_BY_BOB,
      statusChange('10050', 'Waiting for approval', CAROL, 'Carol Reporter', 'Approved'),
      statusChange('10051', 'Approved', BOB, 'Bob Approver'),
    ]);

    // Act
    const result = await deliver(
      world,
      jiraEvent({}, { deliveryId: 'a0b1c2d3-0000-4000-8000-000000000003' }),
    );

    // Assert
    const reason = `requestId ${REQUEST_ID} was already used for a different request; use a new requestId.`;
    expect(result).toEqual({
      status: 'ticket',
      results: [
        {
          status: 'rejected',
          rejection: { code: 'IDEMPOTENCY_CONFLICT', field: 'detail.requestId', reason },
        },
      ],
    });
    expect(world.outcomes.published.at(-1)).toEqual({
      detailType: 'Access Grant Rejected',
      detail: {
        requestId: REQUEST_ID,
        requestType: 'Access Grant Requested',
        code: 'IDEMPOTENCY_CONFLICT',
        field: 'detail.requestId',
        reason,
        clusterName: 'demo',
        principalArn: CAROL_ROLE,
        policyArn: EDIT,
        requestedBy: `jira:${CAROL}`,
        ticket: TICKET,
        origin: APPROVED_BY_BOB_ORIGIN,
      },
    });
    expect(world.outcomes.published).toHaveLength(2);
    expect(world.emulator.totalCalls()).toBe(eksCalls);
    expect(await world.table.findLease(REQUEST_ID)).toMatchObject({
      status: 'active',
      durationSeconds: FOUR_HOURS,
    });
  });

  it('of an issue closed after its grant takes the access back, naming who closed it', async () => {
    // Arrange
    const world = appDeps();
    seedJira(world);
    await deliver(world, jiraEvent());
    world.clock.advance(600);
    moveIssue(world, 'Done', statusChange('10060', 'Done', CAROL, 'Carol Reporter', 'Approved'));

    // Act
    const result = await deliver(
      world,
      jiraEvent({ status: 'Done', user: CAROL }, { deliveryId: 'a0b1c2d3-0000-4000-8000-000000000004' }),
    );

    // Assert
    expect(result).toMatchObject({ status: 'ticket', results: [{ status: 'revoked' }] });
    expect(accessOf(world, CAROL_ROLE)).toBeUndefined();
    expect(world.outcomes.published.at(-1)).toEqual({
      detailType: 'Access Revoked',
      detail: {
        requestId: REQUEST_ID,
        clusterName: 'demo',
        principalArn: CAROL_ROLE,
        policyArn: EDIT,
        accessScope: namespaces('team-a', 'team-b'),
        breakGlass: false,
        requestedBy: `jira:${CAROL}`,
        ticket: TICKET,
        origin: APPROVED_BY_BOB_ORIGIN,
        revokedBy: {
          integration: 'jira',
          sender: WEBHOOK_ROLE,
          requestedByProof: 'read-back',
          approvedBy: 'jira:acc-carol (Carol Reporter)',
        },
        reason: 'requested',
        // A revoked lease ends when it is revoked.
        expiresAt: iso(START + 600),
        revokedAt: iso(START + 600),
      },
    });
    expect(world.outcomes.types()).toEqual([
      ['Access Granted', REQUEST_ID],
      ['Access Revoked', REQUEST_ID],
    ]);
    expect(await world.table.findLease(REQUEST_ID)).toMatchObject({
      status: 'ended',
      endReason: 'requested',
    });
  });

  it('of an issue closed before it was ever granted publishes nothing and calls no EKS API', async () => {
    // Arrange: declined, never approved.
    const world = appDeps();
    seedJira(world, jiraIssue({ status: 'Declined' }), [
      REPORTED,
      statusChange('10043', 'Declined', BOB, 'Bob Approver'),
    ]);

    // Act
    const result = await deliver(world, jiraEvent({ status: 'Declined', user: BOB }));

    // Assert
    expect(result).toEqual({ status: 'ticket', results: [] });
    expect(world.outcomes.published).toEqual([]);
    expect(world.emulator.totalCalls()).toBe(0);
    expect(world.tickets.calls).toEqual([`issue ${ISSUE_KEY}`, `changelog ${ISSUE_KEY}`]);
  });

  it('closed while its grant was being applied is granted, then revoked in the same delivery', async () => {
    // Arrange: the decision reads Approved; Carol closes the issue right after, before the grant is applied
    // (its own closing webhook finds no lease yet).
    const world = appDeps();
    seedJira(world);
    afterJiraCall(world.tickets, `issue ${ISSUE_KEY}`, () =>
      moveIssue(world, 'Done', statusChange('10060', 'Done', CAROL, 'Carol Reporter', 'Approved')),
    );

    // Act
    const result = await deliver(world, jiraEvent());

    // Assert
    expect(result).toMatchObject({
      status: 'ticket',
      results: [{ status: 'granted' }, { status: 'revoked' }],
    });
    expect(world.outcomes.types()).toEqual([
      ['Access Granted', REQUEST_ID],
      ['Access Revoked', REQUEST_ID],
    ]);
    expect(accessOf(world, CAROL_ROLE)).toBeUndefined();
    expect(await world.table.findLease(REQUEST_ID)).toMatchObject({
      status: 'ended',
      endReason: 'requested',
    });
    expect(world.tickets.calls).toEqual([...READ_APPROVED, `issue ${ISSUE_KEY}`, `changelog ${ISSUE_KEY}`]);
  });

  it('whose read after the grant fails is retried, and the redelivery takes back the access of the issue closed meanwhile', async () => {
    // Arrange: the grant is applied; Carol closes the issue; Jira fails the broker's next read.
    const world = appDeps();
    seedJira(world);
    afterJiraCall(world.tickets, `groups ${BOB}`, () => {
      moveIssue(world, 'Done', statusChange('10060', 'Done', CAROL, 'Carol Reporter', 'Approved'));
      world.tickets.failNext(1);
    });
    await expect(deliver(world, jiraEvent())).rejects.toBeInstanceOf(RetryableError);

    // Act: SQS delivers the message again.
    const result = await deliver(world, jiraEvent());

    // Assert
    expect(result).toMatchObject({ status: 'ticket', results: [{ status: 'revoked' }] });
    expect(world.outcomes.types()).toEqual([
      ['Access Granted', REQUEST_ID],
      ['Access Revoked', REQUEST_ID],
    ]);
    expect(accessOf(world, CAROL_ROLE)).toBeUndefined();
  });

  it('approved under a requestId another integration already holds is refused, not taken as that grant', async () => {
    // Arrange: the ticketing integration sent a grant under jira:ACCESS-12, with the content Jira's would have.
    const world = appDeps();
    seedJira(world);
    await send(
      world,
      grantEvent({
        requestId: REQUEST_ID,
        principalArn: CAROL_ROLE,
        requestedBy: `jira:${CAROL}`,
        reason: `${ISSUE_KEY} approved in Jira`,
        ticket: TICKET,
      }),
    );

    // Act
    const result = await deliver(world, jiraEvent());

    // Assert: the approval is answered, and the lease stays the ticketing integration's.
    expect(result).toMatchObject({
      status: 'ticket',
      results: [{ status: 'rejected', rejection: { code: 'INTEGRATION_MISMATCH' } }],
    });
    expect(world.outcomes.published.map((o) => [o.detailType, o.detail.code])).toEqual([
      ['Access Granted', undefined],
      ['Access Grant Rejected', 'INTEGRATION_MISMATCH'],
    ]);
    expect((await world.table.findLease(REQUEST_ID))?.origin?.integration).toBe('ticketing');
  });

  it('with Jira down during the read-back throws RetryableError and changes nothing', async () => {
    // Arrange
    const world = appDeps();
    seedJira(world);
    world.tickets.failNext(1);

    // Act
    const delivery = deliver(world, jiraEvent());

    // Assert
    await expect(delivery).rejects.toBeInstanceOf(RetryableError);
    expect(world.outcomes.published).toEqual([]);
    expect(await world.table.findLease(REQUEST_ID)).toBeUndefined();
    expect(world.emulator.totalCalls()).toBe(0);
  });
});

describe('a ticket event', () => {
  it('from any sender but the webhook function is refused SENDER_NOT_ALLOWED, reading no ticket and calling no EKS API', async () => {
    // Arrange
    const world = appDeps();
    seedJira(world);
    const body = ticketEventBody(jiraEvent());

    // Act
    const fromTicketing = await takeQueued(world.deps, { sqsBody: body, senderId: TICKETING_SENDER_ID });
    const fromNobody = await takeQueued(world.deps, { sqsBody: body, senderId: undefined });

    // Assert
    expect([fromTicketing, fromNobody]).toMatchObject([
      { status: 'rejected', rejection: { code: 'SENDER_NOT_ALLOWED' } },
      { status: 'rejected', rejection: { code: 'SENDER_NOT_ALLOWED' } },
    ]);
    expect(world.outcomes.published).toEqual([
      {
        detailType: 'Access Grant Rejected',
        detail: {
          requestType: 'Ticket Event Received',
          code: 'SENDER_NOT_ALLOWED',
          reason:
            "ticket events are sent only by the broker's webhook function, not by arn:aws:iam::111122223333:role/ticketing-integration",
        },
      },
      {
        detailType: 'Access Grant Rejected',
        detail: {
          requestType: 'Ticket Event Received',
          code: 'SENDER_NOT_ALLOWED',
          reason: "ticket events are sent only by the broker's webhook function, not by an unnamed sender",
        },
      },
    ]);
    expect(world.tickets.calls).toEqual([]);
    expect(world.emulator.totalCalls()).toBe(0);
  });

  it('that is malformed is refused INVALID_ENVELOPE, reading no ticket', async () => {
    // Arrange
    const world = appDeps();
    const { claims: _claims, ...withoutClaims } = jiraEvent();

    // Act
    const result = await deliver(world, withoutClaims);

    // Assert
    expect(result).toEqual({
      status: 'rejected',
      rejection: {
        code: 'INVALID_ENVELOPE',
        reason:
          'the ticket event is malformed: expected integration, vendor, deliveryId, ticket, event, claims',
      },
    });
    expect(world.outcomes.published.map((o) => [o.detailType, o.detail.code, o.detail.requestType])).toEqual([
      ['Access Grant Rejected', 'INVALID_ENVELOPE', 'Ticket Event Received'],
    ]);
    expect(world.tickets.calls).toEqual([]);
  });

  it('naming no webhook integration of the rules, or another vendor than its own, is refused INVALID_ENVELOPE', async () => {
    // Arrange
    const world = appDeps();

    // Act
    const unknown = await deliver(world, jiraEvent({}, { integration: 'servicenow' }));
    const notWebhook = await deliver(world, jiraEvent({}, { integration: 'ticketing' }));
    const otherVendor = await deliver(world, jiraEvent({}, { integration: 'pagerduty' }));

    // Assert
    expect([unknown, notWebhook, otherVendor]).toEqual([
      {
        status: 'rejected',
        rejection: {
          code: 'INVALID_ENVELOPE',
          field: 'detail.integration',
          reason: 'the access rules have no jira webhook integration "servicenow"',
        },
      },
      {
        status: 'rejected',
        rejection: {
          code: 'INVALID_ENVELOPE',
          field: 'detail.integration',
          reason: 'the access rules have no jira webhook integration "ticketing"',
        },
      },
      {
        status: 'rejected',
        rejection: {
          code: 'INVALID_ENVELOPE',
          field: 'detail.integration',
          reason: 'the access rules have no jira webhook integration "pagerduty"',
        },
      },
    ]);
    expect(world.outcomes.published).toHaveLength(3);
    expect(world.tickets.calls).toEqual([]);
  });
});

describe('a PagerDuty ticket event', () => {
  /** One lease per acknowledgement: the incident's (pagerDutyIncident) was at 2026-05-28T20:26:30Z. */
  const requestId = `pagerduty:${INCIDENT_ID}:${RESPONDER}:2026-05-28T20:26:30Z`;
  const resolvedIncident = () =>
    pagerDutyIncident({ status: 'resolved', assignees: [], acknowledgements: [] });
  const incidentTicket = { system: 'pagerduty', key: INCIDENT_ID, url: INCIDENT_URL };
  const reason = `PagerDuty incident #42 (${INCIDENT_ID}) acknowledged by responder ${RESPONDER}`;

  it('acknowledged by a mapped, assigned responder gives their role break-glass admin on the service cluster', async () => {
    // Arrange
    const world = appDeps();
    world.tickets.incidents.set(INCIDENT_ID, pagerDutyIncident());

    // Act
    const result = await deliver(world, pagerDutyEvent());

    // Assert
    expect(result).toMatchObject({ status: 'ticket', results: [{ status: 'granted' }] });
    expect(accessOf(world, RESPONDER_ROLE)).toEqual([[ADMIN, { type: 'cluster' }]]);
    const lease = {
      requestId,
      clusterName: 'demo',
      principalArn: RESPONDER_ROLE,
      policyArn: ADMIN,
      accessScope: { type: 'cluster' },
      breakGlass: true,
      requestedBy: `pagerduty:${RESPONDER}`,
      ticket: incidentTicket,
      origin: {
        integration: 'pagerduty',
        sender: WEBHOOK_ROLE,
        requestedByProof: 'read-back',
        approvedBy: `pagerduty:${RESPONDER}`,
      },
    };
    expect(world.outcomes.published).toEqual([
      {
        detailType: 'Access Granted',
        detail: {
          ...lease,
          effectiveScope: { type: 'cluster' },
          grantedAt: iso(START),
          expiresAt: iso(START + 3600),
          durationSeconds: 3600,
        },
      },
      {
        detailType: 'Break Glass Access Granted',
        detail: { ...lease, reason, expiresAt: iso(START + 3600) },
      },
    ]);
    expect(await world.table.findLease(requestId)).toMatchObject({
      status: 'active',
      ruleId: 'pagerduty-break-glass-admin',
      reason,
    });
    expect(world.tickets.calls).toEqual([`incident ${INCIDENT_ID}`]);
  });

  it('resolved takes the responder’s access back', async () => {
    // Arrange
    const world = appDeps();
    world.tickets.incidents.set(INCIDENT_ID, pagerDutyIncident());
    await deliver(world, pagerDutyEvent());
    // A resolved incident reads back with no assignments and no acknowledgements.
    world.tickets.incidents.set(
      INCIDENT_ID,
      pagerDutyIncident({ status: 'resolved', assignees: [], acknowledgements: [] }),
    );

    // Act
    const result = await deliver(
      world,
      pagerDutyEvent('incident.resolved', RESPONDER, { deliveryId: '01DZQ7M0X0WQ3KJ5TAEKD1YQ0C' }),
    );

    // Assert
    expect(result).toMatchObject({ status: 'ticket', results: [{ status: 'revoked' }] });
    expect(accessOf(world, RESPONDER_ROLE)).toBeUndefined();
    expect(world.outcomes.types()).toEqual([
      ['Access Granted', requestId],
      ['Break Glass Access Granted', requestId],
      ['Access Revoked', requestId],
    ]);
    expect(await world.table.findLease(requestId)).toMatchObject({ status: 'ended', endReason: 'requested' });
  });

  it('gives access again to a responder who acknowledges the reopened incident, and the next resolve takes it back', async () => {
    // Arrange: acknowledged, resolved, then reopened and acknowledged again an hour later.
    const world = appDeps();
    world.tickets.incidents.set(INCIDENT_ID, pagerDutyIncident());
    await deliver(world, pagerDutyEvent());
    world.tickets.incidents.set(INCIDENT_ID, resolvedIncident());
    await deliver(world, pagerDutyEvent('incident.resolved'));
    const second = `pagerduty:${INCIDENT_ID}:${RESPONDER}:2026-05-28T21:30:00Z`;
    world.tickets.incidents.set(
      INCIDENT_ID,
      pagerDutyIncident({ acknowledgements: [{ user: RESPONDER, at: '2026-05-28T21:30:00Z' }] }),
    );

    // Act
    const again = await deliver(world, pagerDutyEvent());
    const during = accessOf(world, RESPONDER_ROLE);
    world.tickets.incidents.set(INCIDENT_ID, resolvedIncident());
    const resolvedAgain = await deliver(world, pagerDutyEvent('incident.resolved'));

    // Assert
    expect(again).toMatchObject({ status: 'ticket', results: [{ status: 'granted' }] });
    expect(during).toEqual([[ADMIN, { type: 'cluster' }]]);
    expect(resolvedAgain).toMatchObject({ status: 'ticket', results: [{ status: 'revoked' }] });
    expect(accessOf(world, RESPONDER_ROLE)).toBeUndefined();
    expect(world.outcomes.types()).toEqual([
      ['Access Granted', requestId],
      ['Break Glass Access Granted', requestId],
      ['Access Revoked', requestId],
      ['Access Granted', second],
      ['Break Glass Access Granted', second],
      ['Access Revoked', second],
    ]);
  });

  it('does not grant again a lease that ran out while the same acknowledgement stands', async () => {
    // Arrange: the break-glass hour runs out while the incident is still acknowledged.
    const world = appDeps();
    world.tickets.incidents.set(INCIDENT_ID, pagerDutyIncident());
    await deliver(world, pagerDutyEvent());
    world.clock.advance(3600 + 5);
    await sweep(world.deps);

    // Act: another webhook of the incident (the acknowledgement delivered again, a note, an escalation).
    const later = await deliver(world, pagerDutyEvent());

    // Assert
    expect(later).toMatchObject({ status: 'ticket', results: [{ status: 'duplicate' }] });
    expect(accessOf(world, RESPONDER_ROLE)).toBeUndefined();
    expect(world.outcomes.types().map(([type]) => type)).toEqual([
      'Access Granted',
      'Break Glass Access Granted',
      'Access Revoked',
    ]);
  });

  it('acknowledged by a responder the integration does not map is refused RESPONDER_NOT_MAPPED', async () => {
    // Arrange
    const world = appDeps();
    world.tickets.incidents.set(
      INCIDENT_ID,
      pagerDutyIncident({
        assignees: [UNMAPPED_RESPONDER],
        acknowledgements: [{ user: UNMAPPED_RESPONDER, at: '2026-05-28T20:26:30Z' }],
      }),
    );

    // Act
    const result = await deliver(world, pagerDutyEvent('incident.acknowledged', UNMAPPED_RESPONDER));

    // Assert
    const why = `${UNMAPPED_RESPONDER} is no responder the integration maps to a role`;
    expect(result).toEqual({
      status: 'ticket',
      results: [{ status: 'rejected', rejection: { code: 'RESPONDER_NOT_MAPPED', reason: why } }],
    });
    expect(world.outcomes.published).toEqual([
      {
        detailType: 'Access Grant Rejected',
        detail: {
          requestId: `pagerduty:${INCIDENT_ID}:${UNMAPPED_RESPONDER}`,
          requestType: 'Access Grant Requested',
          code: 'RESPONDER_NOT_MAPPED',
          reason: why,
          ticket: incidentTicket,
          origin: { integration: 'pagerduty', sender: WEBHOOK_ROLE, requestedByProof: 'read-back' },
        },
      },
    ]);
    expect(world.emulator.totalCalls()).toBe(0);
  });
});
