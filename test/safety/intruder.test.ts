import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Senders } from '../../functions/app/ports';
import type { AccessRule, AccessRules } from '../../functions/core/rules';
import { localSenderId, TICKETING_ROLE } from '../support/callers';
import { type Intrusion, type Op, runScenario, type Scenario } from '../support/model-runner';
import { ModelStats } from '../support/model-stats';
import { type SafetyWorld, startSafetyWorld } from '../support/safety-world';

/**
 * Invariant 6 (no access for a request outside an integration's allowance) must be able to fail: the same
 * short scenario of the intruder actor runs against the broker as it is (nothing recorded traces back to the
 * intruder) and against the broker with a test-only fault in its intake deps (a Senders directory that answers
 * the ticketing role for the intruder's SenderId; rules whose ticketing ceiling has been widened), where the
 * checks over the lease table, the outcome events and the EKS mutation log must report it.
 */

let world: SafetyWorld;

beforeAll(async () => {
  world = await startSafetyWorld({ revocationBudget: 2 });
});

afterAll(async () => {
  await world?.close();
});

const NO_FAULTS: Scenario['faults'] = {
  serverErrorRate: 0,
  dropRate: 0,
  dropAfterCommitRate: 0,
  latencyMaxMs: 0,
  throttle: false,
  dynamodbFaultRate: 0,
};

/** Subjects (seedSafetySubjects): 0 dev-a, 1 dev-b, 2 platform (baseline View in ops), 3 a node, 4 oncall. */
function grant(subject: number, overrides: Partial<Extract<Op, { kind: 'grant' }>> = {}): Op {
  // View in namespace a for 900 s, sent on the queue by the ticketing role.
  return {
    kind: 'grant',
    subject,
    policy: 0,
    scope: 1,
    duration: 3,
    breakGlass: false,
    bus: false,
    hold: false,
    crash: null,
    poison: false,
    ...overrides,
  };
}

function intrude(
  request: 'grant' | 'revoke' | 'extend',
  via: Intrusion,
  overrides: Partial<Extract<Op, { kind: 'intrude' }>> = {},
): Op {
  // A grant of View cluster-wide for 900 s to subject 2; a revoke or extend (300 s) of the first grant.
  return {
    kind: 'intrude',
    request,
    via,
    target: 0,
    subject: 2,
    policy: 0,
    scope: 0,
    duration: 1,
    breakGlass: false,
    crash: null,
    outage: false,
    ...overrides,
  };
}

/** Two allowed grants (queue and bus), then the intruder every way it has, then a minute. */
const SCENARIO: Scenario = {
  seed: 12,
  faults: NO_FAULTS,
  scheduledCrashRate: 0,
  ops: [
    grant(0),
    grant(1, { bus: true }),
    // Cluster admin without break-glass: outside the ticketing ceiling (refused NOT_ALLOWED as it is).
    grant(4, { policy: 2, scope: 0 }),
    intrude('grant', 'intruder-role'),
    intrude('extend', 'intruder-role'),
    intrude('revoke', 'intruder-role'),
    intrude('grant', 'oncall-on-queue', { subject: 1 }),
    intrude('revoke', 'oncall-on-queue', { target: 1 }),
    intrude('grant', 'other-account', { subject: 1 }),
    intrude('extend', 'other-account', { target: 1 }),
    intrude('grant', 'unproven-source', { subject: 4, policy: 2, breakGlass: true }),
    intrude('grant', 'ceiling', { subject: 4 }),
    intrude('grant', 'ceiling', { subject: 0, policy: 1, breakGlass: true }),
    { kind: 'advance', seconds: 60 },
  ],
};

/** Violations of invariant 6 found in what the system recorded (not in the answers the runner saw). */
function recorded(violations: readonly { invariant: number; message: string }[]): string[] {
  return violations
    .filter((v) => v.invariant === 6 && !v.message.startsWith('answer:'))
    .map((v) => v.message);
}

