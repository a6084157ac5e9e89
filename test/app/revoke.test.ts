import { describe, expect, it } from 'vitest';
import { sweep } from '../../functions/app/expiry';
import { appDeps, START_MS } from '../support/fakes/app-deps';
import {
  accessOf,
  appliedMutations,
  auditTypes,
  DEVELOPER,
  EDIT,
  grantEvent,
  namespaces,
  requestIdOf,
  revokeEvent,
  send,
} from './scenario';

const START = START_MS / 1000;

describe('revoke', () => {
  it('takes the access back, publishes Access Revoked (requested) and ends the lease', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent();
    const requestId = requestIdOf(event);
    await send(world, event);
    world.clock.advance(600);

    // Act
    const result = await send(world, revokeEvent(requestId));

    // Assert
    expect(result.status).toBe('revoked');
    expect(accessOf(world, DEVELOPER)).toBeUndefined();
    expect(appliedMutations(world)).toEqual([
      'CreateAccessEntry',
      'AssociateAccessPolicy',
      'DeleteAccessEntry',
    ]);
    expect(world.outcomes.published.map((o) => [o.detailType, o.detail.reason])).toEqual([
      ['Access Granted', undefined],
      ['Access Revoked', 'requested'],
    ]);
    expect(await world.table.findLease(requestId)).toMatchObject({
      status: 'ended',
      endReason: 'requested',
      endedAt: START + 600,
      expiresAt: START + 600,
    });
    expect(auditTypes(world, requestId)).toEqual(['requested', 'granted', 'revoking', 'revoked']);
    expect(world.table.history(requestId)[2]).toMatchObject({ actor: 'alice@example.com' });
    expect(world.metrics.total('AccessRevoked')).toBe(1);
  });

  it("records who asked for the revocation on its audit events and its outcome, beside the grant's origin", async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent();
    const requestId = requestIdOf(event);
    await send(world, event);
    const ticketing = {
      integration: 'ticketing',
      sender: '111122223333:com.example.ticketing',
      requestedByProof: 'asserted',
    };

    // Act
    await send(world, revokeEvent(requestId));

    // Assert
    const [, , revoking, revoked] = world.table.history(requestId);
    expect(revoking?.detail).toEqual({ reason: 'requested', origin: ticketing });
    expect(revoked?.detail).toEqual({ reason: 'requested', origin: ticketing });
    expect(world.outcomes.published.at(-1)?.detail).toMatchObject({
      origin: ticketing,
      revokedBy: ticketing,
    });
  });

  it('rejects the revocation of an unknown request as UNKNOWN_REQUEST, touching nothing', async () => {
    // Arrange
    const world = appDeps();

    // Act
    const result = await send(world, revokeEvent('JIRA-OPS-9999:grant'));

    // Assert
    expect(result).toMatchObject({ status: 'rejected', rejection: { code: 'UNKNOWN_REQUEST' } });
    expect(world.outcomes.published).toEqual([
      {
        detailType: 'Access Grant Rejected',
        detail: expect.objectContaining({
          requestId: 'JIRA-OPS-9999:grant',
          requestType: 'Access Revoke Requested',
          code: 'UNKNOWN_REQUEST',
        }),
      },
    ]);
    expect(world.emulator.totalCalls()).toBe(0);
  });

  it('answers a repeated revocation as a duplicate: no EKS call, no second outcome', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent();
    await send(world, event);
    await send(world, revokeEvent(requestIdOf(event)));
    const calls = world.emulator.totalCalls();

    // Act
    const result = await send(world, revokeEvent(requestIdOf(event)));

    // Assert
    expect(result.status).toBe('duplicate');
    expect(world.emulator.totalCalls()).toBe(calls);
    expect(world.outcomes.types().map(([type]) => type)).toEqual(['Access Granted', 'Access Revoked']);
    expect(world.metrics.total('DuplicateRequests')).toBe(1);
  });

  it('keeps a revocation EKS refuses for now, retried by the sweeper until it lands, still as requested', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent({ accessScope: namespaces('team-a') });
    const requestId = requestIdOf(event);
    await send(world, event);
    world.emulator.faults.configure({ serverErrorRate: 1, operations: ['DeleteAccessEntry'] });

    // Act
    const revoking = await send(world, revokeEvent(requestId));
    const kept = await world.table.findLease(requestId);
    world.emulator.faults.configure({});
    // The backoff holds the lease off the sweeper until its next attempt, though it expired at once.
    const early = await sweep(world.deps);
    world.clock.advance(60);
    const report = await sweep(world.deps);

    // Assert
    expect(revoking.status).toBe('revoking');
    expect(kept).toMatchObject({
      status: 'active',
      endReason: 'requested',
      expiresAt: START,
      revokeAttempts: 1,
      lastError: expect.stringContaining('ServerException'),
    });
    expect(kept?.nextAttemptAt).toBeGreaterThan(START);
    expect(kept?.nextAttemptAt).toBeLessThanOrEqual(START + 10);
    expect(early.due).toBe(0);
    expect(report).toMatchObject({ due: 1, revoked: 1, retryScheduled: 0, errors: 0 });
    expect(accessOf(world, DEVELOPER)).toBeUndefined();
    expect(world.outcomes.published.map((o) => [o.detailType, o.detail.reason])).toEqual([
      ['Access Granted', undefined],
      ['Access Revoked', 'requested'],
    ]);
    expect(auditTypes(world, requestId)).toEqual([
      'requested',
      'granted',
      'revoking',
      'revocation-failed',
      'revoked',
    ]);
    expect(world.metrics.total('RevocationFailures')).toBe(1);
  });

  it('ends one of two leases on the same policy without taking away what the other needs', async () => {
    // Arrange
    const world = appDeps();
    const wide = grantEvent({ accessScope: { type: 'cluster' } });
    const narrow = grantEvent({ accessScope: namespaces('team-a') });
    await send(world, wide);
    await send(world, narrow);

    // Act
    await send(world, revokeEvent(requestIdOf(narrow)));

    // Assert
    expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, { type: 'cluster' }]]);
    expect(appliedMutations(world)).toEqual(['CreateAccessEntry', 'AssociateAccessPolicy']);
    expect((await world.table.findLease(requestIdOf(narrow)))?.status).toBe('ended');
  });
});
