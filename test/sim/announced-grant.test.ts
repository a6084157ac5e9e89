import { describe, expect, it } from 'vitest';
import { type Invocation, NO_FAULTS } from '../support/sim/invocation';
import { Simulation } from '../support/sim/run';
import type { SimOp } from '../support/sim/workload';
import { START_MS } from '../support/sim/world';

/**
 * Issue 14 and what the simulator found next to it, as scripted runs of the simulator: the whole broker on the
 * simulated clock, the crashes and faults placed by a script instead of the seed, every invariant checked
 * after every step and in full at the end. The same sequence runs on DynamoDB Local and the HTTP emulator in
 * test/safety/announced-grant.test.ts.
 */

/** dev-a, AmazonEKSEditPolicy in namespace a (test/support/sim/workload.ts), for `durationIndex`'s duration. */
function grant(subject: number, durationIndex: number): SimOp {
  return {
    index: 0,
    gapMs: 0,
    kind: 'grant',
    subject,
    policy: 1,
    scope: 1,
    duration: durationIndex,
    breakGlass: false,
    bus: false,
    poison: false,
  };
}

/** Runs `ops` (at their instants, ms after the start) under `script`, then drains and checks everything. */
async function scripted(
  ops: readonly (readonly [number, SimOp])[],
  script: NonNullable<Simulation['world']['script']>,
  untilMs: number,
) {
  // The requests queue's visibility as in the soak (short), so redeliveries meet the dead holder's lock.
  const simulation = new Simulation(14, NO_FAULTS, { requestsVisibilityMs: 20_000 });
  simulation.world.script = script;
  return simulation.within(async () => {
    for (const [at, op] of ops) simulation.arriveAt(START_MS + at, op);
    simulation.world.startSchedules();
    await simulation.runUntil(START_MS + untilMs);
    const beforeDrain = simulation.world.outcomes.map((o) => [o.detailType, String(o.detail.requestId)]);
    await simulation.finish();
    const report = simulation.report('scripted', ops.length);
    const about = (requestId: string) =>
      simulation.world.outcomes
        .filter((o) => o.detail.requestId === requestId)
        .map((o) => [o.detailType, o.detail.reason ?? null]);
    return { simulation, report, beforeDrain, about };
  });
}

/** The receives of the grant's message (op0) and of its dead letter, by invocation key `op0#<receive>`. */
const receive = (invocation: Invocation, fn: string, n: number) =>
  invocation.fn === fn && invocation.key === `op0#${n}`;

describe('the simulator, scripted: a grant cut off after its answer (issue 14)', () => {
  it('announced granted, lock left held, redeliveries exhausted, EKS throttled at the dead letter: completed, never rolled back nor answered failed', async () => {
    // Arrange: the first delivery dies between publishing Access Granted and saving the lease; the next two
    // find the dead invocation's lock; the last two die at once; the dead letter's first try meets throttling.
    const script = {
      crash: (invocation: Invocation, label: string) => {
        if (receive(invocation, 'sqs-intake', 1) && label === 'store.saveLease') return 'before' as const;
        if (receive(invocation, 'sqs-intake', 4) || receive(invocation, 'sqs-intake', 5))
          return 'before' as const;
        return undefined;
      },
      throttle: (invocation: Invocation, label: string) =>
        receive(invocation, 'dead-letter', 1) && label.startsWith('eks.'),
    };

    // Act
    const { report, beforeDrain, about } = await scripted([[1_000, grant(0, 5)]], script, 900_000);

    // Assert: no invariant broke; the sequence happened as the issue tells it.
    expect(report.violations).toEqual([]);
    const trace = report.trace.join('\n');
    expect(trace).toMatch(/crash inv\d+ sqs-intake before store\.saveLease/);
    expect(trace.match(/op0 -> error SubjectBusyError/g)).toHaveLength(2);
    expect(trace).toMatch(/redrive requests op0 after 5 receives/);
    expect(trace).toMatch(/fault eks throttled at eks\.DescribeAccessEntry/);
    expect(trace).toMatch(/dead-letter start \[op0\][\s\S]*op0 -> error RetryableError[\s\S]*op0 -> granted/);
    // The requester heard "granted" (twice), nothing else, until the lease ran out.
    expect(beforeDrain).toEqual([
      ['Access Granted', 'SIM-0'],
      ['Access Granted', 'SIM-0'],
    ]);
    expect(trace).not.toMatch(
      /(DeleteAccessEntry|DisassociateAccessPolicy) dev-a[^\n]*applied(?! \(by hand\))[\s\S]*retire/,
    );
    expect(about('SIM-0')).toEqual([
      ['Access Granted', null],
      ['Access Granted', null],
      ['Access Revoked', 'expired'],
    ]);
    expect(report.violations).toEqual([]);
  });

  it('announced granted, then narrowed by hand before the dead letter: completed again, not answered failed', async () => {
    // Arrange: as above, and an operator removes the association meanwhile (drift): EKS no longer shows it.
    const script = {
      crash: (invocation: Invocation, label: string) => {
        if (receive(invocation, 'sqs-intake', 1) && label === 'store.saveLease') return 'before' as const;
        if (receive(invocation, 'sqs-intake', 4) || receive(invocation, 'sqs-intake', 5))
          return 'before' as const;
        return undefined;
      },
    };
    const hand: SimOp = { index: 1, gapMs: 0, kind: 'hand', subject: 0, action: 'narrow' };

    // Act
    const { report, beforeDrain } = await scripted(
      [
        [1_000, grant(0, 5)],
        [10_000, hand],
      ],
      script,
      900_000,
    );

    // Assert
    expect(report.violations).toEqual([]);
    const trace = report.trace.join('\n');
    expect(trace).toMatch(/hand narrow subject 0: removed AmazonEKSEditPolicy/);
    expect(trace).toMatch(/dead-letter start \[op0\][\s\S]*op0 -> granted/);
    expect(beforeDrain).toEqual([
      ['Access Granted', 'SIM-0'],
      ['Access Granted', 'SIM-0'],
    ]);
    expect(report.violations).toEqual([]);
  });

  it('announced failed and cut off before its lease was ended: answered failed again once it expired, never revoked', async () => {
    // Arrange: a grant for the node entry's principal (EKS refuses it for good), 20 s long; its delivery
    // publishes Access Grant Failed and dies right after, before the lease is saved ended.
    const script = {
      crash: (invocation: Invocation, label: string) =>
        receive(invocation, 'sqs-intake', 1) && label === 'eventbridge.publish'
          ? ('after' as const)
          : undefined,
    };

    // Act
    const { report, about } = await scripted([[1_000, grant(3, 0)]], script, 900_000);

    // Assert
    expect(report.violations).toEqual([]);
    const trace = report.trace.join('\n');
    expect(trace).toMatch(/crash inv\d+ sqs-intake after eventbridge\.publish/);
    expect(about('SIM-0')).toEqual([
      ['Access Grant Failed', null],
      ['Access Grant Failed', null],
    ]);
    expect(trace).toMatch(/op0 -> failed/);
    expect(report.violations).toEqual([]);
  });
});