describe('invariant 6: no access for a request outside an integration allowance', () => {
  it('holds for the broker as it is: every intruder request refused, nothing recorded traces back to it', async () => {
    // Arrange
    const stats = new ModelStats();

    // Act
    const report = await runScenario(world, SCENARIO, stats);

    // Assert
    expect(report.violations, report.trace.join('\n')).toEqual([]);
    expect(Object.fromEntries(stats.intruder.refused)).toEqual({
      'rejected ACCOUNT_NOT_ALLOWED': 2,
      'rejected BREAK_GLASS_NOT_ALLOWED': 1,
      'rejected NOT_ALLOWED': 1,
      'rejected PROOF_REQUIRED': 1,
      'rejected SENDER_NOT_ALLOWED': 5,
    });
    expect(stats.results.get('granted')).toBe(2);
  });

  it('reports a broker whose Senders directory takes the intruder for the ticketing role', async () => {
    // Arrange
    const intruder = localSenderId('intruder').split(':')[0];
    const lying: Senders = {
      principalOf: async (senderId) =>
        senderId.split(':')[0] === intruder ? TICKETING_ROLE : world.deps.senders.principalOf(senderId),
    };
    const stats = new ModelStats();

    // Act
    const report = await runScenario(world, SCENARIO, stats, { intake: { senders: lying } });

    // Assert
    const found = recorded(report.violations);
    expect(stats.violations[6]).toBeGreaterThan(0);
    expect(
      found.some((m) => /lease SAFE-\S+-x0 .* must be refused/.test(m)),
      found.join('\n'),
    ).toBe(true);
    expect(
      found.some((m) => m.includes('audit event revoked')),
      found.join('\n'),
    ).toBe(true);
    expect(
      found.some((m) => m.includes('audit event extended')),
      found.join('\n'),
    ).toBe(true);
    expect(
      found.some((m) => m.includes('AssociateAccessPolicy')),
      found.join('\n'),
    ).toBe(true);
  });

  it('reports a broker that decides with a ticketing ceiling wider than the reviewed rules', async () => {
    // Arrange
    const rules = world.deps.rules;
    const admin: AccessRule = {
      id: 'ticketing-admin',
      clusters: ['demo'],
      principals: ['arn:aws:iam::111122223333:role/*'],
      policies: ['AmazonEKSClusterAdminPolicy'],
      clusterScope: true,
      maxDurationSeconds: 3600,
      breakGlassOnly: false,
      requireProof: false,
      self: false,
    };
    const widened: AccessRules = {
      ...rules,
      rules: [...rules.rules, admin],
      integrations: rules.integrations.map((integration) =>
        integration.id === 'ticketing'
          ? { ...integration, rules: [...integration.rules, admin.id] }
          : integration,
      ),
    };
    const stats = new ModelStats();

    // Act
    const report = await runScenario(world, SCENARIO, stats, { intake: { rules: widened } });

    // Assert
    const found = recorded(report.violations);
    expect(stats.violations[6]).toBeGreaterThan(0);
    expect(
      found.some((m) => m.includes("rule ticketing-admin, outside integration ticketing's ceiling")),
      found.join('\n'),
    ).toBe(true);
    expect(
      found.some((m) => /lease SAFE-\S+-x\d .* must be refused/.test(m)),
      found.join('\n'),
    ).toBe(true);
  });

  /**
   * The dead-letter function identifies who sent a dead letter as the intake does (the dead letter keeps the
   * SenderId of the message SQS moved; an EventBridge event keeps its account): requests whose every delivery
   * failed before they were answered (here: each dies before its rejection is published, as in an EventBridge
   * outage) are refused there too, and the lease they aimed at ends at its expiry, not before.
   */
  it('holds when the intruder requests reach the dead-letter queue: refused there too, the lease ends at its expiry', async () => {
    // Arrange
    const stats = new ModelStats();
    const scenario: Scenario = {
      ...SCENARIO,
      ops: [
        grant(0),
        intrude('extend', 'intruder-role', { outage: true }),
        intrude('grant', 'other-account', { outage: true }),
        intrude('revoke', 'intruder-role', { outage: true }),
        { kind: 'advance', seconds: 120 },
      ],
    };

    // Act
    const report = await runScenario(world, scenario, stats);

    // Assert
    const granted = report.trace[1]?.match(/SAFE-\S+/)?.[0] ?? '';
    const lease = await world.deps.store.findLease(granted);
    expect(stats.deadLettered).toBe(3);
    expect(report.violations).toEqual([]);
    // The deliveries' retries take the clock past the lease's 900 s: it ended as it should, at its expiry, not
    // early by the intruder's dead-lettered revoke.
    expect(lease).toMatchObject({ status: 'ended', endReason: 'expired' });
    expect(lease?.endedAt).toBeGreaterThanOrEqual(lease?.expiresAt ?? Number.POSITIVE_INFINITY);
    expect(report.trace.filter((line) => line.includes('dead-lettered'))).toEqual([
      expect.stringMatching(/extend .* dead-lettered -> rejected$/),
      expect.stringMatching(/grant .* dead-lettered -> rejected$/),
      expect.stringMatching(/revoke .* dead-lettered -> rejected$/),
    ]);
  });
});
