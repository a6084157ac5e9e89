import { describe, expect, it } from 'vitest';
import type { Timer } from '../../functions/app/call-budget';
import { checkDrift, DriftCheckError } from '../../functions/app/drift';
import type { AccessApi } from '../../functions/app/ports';
import type { Subject } from '../../functions/core/model';
import { appDeps, type FakeWorld } from '../support/fakes/app-deps';
import {
  accessOf,
  appliedMutations,
  DEVELOPER,
  EDIT,
  grantEvent,
  namespaces,
  requestIdOf,
  revokeEvent,
  SAMPLE_SECONDS,
  send,
} from './scenario';

const OPS = 'arn:aws:iam::111122223333:role/ops';
const QA = 'arn:aws:iam::111122223333:role/qa';

/** Time that moves only by the waits asked of it: the budget's pacing, seen without waiting. */
class SteppedTimer implements Timer {
  readonly waits: number[] = [];
  constructor(private ms = 0) {}
  readonly now = (): number => this.ms;
  readonly sleep = async (ms: number): Promise<void> => {
    this.waits.push(ms);
    this.ms += ms;
  };
}

/** The principals the drift check read from EKS, in order: its cheap compares. */
function comparing(world: FakeWorld): { readonly compared: string[]; readonly deps: FakeWorld['deps'] } {
  const compared: string[] = [];
  const eks: AccessApi = {
    readActual: (subject) => world.deps.eks.readActual(subject),
    apply: (subject, actions) => world.deps.eks.apply(subject, actions),
    readAssociations: (subject: Subject) => {
      compared.push(subject.principalArn);
      return world.deps.eks.readAssociations(subject);
    },
  };
  return { compared, deps: { ...world.deps, eks } };
}

/** A run's budget of `calls` EKS calls, none of them waited for. */
function calls(count: number) {
  return { budget: { callsPerSecond: count, intervalSeconds: 1 }, timer: new SteppedTimer() };
}

