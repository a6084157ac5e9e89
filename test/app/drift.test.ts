import { describe, expect, it } from 'vitest';
import { checkDrift, DriftCheckError } from '../../functions/app/drift';
import { appDeps } from '../support/fakes/app-deps';
import {
  accessOf,
  appliedMutations,
  DEVELOPER,
  EDIT,
  grantEvent,
  namespaces,
  requestIdOf,
  SAMPLE_SECONDS,
  send,
} from './scenario';

const OPS = 'arn:aws:iam::111122223333:role/ops';

describe('drift', () => {
  it('recreates an entry deleted by hand under an active lease, and reports it', async () => {
    // Arrange
    const world = appDeps();
    const event = grantEvent();
    await send(world, event);
    world.emulator.deleteAccessEntry('demo', DEVELOPER);
    const before = world.emulator.mutations().length;

    // Act
    const report = await checkDrift(world.deps);

    // Assert
    expect(report).toEqual({ subjects: 1, repaired: 1, skipped: 0, errors: 0, truncated: false });
    expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
    expect(appliedMutations(world, before)).toEqual(['CreateAccessEntry', 'AssociateAccessPolicy']);
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
      },
    });
    expect(world.metrics.total('DriftRepaired')).toBe(1);
  });

  it('widens a scope narrowed by hand back to what the lease needs', async () => {
    // Arrange
    const world = appDeps();
    await send(world, grantEvent());
    world.emulator.associateAccessPolicy({
      clusterName: 'demo',
      principalArn: DEVELOPER,
      policyArn: EDIT,
      accessScope: { type: 'namespace', namespaces: ['team-a'] },
    });
    const before = world.emulator.mutations().length;

    // Act
    const report = await checkDrift(world.deps);

    // Assert
    expect(report.repaired).toBe(1);
    expect(accessOf(world, DEVELOPER)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
    expect(appliedMutations(world, before)).toEqual(['AssociateAccessPolicy']);
  });

  it('changes nothing and publishes nothing when EKS matches the leases', async () => {
    // Arrange
    const world = appDeps();
    await send(world, grantEvent());
    const before = world.emulator.mutations().length;

    // Act
    const report = await checkDrift(world.deps);

    // Assert
    expect(report).toEqual({ subjects: 1, repaired: 0, skipped: 0, errors: 0, truncated: false });
    expect(world.emulator.mutations()).toHaveLength(before);
    expect(world.outcomes.published.map((o) => o.detailType)).toEqual(['Access Granted']);
  });

  it('leaves a subject with an expired lease to the sweeper rather than report its expiry as drift', async () => {
    // Arrange
    const world = appDeps();
    await send(world, grantEvent());
    world.emulator.deleteAccessEntry('demo', DEVELOPER);
    world.clock.advance(SAMPLE_SECONDS);

    // Act
    const report = await checkDrift(world.deps);

    // Assert
    expect(report).toEqual({ subjects: 1, repaired: 0, skipped: 1, errors: 0, truncated: false });
    expect(accessOf(world, DEVELOPER)).toBeUndefined();
  });

  it('checks every other subject when one cannot be repaired, then fails the run', async () => {
    // Arrange: a node entry replaced the developer's; the ops role lost its entry by hand.
    const world = appDeps();
    await send(world, grantEvent());
    await send(world, grantEvent({ principalArn: OPS }));
    world.emulator.deleteAccessEntry('demo', DEVELOPER);
    world.emulator.createAccessEntry({ clusterName: 'demo', principalArn: DEVELOPER, type: 'EC2_LINUX' });
    world.emulator.deleteAccessEntry('demo', OPS);

    // Act
    const error = await checkDrift(world.deps).catch((caught: unknown) => caught);

    // Assert
    expect(error).toBeInstanceOf(DriftCheckError);
    expect((error as DriftCheckError).report).toEqual({
      subjects: 2,
      repaired: 1,
      skipped: 0,
      errors: 1,
      truncated: false,
    });
    expect(accessOf(world, OPS)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
    expect(accessOf(world, DEVELOPER)).toEqual([]);
    expect(world.log.messages('error')).toEqual(['drift check could not check a subject']);
  });

  it('reads no more live leases than its limit, and says the run was truncated', async () => {
    // Arrange
    const world = appDeps();
    await send(world, grantEvent());
    await send(world, grantEvent({ principalArn: OPS }));

    // Act
    const report = await checkDrift(world.deps, { limit: 1 });

    // Assert
    expect(report).toEqual({ subjects: 1, repaired: 0, skipped: 0, errors: 0, truncated: true });
    expect(world.metrics.total('DriftCheckTruncated')).toBe(1);
  });
});
