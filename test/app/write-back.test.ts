import { describe, expect, it } from 'vitest';
import { settleDeadLetter } from '../../functions/app/dead-letter';
import { checkDrift } from '../../functions/app/drift';
import { takeQueued } from '../../functions/app/intake';
import { type OutcomeEvent, writeBack } from '../../functions/app/write-back';
import { RetryableError } from '../../functions/core/errors';
import type { Outcome } from '../../functions/core/outcomes';
import * as outcomes from '../../functions/core/outcomes';
import { unknownRequest } from '../../functions/core/rejections';
import { parseTicketRequest } from '../../functions/core/tickets/ticket-request';
import {
  appDeps,
  type FakeWorld,
  START_MS,
  WEBHOOK_ROLE,
  WEBHOOK_SENDER_ID,
} from '../support/fakes/app-deps';
import {
  APPROVED_BY_BOB,
  APPROVER_GROUP,
  BOB,
  CAROL_ROLE,
  INCIDENT_ID,
  ISSUE_KEY,
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
} from '../support/tickets';
import { grantEvent, send } from './scenario';

const START = START_MS / 1000;
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const REQUEST_ID = `jira:${ISSUE_KEY}`;
const FOUR_HOURS = 4 * 3600;

/** ACCESS-12, approved by Bob, granted through the webhook: Carol's role gets Edit on team-a and team-b for 4 h. */
async function grantedThroughJira(world: FakeWorld): Promise<Outcome> {
  world.tickets.issues.set(ISSUE_KEY, jiraIssue({}, { [JIRA_FIELDS.extensionHours]: 5 }));
  world.tickets.changelogs.set(ISSUE_KEY, [REPORTED, APPROVED_BY_BOB]);
  world.tickets.groups.set(BOB, [APPROVER_GROUP]);
  await ticketEvent(world, jiraEvent());
  const granted = world.outcomes.published.at(-1);
  if (granted?.detailType !== 'Access Granted') throw new Error('ACCESS-12 was not granted');
  return granted;
}

function ticketEvent(world: FakeWorld, detail: unknown) {
  return takeQueued(world.deps, { sqsBody: ticketEventBody(detail), senderId: WEBHOOK_SENDER_ID });
}

/** An outcome as EventBridge delivers it to the write-back queue. */
function delivered(outcome: Outcome): OutcomeEvent {
  return { 'detail-type': outcome.detailType, detail: outcome.detail };
}

