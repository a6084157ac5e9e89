import { describe, expect, it } from 'vitest';
import { onTimer, SweepError, sweep } from '../../functions/app/expiry';
import { RetryableError } from '../../functions/core/errors';
import { appDeps, START_MS } from '../support/fakes/app-deps';
import {
  accessOf,
  appliedMutations,
  auditTypes,
  DEVELOPER,
  EDIT,
  extendEvent,
  grantEvent,
  namespaces,
  requestIdOf,
  revokeEvent,
  SAMPLE_SECONDS,
  send,
} from './scenario';

const START = START_MS / 1000;

describe('expiry by the sweeper', () => {
  it('revokes a lease past its expiry, with Access Revoked (expired) and the lag metric', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent();
    const requestId = requestIdOf(event);
    await send(world, event);
    world.clock.advance(SAMPLE_SECONDS + 7);

    // Act
    const report = await sweep(world.deps);

    // Assert
    expect(report).toEqual({
      due: 1,
      revoked: 1,
      retryScheduled: 0,
      irrevocable: 0,
      deferred: 0,
      errors: 0,
      timersArmed: 0,
    });
    expect(accessOf(world, DEVELOPER)).toBeUndefined();
    expect(world.outcomes.published.map((o) => [o.detailType, o.detail.reason])).toEqual([
      ['Access Granted', undefined],
      ['Access Revoked', 'expired'],
    ]);
    expect(await world.table.findLease(requestId)).toMatchObject({ status: 'ended', endReason: 'expired' });
    expect(auditTypes(world, requestId)).toEqual(['requested', 'granted', 'expired']);
    expect(world.table.history(requestId)[2]).toMatchObject({ actor: 'sweeper' });
    expect(world.metrics.total('RevocationLagSeconds')).toBe(7);
  });

  it('leaves leases not yet due alone, and arms the timer of one entering the timer window', async () => {
    // Arrange: 850 s before its expiry the lease is inside the 900 s window, within two sweep intervals of its edge.
    const world = appDeps();
    const event = grantEvent();
    await send(world, event);
    await send(
      world,
      grantEvent({ principalArn: 'arn:aws:iam::111122223333:role/later', durationSeconds: 28_800 }),
    );
    world.clock.advance(SAMPLE_SECONDS - 850);

    // Act
    const report = await sweep(world.deps);

    // Assert
    expect(report).toMatchObject({ due: 0, revoked: 0, timersArmed: 1 });
    expect(world.timers.armed).toEqual([
      // Armed to arrive a second early: the timer function waits for the instant of expiry.
      { timer: { requestId: requestIdOf(event), expiresAt: START + SAMPLE_SECONDS }, delaySeconds: 849 },
    ]);
    expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
    expect(world.outcomes.published).toHaveLength(2);
  });

  it('narrows the scope when one of two overlapping leases expires, keeping the other', async () => {
    // Arrange
    const world = appDeps();
    const short = grantEvent({ accessScope: namespaces('team-a'), durationSeconds: 600 });
    const long = grantEvent({ accessScope: namespaces('team-b') });
    await send(world, short);
    await send(world, long);
    world.clock.advance(600);

    // Act
    const report = await sweep(world.deps);

    // Assert
    expect(report).toMatchObject({ due: 1, revoked: 1 });
    expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-b')]]);
    expect((await world.table.findLease(requestIdOf(long)))?.status).toBe('active');
  });

  it('declares a lease irrevocable after the retry budget, alarms on every failed attempt, and keeps retrying', async () => {
    // Arrange: a budget of 3 attempts; EKS refuses the delete until the fault is lifted.
    const world = appDeps();
    const event = grantEvent({ durationSeconds: 600 });
    const requestId = requestIdOf(event);
    await send(world, event);
    world.emulator.faults.configure({ serverErrorRate: 1, operations: ['DeleteAccessEntry'] });
    world.clock.advance(600);

    // Act
    const reports = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      reports.push(await sweep(world.deps));
      world.clock.advance(400);
    }
    const irrevocable = await world.table.findLease(requestId);
    world.emulator.faults.configure({});
    const last = await sweep(world.deps);

    // Assert
    expect(reports.map((r) => [r.retryScheduled, r.irrevocable])).toEqual([
      [1, 0],
      [1, 0],
      [0, 1],
      [0, 1],
    ]);
    expect(irrevocable).toMatchObject({ status: 'irrevocable', revokeAttempts: 4, endReason: 'expired' });
    expect(last).toMatchObject({ due: 1, revoked: 1 });
    expect(accessOf(world, DEVELOPER)).toBeUndefined();
    expect(world.outcomes.published.map((o) => o.detailType)).toEqual([
      'Access Granted',
      'Access Revocation Failed',
      'Access Revoked',
    ]);
    expect(auditTypes(world, requestId)).toEqual([
      'requested',
      'granted',
      'revocation-failed',
      'revocation-failed',
      'irrevocable',
      'revocation-failed',
      'expired',
    ]);
    expect(world.metrics.total('RevocationFailures')).toBe(4);
    expect(world.metrics.total('IrrevocableLeases')).toBe(2);
    expect(await world.table.findLease(requestId)).toMatchObject({ status: 'ended', endReason: 'expired' });
  });

  it('ends the other due leases when the table fails on one, then fails the run so it alarms', async () => {
    // Arrange
    const world = appDeps();
    await send(world, grantEvent({ durationSeconds: 600 }));
    await send(
      world,
      grantEvent({ principalArn: 'arn:aws:iam::111122223333:role/ops', durationSeconds: 600 }),
    );
    world.clock.advance(600);
    world.table.failNext('readSubject', new RetryableError('DynamoDB is throttling'));

    // Act
    const error = await sweep(world.deps).catch((caught: unknown) => caught);

    // Assert
    expect(error).toBeInstanceOf(SweepError);
    expect((error as SweepError).report).toMatchObject({ due: 2, revoked: 1, errors: 1 });
    const live = await world.table.listLiveLeases(10);
    expect(live).toHaveLength(1);
    expect(world.outcomes.published.map((o) => o.detailType)).toEqual([
      'Access Granted',
      'Access Granted',
      'Access Revoked',
    ]);
    expect(world.log.messages('error')).toEqual(['sweep could not end a lease']);
  });

  it('defers a lease whose subject another invocation holds, for the next run', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent({ durationSeconds: 600 });
    await send(world, event);
    world.clock.advance(600);
    let free: () => void = () => undefined;
    const holding = world.table.withLock(
      { clusterName: 'demo', principalArn: DEVELOPER },
      'other-invocation',
      () => START + 600,
      () =>
        new Promise<void>((resolve) => {
          free = resolve;
        }),
    );

    // Act
    const report = await sweep(world.deps);
    free();
    await holding;

    // Assert
    expect(report).toMatchObject({ due: 1, revoked: 0, deferred: 1, errors: 0 });
    expect((await world.table.findLease(requestIdOf(event)))?.status).toBe('active');
    expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
  });
});

