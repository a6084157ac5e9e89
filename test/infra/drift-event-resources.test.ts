import { describe, expect, it } from 'vitest';
import { loadRulesYaml } from '../../functions/config/access-rules-yaml';
import { BROKER_FUNCTIONS, buildStack } from '../../infra/stack/resources';
import { sampleEvent } from '../support/fixtures';
import type { Template } from './template-audit';

const RULES = loadRulesYaml(
  `
version: 2
integrations:
  - id: ticketing
    principals: ['arn:aws:iam::111122223333:role/ticketing']
    sources: [com.example.ticketing]
    rules: [dev-view]
    requestedBy: asserted
clusters:
  - { name: prod, region: us-east-1, accountId: '111122223333' }
  - name: partner
    region: us-east-1
    accountId: '444455556666'
    roleArn: arn:aws:iam::444455556666:role/eks-access-broker
breakGlass: { minReasonLength: 20, maxDurationSeconds: 3600 }
rules:
  - id: dev-view
    clusters: ['*']
    principals: ['arn:aws:iam::111122223333:role/dev-*']
    policies: [AmazonEKSViewPolicy]
    namespaces: ['*']
    maxDurationSeconds: 3600
`,
  'drift-events.yaml',
);

/** The stack as CloudFormation gets it, GetAtt of a role standing for that role's ARN in a deployed stack. */
function stack(): Template {
  const built = buildStack({
    stage: 'test',
    rules: RULES,
    eventBusName: 'eks-access-broker-test-bus',
    timeoutSeconds: { sqsIntake: 30, expiryTimer: 30, deadLetter: 30, writeBack: 20 },
  });
  return JSON.parse(JSON.stringify(built)) as Template;
}

/** A role's ARN once deployed, as CloudFormation names roles it creates (`<stack>-<logical id>-<suffix>`). */
const deployedRoleArn = (logicalId: string) =>
  `arn:aws:iam::111122223333:role/eks-access-broker-test-${logicalId}-1A2B3C4D5E6F`;

/** The pattern with every GetAtt of a role resolved as deployed. */
function deployedPattern(template: Template): unknown {
  const rule = template.Resources.DriftEventsRule?.Properties ?? {};
  return JSON.parse(JSON.stringify(rule.EventPattern), (_key, value: unknown) => {
    const getAtt = (value as { 'Fn::GetAtt'?: [string, string] } | null)?.['Fn::GetAtt'];
    return getAtt ? deployedRoleArn(getAtt[0]) : value;
  });
}

/**
 * EventBridge's matching, for the operators the rule uses: a list of values or of `{ exists }` and
 * `{ anything-but: [...] }`, nested objects, and `$or`. A leaf the event lacks matches only `exists: false`.
 */
function matches(pattern: unknown, event: unknown): boolean {
  if (typeof pattern !== 'object' || pattern === null) return false;
  return Object.entries(pattern).every(([key, wanted]) => {
    if (key === '$or') return (wanted as unknown[]).some((branch) => matches(branch, event));
    const value = (event as Record<string, unknown> | undefined)?.[key];
    if (!Array.isArray(wanted)) return matches(wanted, value ?? {});
    return wanted.some((option) => {
      if (typeof option !== 'object' || option === null) return value === option;
      if ('exists' in option) return (value !== undefined) === option.exists;
      if ('anything-but' in option) {
        return value !== undefined && !(option['anything-but'] as unknown[]).includes(value);
      }
      return false;
    });
  });
}

describe('the drift-events rule (infra/stack/drift-event-resources.ts)', () => {
  it("matches others' changes to access entries, made by a role session or a user", () => {
    // Arrange
    const pattern = deployedPattern(stack());

    // Act / Assert
    expect(matches(pattern, sampleEvent('cloudtrail/delete-access-entry.json'))).toBe(true);
    expect(matches(pattern, sampleEvent('cloudtrail/associate-access-policy.json'))).toBe(true);
  });

  it("leaves out the broker's own calls, through any of its functions' roles or the clusters' roles", () => {
    // Arrange
    const template = stack();
    const pattern = deployedPattern(template);
    const byRole = (roleArn: string) => {
      const event = sampleEvent('cloudtrail/create-access-entry.json');
      const identity = event.detail.userIdentity as { sessionContext: { sessionIssuer: { arn: string } } };
      identity.sessionContext.sessionIssuer.arn = roleArn;
      return event;
    };

    // Act / Assert
    for (const name of BROKER_FUNCTIONS) {
      const roleId = `${name.charAt(0).toUpperCase()}${name.slice(1)}Role`;
      expect(matches(pattern, byRole(deployedRoleArn(roleId))), name).toBe(false);
    }
    expect(matches(pattern, byRole('arn:aws:iam::444455556666:role/eks-access-broker'))).toBe(false);
    expect(matches(pattern, byRole('arn:aws:iam::111122223333:role/dev-bob'))).toBe(true);
  });

  it('leaves out failed calls and calls that change no access entry', () => {
    // Arrange
    const pattern = deployedPattern(stack());
    const event = sampleEvent('cloudtrail/delete-access-entry.json');

    // Act / Assert
    expect(matches(pattern, { ...event, detail: { ...event.detail, errorCode: 'AccessDenied' } })).toBe(
      false,
    );
    expect(matches(pattern, { ...event, detail: { ...event.detail, eventName: 'TagResource' } })).toBe(false);
  });

  it('routes to the driftEvent function, on the default bus, retried then dead-lettered into an alarmed queue', () => {
    // Arrange
    const template = stack();

    // Act
    const rule = template.Resources.DriftEventsRule?.Properties ?? {};
    const policy = JSON.stringify(template.Resources.DriftEventsDeadLetterQueuePolicy?.Properties);
    const alarm = template.Resources.DriftEventsDeadLetterQueueAlarm?.Properties ?? {};

    // Assert
    expect(rule.EventBusName).toBeUndefined();
    expect(rule.Targets).toEqual([
      {
        Id: 'drift-event',
        Arn: { 'Fn::GetAtt': ['DriftEventLambdaFunction', 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['DriftEventsDeadLetterQueue', 'Arn'] } },
      },
    ]);
    expect(template.Resources.DriftEventsRulePermission?.Properties).toMatchObject({
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': ['DriftEventsRule', 'Arn'] },
    });
    // Only the function's role and the rule itself may send there.
    expect(policy).toContain('"DriftEventRole","Arn"');
    expect(policy).toContain('"DriftEventsRule","Arn"');
    expect(alarm).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 0 });
  });
});
