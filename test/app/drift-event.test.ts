import { describe, expect, it } from 'vitest';
import { repairAfterChange } from '../../functions/app/drift-event';
import type { AccessEntryChange } from '../../functions/core/access-change';
import { SubjectBusyError } from '../../functions/core/errors';
import { appDeps } from '../support/fakes/app-deps';
import {
  accessOf,
  DEVELOPER,
  EDIT,
  grantEvent,
  namespaces,
  requestIdOf,
  SAMPLE_SECONDS,
  send,
  VIEW,
} from './scenario';

/** What the drift-event handler reads from CloudTrail's event of a change bob made to the developer's entry. */
function changeBy(overrides: Partial<AccessEntryChange> = {}): AccessEntryChange {
  return {
    clusterName: 'demo',
    principalArn: DEVELOPER,
    eventName: 'DeleteAccessEntry',
    changedBy: 'arn:aws:sts::111122223333:assumed-role/dev-bob/bob',
    region: 'us-east-1',
    accountId: '111122223333',
    eventId: 'event-1',
    eventTime: '2026-06-01T09:30:11Z',
    ...overrides,
  };
}

describe('repairAfterChange (drift repaired from CloudTrail events)', () => {
  it('puts back what a hand change took, and names the change in Access Drift Repaired', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent();
    await send(world, event);
    world.emulator.deleteAccessEntry('demo', DEVELOPER);

    // Act
    const result = await repairAfterChange(world.deps, changeBy());

    // Assert
    expect(result).toEqual({ status: 'repaired', actions: 2 });
    expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
    expect(world.outcomes.published.at(-1)).toEqual({
      detailType: 'Access Drift Repaired',
      detail: {
        clusterName: 'demo',
        principalArn: DEVELOPER,
        actions: [
          { kind: 'createEntry' },
          { kind: 'associate', policyArn: EDIT, accessScope: namespaces('team-a', 'team-b') },
        ],
        requestIds: [requestIdOf(event)],
        change: {
          eventName: 'DeleteAccessEntry',
          changedBy: 'arn:aws:sts::111122223333:assumed-role/dev-bob/bob',
          eventId: 'event-1',
          eventTime: '2026-06-01T09:30:11Z',
        },
      },
    });
    expect(world.metrics.total('DriftRepaired')).toBe(1);
  });

  it('compares without the lock, with one EKS read, when the change left what the leases need', async () => {
    // Arrange: someone added a policy of their own beside the broker's.
    const world = appDeps();
    await send(world, grantEvent());
    world.emulator.associateAccessPolicy({
      clusterName: 'demo',
      principalArn: DEVELOPER,
      policyArn: VIEW,
      accessScope: { type: 'cluster', namespaces: [] },
    });
    const locks = world.table.calls.get('withLock');
    const calls = world.emulator.totalCalls();

    // Act
    const result = await repairAfterChange(world.deps, changeBy({ eventName: 'AssociateAccessPolicy' }));

    // Assert
    expect(result).toEqual({ status: 'in-sync' });
    expect(world.table.calls.get('withLock')).toBe(locks);
    expect(world.emulator.totalCalls() - calls).toBe(1);
    expect(world.outcomes.published.map((outcome) => outcome.detailType)).toEqual(['Access Granted']);
  });

  it('reads no EKS for a principal the broker holds nothing for', async () => {
    // Arrange
    const world = appDeps();
    const calls = world.emulator.totalCalls();

    // Act
    const result = await repairAfterChange(world.deps, changeBy());

    // Assert
    expect(result).toEqual({ status: 'not-ours' });
    expect(world.emulator.totalCalls()).toBe(calls);
  });

  it.each([
    ['a cluster the rules do not name', { clusterName: 'other' }],
    ["a cluster of that name in another region than the rules'", { region: 'eu-west-1' }],
    ["a cluster of that name in another account than the rules'", { accountId: '444455556666' }],
  ])('leaves alone %s', async (_case, overrides) => {
    // Arrange
    const world = appDeps();
    await send(world, grantEvent());
    world.emulator.deleteAccessEntry('demo', DEVELOPER);

    // Act
    const result = await repairAfterChange(world.deps, changeBy(overrides));

    // Assert
    expect(result).toMatchObject({ status: 'not-managed' });
    expect(accessOf(world, DEVELOPER)).toBeUndefined();
  });

  it('leaves a subject whose lease has expired to the sweeper', async () => {
    // Arrange
    const world = appDeps();
    await send(world, grantEvent());
    world.emulator.deleteAccessEntry('demo', DEVELOPER);
    world.clock.advance(SAMPLE_SECONDS);

    // Act
    const result = await repairAfterChange(world.deps, changeBy());

    // Assert
    expect(result).toEqual({ status: 'left' });
  });

  it('logs, without a retry, a subject whose entry became one the broker may not touch', async () => {
    // Arrange: a node entry took the developer's place.
    const world = appDeps();
    await send(world, grantEvent());
    world.emulator.deleteAccessEntry('demo', DEVELOPER);
    world.emulator.createAccessEntry({ clusterName: 'demo', principalArn: DEVELOPER, type: 'EC2_LINUX' });

    // Act
    const result = await repairAfterChange(world.deps, changeBy({ eventName: 'CreateAccessEntry' }));

    // Assert
    expect(result).toMatchObject({ status: 'not-manageable' });
    expect(world.log.messages('error')).toEqual(['drift could not be repaired']);
  });

  it('gives the event back, to be retried, while another invocation holds the subject', async () => {
    // Arrange
    const world = appDeps({ lockWaitMs: 0 });
    await send(world, grantEvent());
    world.emulator.deleteAccessEntry('demo', DEVELOPER);

    // Act
    const error = await world.table.withLock(
      { clusterName: 'demo', principalArn: DEVELOPER },
      'another-invocation',
      () => world.clock.seconds(),
      () => repairAfterChange(world.deps, changeBy()).catch((caught: unknown) => caught),
    );

    // Assert
    expect(error).toBeInstanceOf(SubjectBusyError);
  });
});