describe('write-back', () => {
  it('comments on the Jira issue the scope EKS holds now, wider than the grant asked, and changes nothing', async () => {
    // Arrange: after the Jira grant, the ticketing integration gives the same role Edit cluster-wide.
    const world = appDeps();
    const granted = await grantedThroughJira(world);
    await send(world, grantEvent({ principalArn: CAROL_ROLE, accessScope: { type: 'cluster' } }));
    const mutations = world.emulator.mutations().length;
    const saves = world.table.calls.get('saveLease');
    const vendorCalls = world.tickets.calls.length;

    // Act
    const result = await writeBack(world.deps, delivered(granted));

    // Assert
    expect(result).toEqual({ status: 'written', ticket: { system: 'jira', key: ISSUE_KEY } });
    expect(world.tickets.written.get(ISSUE_KEY)).toEqual([
      `Access granted (request ${REQUEST_ID}).\n\n` +
        `EKS holds AmazonEKSEditPolicy for ${CAROL_ROLE} on cluster demo, cluster-wide (asked: in namespaces team-a, team-b). ` +
        `The broker takes it back at ${iso(START + FOUR_HOURS)}.\n\n` +
        'Approved by jira:acc-bob (Bob Approver).',
    ]);
    expect(world.tickets.calls.slice(vendorCalls)).toEqual([`comment ${ISSUE_KEY}`]);
    expect(world.metrics.total('WrittenBack')).toBe(1);
    expect(world.emulator.mutations()).toHaveLength(mutations);
    expect(world.table.calls.get('saveLease')).toBe(saves);
  });

  it('finds the ticket of a refused revoke, which names none, through its lease', async () => {
    // Arrange
    const world = appDeps();
    await grantedThroughJira(world);
    const revoke = parseTicketRequest('revoke', {
      requestId: REQUEST_ID,
      requestedBy: 'jira:acc-carol',
      reason: `${ISSUE_KEY} moved to Done`,
    });
    if (!revoke.ok) throw new Error(revoke.rejection.reason);
    // A refusal of a revoke, as the use cases publish it: the request and who asked, no ticket.
    const refused = outcomes.rejected(unknownRequest(REQUEST_ID), {
      request: revoke.request,
      caller: { integration: 'jira', sender: WEBHOOK_ROLE },
    });

    // Act
    const result = await writeBack(world.deps, delivered(refused));

    // Assert
    expect(refused.detail.ticket).toBeUndefined();
    expect(result).toEqual({ status: 'written', ticket: { system: 'jira', key: ISSUE_KEY } });
    expect(world.tickets.written.get(ISSUE_KEY)?.at(-1)).toBe(
      `Revocation refused (request ${REQUEST_ID}).\n\nUNKNOWN_REQUEST: No grant with requestId ${REQUEST_ID} is known.`,
    );
  });

  it("does not write another integration's refused revoke of a Jira grant to the Jira issue", async () => {
    // Arrange: the ticketing integration tries to revoke the Jira grant; the refusal names no ticket.
    const world = appDeps();
    await grantedThroughJira(world);
    const revoke = parseTicketRequest('revoke', {
      requestId: REQUEST_ID,
      requestedBy: 'someone',
      reason: 'not mine to end',
    });
    if (!revoke.ok) throw new Error(revoke.rejection.reason);
    const refused = outcomes.rejected(unknownRequest(REQUEST_ID), {
      request: revoke.request,
      caller: { integration: 'ticketing', sender: WEBHOOK_ROLE },
    });

    // Act
    const result = await writeBack(world.deps, delivered(refused));

    // Assert
    expect(result).toEqual({ status: 'skipped', why: 'the outcome is not a ticket request' });
    expect(world.tickets.calls.filter((call) => call.startsWith('comment'))).toEqual([]);
  });

  it('writes an extension approved in Jira past the rule cap back as refused, through the lease', async () => {
    // Arrange: 4 h granted; Bob approves 5 h more, past developers-view-edit's 8 h.
    const world = appDeps();
    await grantedThroughJira(world);
    const issue = world.tickets.issues.get(ISSUE_KEY);
    if (issue === undefined) throw new Error('no issue');
    world.tickets.issues.set(ISSUE_KEY, { ...issue, status: 'Extension Approved' });
    world.tickets.changelogs.set(ISSUE_KEY, [
      REPORTED,
      APPROVED_BY_BOB,
      statusChange('10070', 'Extension Approved', BOB, 'Bob Approver', 'Approved'),
    ]);
    await ticketEvent(world, jiraEvent({ status: 'Extension Approved', user: BOB }, { deliveryId: 'ext-1' }));
    const refused = world.outcomes.published.at(-1);
    if (refused === undefined) throw new Error('no outcome');

    // Act
    const result = await writeBack(world.deps, delivered(refused));

    // Assert
    expect(refused.detail).toMatchObject({
      requestType: 'Access Extend Requested',
      code: 'EXTENSION_CAP_EXCEEDED',
    });
    expect(refused.detail.ticket).toBeUndefined();
    expect(result).toEqual({ status: 'written', ticket: { system: 'jira', key: ISSUE_KEY } });
    expect(world.tickets.written.get(ISSUE_KEY)?.at(-1)).toBe(
      `Extension refused (request ${REQUEST_ID}).\n\n` +
        `EXTENSION_CAP_EXCEEDED: Extending by 18000s would end the lease at ${iso(START + 9 * 3600)}, ` +
        `past the rule's cap of 28800s from the grant (${iso(START + 8 * 3600)}).`,
    );
  });

  it('writes a refused second approval (IDEMPOTENCY_CONFLICT) to the issue', async () => {
    // Arrange: the duration field is edited after the grant and the issue approved again.
    const world = appDeps();
    await grantedThroughJira(world);
    world.tickets.issues.set(ISSUE_KEY, jiraIssue({}, { [JIRA_FIELDS.durationHours]: 8 }));
    await ticketEvent(world, jiraEvent({}, { deliveryId: 'again-1' }));
    const refused = world.outcomes.published.at(-1);
    if (refused === undefined) throw new Error('no outcome');

    // Act
    const result = await writeBack(world.deps, delivered(refused));

    // Assert
    expect(result).toEqual({ status: 'written', ticket: { system: 'jira', key: ISSUE_KEY } });
    expect(world.tickets.written.get(ISSUE_KEY)?.at(-1)).toBe(
      `Access request refused (request ${REQUEST_ID}).\n\n` +
        `IDEMPOTENCY_CONFLICT: requestId ${REQUEST_ID} was already used for a different request; use a new requestId.`,
    );
  });

  it('writes a ticket event that could not be read back on any delivery (TICKET_UNREADABLE) to its issue', async () => {
    // Arrange
    const world = appDeps();
    await settleDeadLetter(world.deps, {
      body: ticketEventBody(jiraEvent()),
      queue: 'requests',
      senderId: WEBHOOK_SENDER_ID,
    });
    const [unreadable] = world.outcomes.published;
    if (unreadable === undefined) throw new Error('no outcome');

    // Act
    const result = await writeBack(world.deps, delivered(unreadable));

    // Assert
    expect(result).toEqual({ status: 'written', ticket: { system: 'jira', key: ISSUE_KEY } });
    expect(world.tickets.written.get(ISSUE_KEY)).toEqual([
      `Access request refused (request ${REQUEST_ID}).\n\n` +
        `TICKET_UNREADABLE: the broker could not read jira ${ISSUE_KEY} back on any delivery, so its latest change was not acted on (access granted for it before, if any, stays until it ends or the ticket changes again): ` +
        'the request failed on every delivery and was moved to a dead-letter queue',
    ]);
  });

  it('notes a break-glass grant on the PagerDuty incident once, with the scope EKS holds and who acknowledged', async () => {
    // Arrange
    const world = appDeps();
    world.tickets.incidents.set(INCIDENT_ID, pagerDutyIncident());
    await ticketEvent(world, pagerDutyEvent());
    const published = world.outcomes.published.map((outcome) => outcome.detailType).sort();

    // Act: both outcomes of the grant reach the write-back queue.
    const results = [];
    for (const outcome of world.outcomes.published)
      results.push(await writeBack(world.deps, delivered(outcome)));

    // Assert
    expect(published).toEqual(['Access Granted', 'Break Glass Access Granted']);
    expect(results.map((result) => result.status).sort()).toEqual(['skipped', 'written']);
    expect(world.tickets.written.get(INCIDENT_ID)).toEqual([
      `Break-glass access granted (request pagerduty:${INCIDENT_ID}:${RESPONDER}:2026-05-28T20:26:30Z).\n\n` +
        `EKS holds AmazonEKSClusterAdminPolicy for ${RESPONDER_ROLE} on cluster demo, cluster-wide. ` +
        `The broker takes it back at ${iso(START + 3600)}.\n\n` +
        `Acknowledged by pagerduty:${RESPONDER}.`,
    ]);
    expect(world.tickets.calls.at(-1)).toBe(`note ${INCIDENT_ID}`);
  });

  it('skips an outcome of the ticketing integration, though it names a Jira ticket, calling no vendor', async () => {
    // Arrange
    const world = appDeps();
    await send(world, grantEvent());
    const [granted] = world.outcomes.published;
    if (granted === undefined) throw new Error('no outcome');

    // Act
    const result = await writeBack(world.deps, delivered(granted));

    // Assert
    expect(granted.detail.ticket).toMatchObject({ system: 'jira', key: 'OPS-1234' });
    expect(result).toEqual({ status: 'skipped', why: 'integration ticketing is no webhook integration' });
    expect(world.tickets.calls).toEqual([]);
    expect(world.tickets.written.size).toBe(0);
  });

  it('skips a drift repair, which answers no ticket request', async () => {
    // Arrange: Carol's entry is deleted by hand under the Jira lease; the drift check puts it back.
    const world = appDeps();
    await grantedThroughJira(world);
    world.emulator.deleteAccessEntry('demo', CAROL_ROLE);
    await checkDrift(world.deps);
    const repaired = world.outcomes.published.at(-1);
    if (repaired?.detailType !== 'Access Drift Repaired') throw new Error('no drift repaired');
    const vendorCalls = world.tickets.calls.length;

    // Act
    const result = await writeBack(world.deps, delivered(repaired));

    // Assert
    expect(result).toEqual({ status: 'skipped', why: 'the outcome is not a ticket request' });
    expect(world.tickets.calls).toHaveLength(vendorCalls);
  });

  it('throws RetryableError while the vendor is down, so the message comes back', async () => {
    // Arrange
    const world = appDeps();
    const granted = await grantedThroughJira(world);
    world.tickets.failNext(1);

    // Act
    const writing = writeBack(world.deps, delivered(granted));

    // Assert
    await expect(writing).rejects.toBeInstanceOf(RetryableError);
    expect(world.tickets.written.get(ISSUE_KEY)).toBeUndefined();
    expect(world.metrics.total('WriteBackFailed')).toBe(0);
  });

  it('drops what the vendor refuses for good, counting WriteBackFailed, without throwing', async () => {
    // Arrange
    const world = appDeps();
    const granted = await grantedThroughJira(world);
    world.tickets.failNext(1, 'permanent');

    // Act
    const result = await writeBack(world.deps, delivered(granted));

    // Assert
    expect(result).toEqual({
      status: 'dropped',
      error: `vendor comment ${ISSUE_KEY} answered 401: the token was refused`,
    });
    expect(world.metrics.total('WriteBackFailed')).toBe(1);
    expect(world.metrics.total('WrittenBack')).toBe(0);
    expect(world.tickets.written.get(ISSUE_KEY)).toBeUndefined();
    expect(world.log.messages('error')).toEqual(['write-back refused by the vendor: dropped']);
  });
});
