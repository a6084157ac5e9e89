import { describe, expect, it } from 'vitest';
import { type DeadLetter, settleDeadLetter } from '../../functions/app/dead-letter';
import { sweep } from '../../functions/app/expiry';
import { takeQueued } from '../../functions/app/intake';
import { RetryableError } from '../../functions/core/errors';
import { appDeps, START_MS, WEBHOOK_ROLE, WEBHOOK_SENDER_ID } from '../support/fakes/app-deps';
import { aProof } from '../support/proofs';
import {
  APPROVED_BY_BOB,
  APPROVER_GROUP,
  afterJiraCall,
  BOB,
  ISSUE_KEY,
  jiraEvent,
  jiraIssue,
  REPORTED,
  ticketEventBody,
} from '../support/tickets';
import {
  accessOf,
  auditTypes,
  DEVELOPER,
  EDIT,
  extendEvent,
  grantEvent,
  namespaces,
  ONCALL,
  requestIdOf,
  revokeEvent,
  SAMPLE_SECONDS,
  send,
} from './scenario';

const START = START_MS / 1000;

/** What a Lambda on-failure destination delivers: the event, and the last error of its invocations. */
function destinationRecord(event: unknown, errorMessage: string): string {
  return JSON.stringify({
    version: '1.0',
    requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3 },
    requestPayload: event,
    responsePayload: { errorType: 'RetryableError', errorMessage },
  });
}

/** A dead letter of the intake-events queue (EventBridge's and Lambda's on-failure deliveries), or of `queue`. */
function letter(body: string, queue: DeadLetter['queue'] = 'intake-events'): DeadLetter {
  return { body, queue, senderId: undefined };
}