/** Three subjects granted, each in sync: the developer, ops and qa. */
async function threeSubjects(): Promise<FakeWorld> {
  const world = appDeps();
  await send(world, grantEvent());
  await send(world, grantEvent({ principalArn: OPS }));
  await send(world, grantEvent({ principalArn: QA }));
  return world;
}

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
    expect(report).toEqual({
      subjects: 1,
      repaired: 1,
      skipped: 0,
      errors: 0,
      eksCalls: 1 + 2 + 2,
      leases: 1,
      passesCompleted: 1,
    });
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

  it('changes nothing, publishes nothing and takes no lock when EKS matches the leases', async () => {
    // Arrange
    const world = appDeps();
    await send(world, grantEvent());
    const before = world.emulator.mutations().length;
    const locks = world.table.calls.get('withLock');
    const calls = world.emulator.totalCalls();

    // Act
    const report = await checkDrift(world.deps);

    // Assert
    expect(report).toEqual({
      subjects: 1,
      repaired: 0,
      skipped: 0,
      errors: 0,
      eksCalls: 1,
      leases: 1,
      passesCompleted: 1,
    });
    expect(world.emulator.mutations()).toHaveLength(before);
    expect(world.emulator.totalCalls() - calls).toBe(1);
    expect(world.table.calls.get('withLock')).toBe(locks);
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
    expect(report).toMatchObject({ subjects: 0, repaired: 0, skipped: 1, errors: 0, eksCalls: 0 });
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
    expect((error as DriftCheckError).report).toMatchObject({
      subjects: 2,
      repaired: 1,
      skipped: 0,
      errors: 1,
      passesCompleted: 1,
    });
    expect(accessOf(world, OPS)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
    expect(accessOf(world, DEVELOPER)).toEqual([]);
    expect(world.log.messages('error')).toEqual(['drift check could not check a subject']);
  });

  it('compares a subject with several leases once, at one of them', async () => {
    // Arrange
    const world = appDeps();
    await send(world, grantEvent());
    await send(world, grantEvent({ accessScope: { type: 'namespace', namespaces: ['team-c'] } }));
    const { compared, deps } = comparing(world);

    // Act
    const report = await checkDrift(deps);

    // Assert
    expect(report).toMatchObject({ subjects: 1, leases: 2, eksCalls: 1, repaired: 0 });
    expect(compared).toEqual([DEVELOPER]);
  });

  describe('the cursor: a pass over every live lease, run after run', () => {
    it('goes on where the last run stopped, and wraps around once every lease was seen', async () => {
      // Arrange: one compare per run.
      const world = await threeSubjects();
      const { compared, deps } = comparing(world);

      // Act
      const reports = [];
      for (let run = 0; run < 4; run++) reports.push(await checkDrift(deps, calls(1)));

      // Assert
      expect(new Set(compared.slice(0, 3))).toEqual(new Set([DEVELOPER, OPS, QA]));
      expect(compared[3]).toBe(compared[0]);
      expect(reports.map((report) => report.passesCompleted)).toEqual([0, 0, 1, 0]);
      expect(reports.map((report) => report.eksCalls)).toEqual([1, 1, 1, 1]);
      await expect(world.table.readDriftCursor()).resolves.toMatchObject({ passes: 1 });
      expect(world.metrics.total('DriftPassSeconds')).toBe(0);
    });

    it('survives the lease it stopped at ending, and leases ahead of it ending', async () => {
      // Arrange: the first run compares one subject; then that subject's lease and the next one's end.
      const world = await threeSubjects();
      const { compared, deps } = comparing(world);
      const order = [DEVELOPER, OPS, QA];
      await checkDrift(deps, calls(1));
      const [first] = compared;
      const rest = order.filter((principal) => principal !== first);
      for (const principal of [first, rest[0]]) {
        const lease = (await world.table.listLiveLeases(10)).find((l) => l.principalArn === principal);
        await send(world, revokeEvent(lease?.requestId ?? ''));
      }

      // Act
      const report = await checkDrift(deps, calls(5));

      // Assert: the one subject left is compared, and the pass ends (the next one too: it has nothing new).
      expect(compared.slice(1)).toEqual([rest[1]]);
      expect(report).toMatchObject({ subjects: 1, passesCompleted: 2 });
    });

    it('starts a new pass in the same run when the last one ends early, and stops at its end', async () => {
      // Arrange: a run stopped after the first of three subjects.
      const world = await threeSubjects();
      const { compared, deps } = comparing(world);
      await checkDrift(deps, calls(1));

      // Act: budget for ten compares; only three subjects.
      const report = await checkDrift(deps, calls(10));

      // Assert: the two left, then the next pass, where only the first is not compared already, and no more.
      expect(compared).toHaveLength(1 + 2 + 1);
      expect(compared[3]).toBe(compared[0]);
      expect(report).toMatchObject({ subjects: 3, passesCompleted: 2 });
    });
  });

  describe('the budget: a share of EKS, spread over the run', () => {
    it('makes no more EKS calls than the run may', async () => {
      // Arrange
      const world = await threeSubjects();
      const before = world.emulator.totalCalls();

      // Act
      const report = await checkDrift(world.deps, calls(2));

      // Assert
      expect(report).toMatchObject({ subjects: 2, eksCalls: 2, passesCompleted: 0 });
      expect(world.emulator.totalCalls() - before).toBe(2);
    });

    it('leaves a repair the run cannot pay for to the next run, starting there', async () => {
      // Arrange: every subject lost its entry; a repair costs 1 compare + 2 reads + 2 changes.
      const world = await threeSubjects();
      for (const principal of [DEVELOPER, OPS, QA]) world.emulator.deleteAccessEntry('demo', principal);
      const { compared, deps } = comparing(world);

      // Act: one subject at a time.
      const first = await checkDrift(deps, { ...calls(7), concurrency: 1 });
      const second = await checkDrift(deps, { ...calls(100), concurrency: 1 });

      // Assert: one repaired and the next one seen but not paid for; the second run starts at it.
      expect(first).toMatchObject({ repaired: 1, eksCalls: 6 });
      expect(compared[2]).toBe(compared[1]);
      expect(second).toMatchObject({ repaired: 2, passesCompleted: 2 });
      for (const principal of [DEVELOPER, OPS, QA]) {
        expect(accessOf(world, principal)).toEqual([[EDIT, namespaces('team-a', 'team-b')]]);
      }
    });

    it('spreads its calls evenly over the run instead of spending them at once', async () => {
      // Arrange: 4 calls over the 2 s the run has: one every 500 ms.
      const world = await threeSubjects();
      const timer = new SteppedTimer(1_000);

      // Act
      const report = await checkDrift(world.deps, {
        budget: { callsPerSecond: 2, intervalSeconds: 2 },
        deadline: 3_000,
        timer,
      });

      // Assert
      expect(report).toMatchObject({ subjects: 3, eksCalls: 3 });
      expect(timer.waits).toEqual([500, 500]);
    });

    it('takes the lock of a drifted subject only', async () => {
      // Arrange
      const world = await threeSubjects();
      world.emulator.deleteAccessEntry('demo', OPS);
      const locks = world.table.calls.get('withLock') ?? 0;

      // Act
      const report = await checkDrift(world.deps);

      // Assert
      expect(report).toMatchObject({ subjects: 3, repaired: 1 });
      expect((world.table.calls.get('withLock') ?? 0) - locks).toBe(1);
    });
  });
});