describe('expiry timers', () => {
  it('ignores a stale timer: the lease was extended since it was armed', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent({ durationSeconds: 300 });
    const requestId = requestIdOf(event);
    await send(world, event);
    await send(world, extendEvent(requestId, 300));
    world.clock.advance(300);
    const mutations = world.emulator.mutations().length;

    // Act
    const result = await onTimer(world.deps, { requestId, expiresAt: START + 300 });

    // Assert
    expect(result).toEqual({ status: 'stale' });
    expect(world.emulator.mutations()).toHaveLength(mutations);
    expect(world.metrics.total('StaleTimers')).toBe(1);
    expect((await world.table.findLease(requestId))?.status).toBe('active');
  });

  it('ignores the timer of a lease already revoked', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent({ durationSeconds: 300 });
    const requestId = requestIdOf(event);
    await send(world, event);
    await send(world, revokeEvent(requestId));
    world.clock.advance(300);

    // Act
    const result = await onTimer(world.deps, { requestId, expiresAt: START + 300 });

    // Assert
    expect(result).toEqual({ status: 'stale' });
    expect(world.outcomes.published.map((o) => o.detailType)).toEqual(['Access Granted', 'Access Revoked']);
  });

  it('waits for the instant of expiry when its timer arrives early, ready under the lock, and revokes then, never before', async () => {
    // Arrange: the timer arrives 1.5 s early; a sleep ends a millisecond early, as a timer may.
    const world = appDeps();
    const event = grantEvent({ durationSeconds: 300 });
    const requestId = requestIdOf(event);
    await send(world, event);
    world.clock.advance(298.5);
    const subject = { clusterName: 'demo', principalArn: DEVELOPER };
    const sleeps: { ms: number; locked: boolean }[] = [];
    const sleep = async (ms: number) => {
      sleeps.push({ ms, locked: world.table.lockOf(subject) !== undefined });
      world.clock.advance((ms > 1 ? ms - 1 : ms) / 1000);
    };

    // Act
    const result = await onTimer(
      world.deps,
      { requestId, expiresAt: START + 300 },
      { maxWaitMs: 10_000, sleep },
    );

    // Assert: half a second before the instant it holds the subject's lock, and acts only once it has come.
    expect(result).toMatchObject({
      status: 'revoked',
      lease: { endReason: 'expired', endedAt: START + 300 },
    });
    expect(sleeps).toEqual([
      { ms: 1000, locked: false },
      { ms: 1, locked: false },
      { ms: 500, locked: true },
      { ms: 1, locked: true },
    ]);
    const deleted = world.emulator.mutations().find((m) => m.operation === 'DeleteAccessEntry');
    expect(deleted?.at).toBe((START + 300) * 1000);
    expect(accessOf(world, DEVELOPER)).toBeUndefined();
    // The grant's own timer: nothing armed again.
    expect(world.timers.armed).toHaveLength(1);
  });

  it('finds a lease extended while it waited not due, and leaves its access', async () => {
    // Arrange: the extension comes through while the timer sleeps, before it takes the lock.
    const world = appDeps();
    const event = grantEvent({ durationSeconds: 300 });
    const requestId = requestIdOf(event);
    await send(world, event);
    world.clock.advance(298.5);
    let extended = false;
    const sleep = async (ms: number) => {
      if (!extended) {
        extended = true;
        await send(world, extendEvent(requestId, 300));
      }
      world.clock.advance(ms / 1000);
    };

    // Act
    const result = await onTimer(
      world.deps,
      { requestId, expiresAt: START + 300 },
      { maxWaitMs: 10_000, sleep },
    );

    // Assert
    expect(result).toMatchObject({ status: 'not-due', lease: { expiresAt: START + 600 } });
    expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
  });

  it('ignores a stale timer however early it arrives: no wait, nothing revoked', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent({ durationSeconds: 300 });
    const requestId = requestIdOf(event);
    await send(world, event);
    await send(world, extendEvent(requestId, 300));
    world.clock.advance(299);
    const sleeps: number[] = [];

    // Act
    const result = await onTimer(
      world.deps,
      { requestId, expiresAt: START + 300 },
      { maxWaitMs: 10_000, sleep: async (ms) => void sleeps.push(ms) },
    );

    // Assert
    expect(result).toEqual({ status: 'stale' });
    expect(sleeps).toEqual([]);
    expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
  });

  it('re-arms a timer that arrives earlier than the invocation may wait, again a little early', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent({ durationSeconds: 300 });
    const requestId = requestIdOf(event);
    await send(world, event);
    world.clock.advance(295);
    const sleeps: number[] = [];

    // Act
    const result = await onTimer(
      world.deps,
      { requestId, expiresAt: START + 300 },
      { maxWaitMs: 2_000, sleep: async (ms) => void sleeps.push(ms) },
    );

    // Assert
    expect(result).toEqual({ status: 'rearmed' });
    expect(sleeps).toEqual([]);
    expect(world.timers.armed.at(-1)).toEqual({
      timer: { requestId, expiresAt: START + 300 },
      delaySeconds: 4,
    });
    expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
  });

  it('re-arms a timer for its expiry itself when less than the lead is left and it may not wait', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent({ durationSeconds: 300 });
    const requestId = requestIdOf(event);
    await send(world, event);
    world.clock.advance(299.4);

    // Act
    const result = await onTimer(world.deps, { requestId, expiresAt: START + 300 });

    // Assert
    expect(result).toEqual({ status: 'rearmed' });
    expect(world.timers.armed.at(-1)?.delaySeconds).toBe(1);
  });

  it('revokes a lease when its timer fires at expiry, and the sweeper then finds nothing due', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent({ durationSeconds: 300 });
    const requestId = requestIdOf(event);
    await send(world, event);
    world.clock.advance(300);

    // Act
    const result = await onTimer(world.deps, { requestId, expiresAt: START + 300 });
    const report = await sweep(world.deps);

    // Assert
    expect(result).toMatchObject({ status: 'revoked', lease: { status: 'ended', endReason: 'expired' } });
    expect(report.due).toBe(0);
    expect(appliedMutations(world)).toEqual([
      'CreateAccessEntry',
      'AssociateAccessPolicy',
      'DeleteAccessEntry',
    ]);
    expect(world.table.history(requestId).at(-1)).toMatchObject({ type: 'expired', actor: 'timer' });
    expect(world.metrics.total('RevocationLagSeconds')).toBe(0);
  });
});