describe('dead letter', () => {
  it('leaves a lost expiry timer to the sweeper, publishing nothing', async () => {
    // Arrange
    const world = appDeps();

    // Act
    const result = await settleDeadLetter(
      world.deps,
      letter(JSON.stringify({ requestId: 'R-1', expiresAt: START }), 'timers'),
    );

    // Assert
    expect(result).toEqual({ status: 'timer', requestId: 'R-1' });
    expect(world.outcomes.published).toEqual([]);
    expect(world.metrics.total('RequestsDeadLettered')).toBe(1);
  });

  it('rejects a body that is no request at all, as the intake would have', async () => {
    // Arrange
    const world = appDeps();

    // Act
    const result = await settleDeadLetter(world.deps, letter(JSON.stringify({ hello: 'world' })));

    // Assert
    expect(result).toMatchObject({ status: 'rejected', rejection: { code: 'INVALID_ENVELOPE' } });
    expect(world.outcomes.published.map((o) => [o.detailType, o.detail.code])).toEqual([
      ['Access Grant Rejected', 'INVALID_ENVELOPE'],
    ]);
  });

  describe('a grant', () => {
    it('whose access EKS refuses for good ends with Access Grant Failed, carrying both errors', async () => {
      // Arrange: every delivery found EKS failing; the lease stayed pending; now EKS refuses the principal.
      const world = appDeps();
      const event = grantEvent();
      const requestId = requestIdOf(event);
      world.emulator.faults.configure({ serverErrorRate: 1, operations: ['CreateAccessEntry'] });
      await expect(send(world, event)).rejects.toMatchObject({ name: 'RetryableError' });
      world.emulator.faults.configure({});
      world.emulator.setPrincipalMissing(DEVELOPER);

      // Act
      const result = await settleDeadLetter(world.deps, letter(destinationRecord(event, 'EKS kept failing')));

      // Assert
      expect(result).toEqual({ status: 'failed', requestId });
      expect(world.outcomes.published).toEqual([
        {
          detailType: 'Access Grant Failed',
          detail: expect.objectContaining({
            requestId,
            deadLettered: true,
            error: expect.stringMatching(/InvalidParameterException.*\(EKS kept failing\)$/),
          }),
        },
      ]);
      expect(await world.table.findLease(requestId)).toMatchObject({ status: 'ended', endReason: 'failed' });
      expect(world.table.history(requestId).at(-1)).toMatchObject({ type: 'failed', actor: 'dead-letter' });
      expect(accessOf(world, DEVELOPER)).toBeUndefined();
    });

    it('whose access was never applied (EKS down on every delivery) is completed once EKS answers', async () => {
      // Arrange
      const world = appDeps();
      const event = grantEvent();
      const requestId = requestIdOf(event);
      world.emulator.faults.configure({ serverErrorRate: 1, operations: ['CreateAccessEntry'] });
      await expect(send(world, event)).rejects.toMatchObject({ name: 'RetryableError' });
      world.emulator.faults.configure({});

      // Act
      const result = await settleDeadLetter(world.deps, letter(destinationRecord(event, 'EKS kept failing')));

      // Assert: what the grant's next delivery would have done; nothing tells the requester it failed.
      expect(result).toMatchObject({ status: 'granted', lease: { requestId, status: 'active' } });
      expect(world.outcomes.published.map((o) => o.detailType)).toEqual(['Access Granted']);
      expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
      expect(world.table.history(requestId).at(-1)).toMatchObject({ type: 'granted', actor: 'dead-letter' });
    });

    it('whose access was applied (and may have been announced) is completed as granted, never taken back', async () => {
      // Arrange: EKS took the grant, then publishing its outcome failed on every delivery.
      const world = appDeps();
      const event = grantEvent();
      const requestId = requestIdOf(event);
      world.outcomes.failNext();
      await expect(send(world, event)).rejects.toMatchObject({ name: 'RetryableError' });
      const applied = accessOf(world, DEVELOPER);

      // Act
      const result = await settleDeadLetter(world.deps, letter(JSON.stringify(event)));

      // Assert
      expect(applied).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
      expect(result).toMatchObject({ status: 'granted', lease: { requestId, status: 'active' } });
      expect(accessOf(world, DEVELOPER)).toEqual(applied);
      expect(world.outcomes.published.map((o) => [o.detailType, o.detail.requestId])).toEqual([
        ['Access Granted', requestId],
      ]);
      expect(auditTypes(world, requestId)).toEqual(['requested', 'granted']);
      expect(world.table.history(requestId).at(-1)).toMatchObject({ type: 'granted', actor: 'dead-letter' });
    });

    it('that was granted after all is settled, with nothing more published', async () => {
      // Arrange
      const world = appDeps();
      const event = grantEvent();
      await send(world, event);

      // Act
      const result = await settleDeadLetter(world.deps, letter(JSON.stringify(event)));

      // Assert
      expect(result).toMatchObject({ status: 'settled', lease: { status: 'active' } });
      expect(world.outcomes.published.map((o) => o.detailType)).toEqual(['Access Granted']);
    });

    it('reusing the requestId of another grant is answered IDEMPOTENCY_CONFLICT', async () => {
      // Arrange
      const world = appDeps();
      const event = grantEvent();
      await send(world, event);

      // Act
      const result = await settleDeadLetter(
        world.deps,
        letter(JSON.stringify(grantEvent({ requestId: requestIdOf(event), durationSeconds: 60 }))),
      );

      // Assert
      expect(result).toMatchObject({ status: 'rejected', rejection: { code: 'IDEMPOTENCY_CONFLICT' } });
      expect((await world.table.findLease(requestIdOf(event)))?.status).toBe('active');
    });

    it('never recorded gets its failure, recorded so that the same request sent again is a duplicate of it; or the rules refusal when the rules refuse it', async () => {
      // Arrange
      const world = appDeps();
      const allowed = grantEvent();
      const refused = grantEvent({
        principalArn: ONCALL,
        policyArn: 'AmazonEKSClusterAdminPolicy',
        accessScope: { type: 'cluster' },
      });

      // Act
      const failed = await settleDeadLetter(world.deps, letter(JSON.stringify(allowed)));
      const rejected = await settleDeadLetter(world.deps, letter(JSON.stringify(refused)));
      // The requester sends the failed request again (found by the simulator: it was granted, then revoked at
      // its expiry, after its failure had been announced).
      const again = await send(world, { ...allowed, id: crypto.randomUUID() });

      // Assert
      expect(failed).toEqual({ status: 'failed', requestId: requestIdOf(allowed) });
      // Cluster admin is outside the ticketing integration's ceiling.
      expect(rejected).toMatchObject({ status: 'rejected', rejection: { code: 'NOT_ALLOWED' } });
      expect(
        world.outcomes.published.map((o) => [o.detailType, o.detail.requestId, o.detail.deadLettered]),
      ).toEqual([
        ['Access Grant Failed', requestIdOf(allowed), true],
        ['Access Grant Rejected', requestIdOf(refused), undefined],
      ]);
      expect(again.status).toBe('duplicate');
      expect(await world.table.findLease(requestIdOf(allowed))).toMatchObject({
        status: 'ended',
        endReason: 'failed',
        ruleId: 'developers-view-edit',
      });
      expect(auditTypes(world, requestIdOf(allowed))).toEqual(['failing', 'failed']);
      expect(await world.table.findLease(requestIdOf(refused))).toBeUndefined();
      expect(world.emulator.mutations()).toEqual([]);
    });
  });

  describe('a revocation', () => {
    it('of a live lease is answered Access Revocation Failed and handed to the sweeper, which revokes it', async () => {
      // Arrange
      const world = appDeps();
      const event = grantEvent();
      const requestId = requestIdOf(event);
      await send(world, event);
      world.clock.advance(60);

      // Act
      const result = await settleDeadLetter(world.deps, letter(JSON.stringify(revokeEvent(requestId))));
      const marked = await world.table.findLease(requestId);
      const report = await sweep(world.deps);

      // Assert
      expect(result).toEqual({ status: 'failed', requestId });
      expect(marked).toMatchObject({
        status: 'active',
        endReason: 'requested',
        expiresAt: START + 60,
        nextAttemptAt: START + 60,
      });
      expect(report).toMatchObject({ due: 1, revoked: 1 });
      expect(accessOf(world, DEVELOPER)).toBeUndefined();
      expect(
        world.outcomes.published.map((o) => [o.detailType, o.detail.reason ?? o.detail.deadLettered]),
      ).toEqual([
        ['Access Granted', undefined],
        ['Access Revocation Failed', true],
        ['Access Revoked', 'requested'],
      ]);
      expect(auditTypes(world, requestId)).toEqual(['requested', 'granted', 'revocation-failed', 'revoked']);
    });

    it('forged (a misconfigured DLQ policy) changes no lease: an unknown sender, another integration, the timers queue', async () => {
      // Arrange
      const world = appDeps();
      const event = grantEvent();
      const requestId = requestIdOf(event);
      await send(world, event);
      const revoke = JSON.stringify(revokeEvent(requestId));
      // Through the on-call integration, with a proof (which a dead letter can no longer check): not its grant.
      const onCall = revokeEvent(requestId);
      const onCallRevoke = JSON.stringify({
        ...onCall,
        source: 'com.example.oncall',
        detail: { ...onCall.detail, proof: aProof(onCall.detail) },
      });

      // Act
      const unknownSender = await settleDeadLetter(world.deps, {
        body: revoke,
        queue: 'requests',
        senderId: 'AROAINTRUDER0000000:intruder',
      });
      const otherIntegration = await settleDeadLetter(world.deps, letter(onCallRevoke));
      const onTimersQueue = await settleDeadLetter(world.deps, letter(revoke, 'timers'));

      // Assert
      expect([unknownSender, otherIntegration, onTimersQueue]).toMatchObject([
        { status: 'rejected', rejection: { code: 'SENDER_NOT_ALLOWED' } },
        { status: 'rejected', rejection: { code: 'INTEGRATION_MISMATCH' } },
        { status: 'rejected', rejection: { code: 'SENDER_NOT_ALLOWED' } },
      ]);
      expect(await world.table.findLease(requestId)).toMatchObject({
        status: 'active',
        expiresAt: START + SAMPLE_SECONDS,
      });
      expect(auditTypes(world, requestId)).toEqual(['requested', 'granted']);
      expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
    });

    it('of an unknown request is rejected, and of an ended lease is settled', async () => {
      // Arrange
      const world = appDeps();
      const event = grantEvent();
      await send(world, event);
      await send(world, revokeEvent(requestIdOf(event)));

      // Act
      const unknown = await settleDeadLetter(
        world.deps,
        letter(JSON.stringify(revokeEvent('JIRA-OPS-404:grant'))),
      );
      const ended = await settleDeadLetter(
        world.deps,
        letter(JSON.stringify(revokeEvent(requestIdOf(event)))),
      );

      // Assert
      expect(unknown).toMatchObject({ status: 'rejected', rejection: { code: 'UNKNOWN_REQUEST' } });
      expect(ended).toMatchObject({ status: 'settled', lease: { status: 'ended' } });
      expect(world.outcomes.published.map((o) => o.detailType)).toEqual([
        'Access Granted',
        'Access Revoked',
        'Access Grant Rejected',
      ]);
    });
  });

  describe('an extension', () => {
    it('not applied is answered Access Grant Failed; applied is settled; of an unknown request rejected', async () => {
      // Arrange
      const world = appDeps();
      const event = grantEvent();
      const requestId = requestIdOf(event);
      await send(world, event);
      const applied = extendEvent(requestId, 600);
      await send(world, applied);
      const lost = extendEvent(requestId, 900, { reason: 'one more rollout' });

      // Act
      const failed = await settleDeadLetter(world.deps, letter(JSON.stringify(lost)));
      const settled = await settleDeadLetter(world.deps, letter(JSON.stringify(applied)));
      const unknown = await settleDeadLetter(
        world.deps,
        letter(JSON.stringify(extendEvent('JIRA-OPS-404:grant', 60))),
      );

      // Assert
      expect(failed).toEqual({ status: 'failed', requestId });
      expect(settled).toMatchObject({ status: 'settled' });
      expect(unknown).toMatchObject({ status: 'rejected', rejection: { code: 'UNKNOWN_REQUEST' } });
      expect(world.outcomes.published.map((o) => [o.detailType, o.detail.requestType])).toEqual([
        ['Access Granted', undefined],
        ['Access Extended', undefined],
        ['Access Grant Failed', 'Access Extend Requested'],
        ['Access Grant Rejected', 'Access Extend Requested'],
      ]);
      expect((await world.table.findLease(requestId))?.extensions).toHaveLength(1);
    });
  });

  describe('a ticket event', () => {
    it('that could not be read back on any delivery is answered TICKET_UNREADABLE, for its ticket, changing nothing', async () => {
      // Arrange: Jira was down for every delivery; SQS moved the webhook function's message to the DLQ.
      const world = appDeps();
      const body = ticketEventBody(jiraEvent());

      // Act
      const result = await settleDeadLetter(world.deps, {
        body,
        queue: 'requests',
        senderId: WEBHOOK_SENDER_ID,
      });

      // Assert
      const reason =
        `the broker could not read jira ${ISSUE_KEY} back on any delivery, so its latest change was not acted on (access granted for it before, if any, stays until it ends or the ticket changes again): ` +
        'the request failed on every delivery and was moved to a dead-letter queue';
      expect(result).toEqual({ status: 'rejected', rejection: { code: 'TICKET_UNREADABLE', reason } });
      expect(world.outcomes.published).toEqual([
        {
          detailType: 'Access Grant Rejected',
          detail: {
            requestId: `jira:${ISSUE_KEY}`,
            requestType: 'Ticket Event Received',
            code: 'TICKET_UNREADABLE',
            reason,
            ticket: { system: 'jira', key: ISSUE_KEY },
            origin: { integration: 'jira', sender: WEBHOOK_ROLE, requestedByProof: 'asserted' },
          },
        },
      ]);
      expect(world.tickets.calls).toEqual([]);
      expect(world.emulator.totalCalls()).toBe(0);
      expect(await world.table.findLease(`jira:${ISSUE_KEY}`)).toBeUndefined();
    });

    it('whose grant an earlier delivery applied does not tell the ticket that nothing was granted', async () => {
      // Arrange: the first delivery granted, then Jira failed the read after the grant, and every read after.
      const world = appDeps();
      world.tickets.issues.set(ISSUE_KEY, jiraIssue());
      world.tickets.changelogs.set(ISSUE_KEY, [REPORTED, APPROVED_BY_BOB]);
      world.tickets.groups.set(BOB, [APPROVER_GROUP]);
      afterJiraCall(world.tickets, `groups ${BOB}`, () => world.tickets.failNext(100));
      const body = ticketEventBody(jiraEvent());
      for (let delivery = 1; delivery <= 3; delivery += 1) {
        await expect(
          takeQueued(world.deps, { sqsBody: body, senderId: WEBHOOK_SENDER_ID }),
        ).rejects.toBeInstanceOf(RetryableError);
      }

      // Act
      const result = await settleDeadLetter(world.deps, {
        body,
        queue: 'requests',
        senderId: WEBHOOK_SENDER_ID,
      });

      // Assert: the access stays (its expiry or the next readable webhook ends it); the answer must not deny it.
      expect(result).toMatchObject({ status: 'rejected', rejection: { code: 'TICKET_UNREADABLE' } });
      expect(world.outcomes.published.map((o) => o.detailType)).toEqual([
        'Access Granted',
        'Access Grant Rejected',
      ]);
      expect(world.outcomes.published[1]?.detail.reason).not.toContain('nothing was granted');
      expect(await world.table.findLease(`jira:${ISSUE_KEY}`)).toMatchObject({ status: 'active' });
    });

    it('that the webhook function did not send is refused SENDER_NOT_ALLOWED, naming no ticket', async () => {
      // Arrange
      const world = appDeps();
      const body = ticketEventBody(jiraEvent());

      // Act
      const results = [
        await settleDeadLetter(world.deps, {
          body,
          queue: 'requests',
          senderId: 'AROAFAKETICKETING01:ticketing',
        }),
        await settleDeadLetter(world.deps, { body, queue: 'requests', senderId: undefined }),
        // The webhook function's SenderId means nothing on a queue SQS did not move it from.
        await settleDeadLetter(world.deps, { body, queue: 'intake-events', senderId: WEBHOOK_SENDER_ID }),
      ];

      // Assert
      const refusal = {
        detailType: 'Access Grant Rejected',
        detail: {
          requestType: 'Ticket Event Received',
          code: 'SENDER_NOT_ALLOWED',
          reason: "ticket events are sent only by the broker's webhook function",
        },
      };
      expect(results).toMatchObject([
        { status: 'rejected', rejection: { code: 'SENDER_NOT_ALLOWED' } },
        { status: 'rejected', rejection: { code: 'SENDER_NOT_ALLOWED' } },
        { status: 'rejected', rejection: { code: 'SENDER_NOT_ALLOWED' } },
      ]);
      expect(world.outcomes.published).toEqual([refusal, refusal, refusal]);
    });
  });
});
