import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readRulesYaml } from '../../functions/config/access-rules-yaml';
import { LOCAL_RESOURCE_NAMES } from '../../functions/config/names';
import {
  LOCAL_BROKER_ROLE_ARN,
  localIntakePolicies,
  type ResourcePolicyDocument,
} from '../../infra/stack/intake-policies';
import { buildStack } from '../../infra/stack/resources';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/**
 * The example rules: ticketing (bus and queue), oncall (bus, role glob), self-service (bus, role glob), and the
 * webhook integrations jira and pagerduty (neither bus nor queue: the broker's webhook function queues for them).
 */
const RULES = readRulesYaml(join(ROOT, 'infra/access-rules.yaml'));
const ROLE_ARNS = [
  'EventbridgeIntake',
  'SqsIntake',
  'ExpiryTimer',
  'Sweeper',
  'DriftCheck',
  'DriftEvent',
  'DeadLetter',
].map((name) => ({ 'Fn::GetAtt': [`${name}Role`, 'Arn'] }));
/** CloudFormation's pseudo parameters, spelled as Fn::Sub reads them. */
const ARN_PREFIX = ['arn:', 'AWS::Partition', ':events:', 'AWS::Region', ':', 'AWS::AccountId']
  .map((part) => (part.startsWith('AWS::') ? `\${${part}}` : part))
  .join('');
const BUS_ARN = { 'Fn::Sub': `${ARN_PREFIX}:event-bus/eks-access-broker-test-bus` };
const REQUEST_TYPES = ['Access Grant Requested', 'Access Revoke Requested', 'Access Extend Requested'];

function stack(eventBusName = 'eks-access-broker-test-bus', operatorRoleArns: string[] = []) {
  return buildStack({
    stage: 'test',
    rules: RULES,
    eventBusName,
    operatorRoleArns,
    timeoutSeconds: { sqsIntake: 30, expiryTimer: 30, deadLetter: 30, writeBack: 20 },
  });
}

function queuePolicy(id: string): ResourcePolicyDocument {
  const resource = stack().Resources[`${id}Policy`];
  expect(resource?.Type).toBe('AWS::SQS::QueuePolicy');
  expect(resource?.Properties?.Queues).toEqual([{ Ref: id }]);
  return resource?.Properties?.PolicyDocument as unknown as ResourcePolicyDocument;
}

describe("the stage's own event bus", () => {
  it('is created with a policy that ties each integration to its sources, statement by statement', () => {
    // Act
    const bus = stack().Resources.EventBus;

    // Assert
    expect(bus?.Type).toBe('AWS::Events::EventBus');
    expect(bus?.Properties?.Name).toBe('eks-access-broker-test-bus');
    const policy = bus?.Properties?.Policy as unknown as ResourcePolicyDocument;
    const common = { Principal: '*', Action: 'events:PutEvents', Resource: BUS_ARN };
    expect(policy.Statement).toEqual([
      {
        Sid: 'DenyForeignSources0Ticketing',
        Effect: 'Deny',
        ...common,
        Condition: {
          'ForAnyValue:StringEquals': { 'events:source': ['com.example.ticketing'] },
          StringNotLike: { 'aws:PrincipalArn': ['arn:aws:iam::111122223333:role/ticketing-integration'] },
        },
      },
      {
        Sid: 'DenyForeignSources1Oncall',
        Effect: 'Deny',
        ...common,
        Condition: {
          'ForAnyValue:StringEquals': { 'events:source': ['com.example.oncall'] },
          StringNotLike: { 'aws:PrincipalArn': ['arn:aws:iam::111122223333:role/oncall-*'] },
        },
      },
      {
        Sid: 'DenyForeignSources2SelfService',
        Effect: 'Deny',
        ...common,
        Condition: {
          'ForAnyValue:StringEquals': { 'events:source': ['com.example.self-service'] },
          StringNotLike: { 'aws:PrincipalArn': ['arn:aws:iam::111122223333:role/dev-*'] },
        },
      },
      {
        Sid: 'DenyForgedOutcomes',
        Effect: 'Deny',
        ...common,
        Condition: {
          'ForAnyValue:StringEquals': { 'events:source': ['eks-access-broker'] },
          ArnNotEquals: { 'aws:PrincipalArn': ROLE_ARNS },
        },
      },
      ...[
        [
          'AllowIntegration0Ticketing',
          'com.example.ticketing',
          'arn:aws:iam::111122223333:role/ticketing-integration',
        ],
        ['AllowIntegration1Oncall', 'com.example.oncall', 'arn:aws:iam::111122223333:role/oncall-*'],
        ['AllowIntegration2SelfService', 'com.example.self-service', 'arn:aws:iam::111122223333:role/dev-*'],
      ].map(([Sid, source, principal]) => ({
        Sid,
        Effect: 'Allow',
        ...common,
        Condition: {
          'ForAllValues:StringEquals': { 'events:source': [source] },
          Null: { 'events:source': 'false' },
          StringEquals: { 'events:detail-type': REQUEST_TYPES },
          StringLike: { 'aws:PrincipalArn': [principal] },
        },
      })),
    ]);
  });

  it('is where requests are routed from and outcomes are published to', () => {
    // Act
    const { Resources, Outputs } = stack();

    // Assert
    expect(Resources.IntakeRequestsRule?.Properties?.EventBusName).toEqual({ Ref: 'EventBus' });
    expect(Outputs.EventBusName?.Value).toEqual({ Ref: 'EventBus' });
    expect(Outputs.EventBusPolicy).toBeUndefined();
  });

  it("lets the operators' roles publish outcomes too, when named", () => {
    // Act
    const policy = stack(undefined, ['arn:aws:iam::111122223333:role/operator']).Resources.EventBus
      ?.Properties?.Policy as unknown as ResourcePolicyDocument;

    // Assert
    const forged = policy.Statement.find((statement) => statement.Sid === 'DenyForgedOutcomes');
    expect(forged?.Condition.ArnNotEquals?.['aws:PrincipalArn']).toEqual([
      ...ROLE_ARNS,
      'arn:aws:iam::111122223333:role/operator',
    ]);
  });
});

describe('an existing event bus', () => {
  it('is not created nor changed: the policy it needs is an output, with the ARNs resolved', () => {
    // Act
    const { Resources, Outputs } = stack('tickets');

    // Assert
    expect(Resources.EventBus).toBeUndefined();
    expect(Resources.IntakeRequestsRule?.Properties?.EventBusName).toBe('tickets');
    const value = Outputs.EventBusPolicy?.Value as { 'Fn::Sub': [string, Record<string, unknown>] };
    const [text, variables] = value['Fn::Sub'];
    expect(Object.values(variables)).toEqual(
      expect.arrayContaining([
        { 'Fn::Sub': `${ARN_PREFIX}:event-bus/tickets` },
        { 'Fn::GetAtt': ['SweeperRole', 'Arn'] },
      ]),
    );
    // With every variable replaced by its name, the text is the policy document.
    const document = JSON.parse(text.replaceAll(/\$\{(V\d+)\}/g, '$1')) as ResourcePolicyDocument;
    expect(document.Statement.map((statement) => statement.Sid)).toEqual([
      'DenyForeignSources0Ticketing',
      'DenyForeignSources1Oncall',
      'DenyForeignSources2SelfService',
      'DenyForgedOutcomes',
      'AllowIntegration0Ticketing',
      'AllowIntegration1Oncall',
      'AllowIntegration2SelfService',
    ]);
  });
});

describe('the queue policies', () => {
  const deny = (Sid: string, resource: string, senders?: unknown[]) => ({
    Sid,
    Effect: 'Deny',
    Principal: '*',
    Action: 'sqs:SendMessage',
    Resource: { 'Fn::GetAtt': [resource, 'Arn'] },
    Condition: {
      ...(senders ? { ArnNotEquals: { 'aws:PrincipalArn': senders } } : {}),
      BoolIfExists: { 'aws:PrincipalIsAWSService': 'false' },
    },
  });

  it('let only the queue integrations and the webhook function send requests', () => {
    expect(queuePolicy('RequestsQueue').Statement).toEqual([
      deny('OnlyIntegrationsSend', 'RequestsQueue', [
        'arn:aws:iam::111122223333:role/ticketing-integration',
        { 'Fn::GetAtt': ['WebhookRole', 'Arn'] },
      ]),
      {
        Sid: 'AllowQueueIntegrations',
        Effect: 'Allow',
        Principal: '*',
        Action: 'sqs:SendMessage',
        Resource: { 'Fn::GetAtt': ['RequestsQueue', 'Arn'] },
        Condition: {
          ArnEquals: { 'aws:PrincipalArn': ['arn:aws:iam::111122223333:role/ticketing-integration'] },
        },
      },
    ]);
  });

  it('let only the functions that arm timers send timers', () => {
    expect(queuePolicy('TimerQueue').Statement).toEqual([
      deny('OnlyTimerArmersSend', 'TimerQueue', [
        { 'Fn::GetAtt': ['EventbridgeIntakeRole', 'Arn'] },
        { 'Fn::GetAtt': ['SqsIntakeRole', 'Arn'] },
        { 'Fn::GetAtt': ['ExpiryTimerRole', 'Arn'] },
        { 'Fn::GetAtt': ['SweeperRole', 'Arn'] },
      ]),
    ]);
  });

  it('let nobody write to the redrive dead-letter queues, and only the intake and its rule to the events one', () => {
    expect(queuePolicy('RequestsDeadLetterQueue').Statement).toEqual([
      deny('OnlyBrokerSends', 'RequestsDeadLetterQueue'),
    ]);
    expect(queuePolicy('TimerDeadLetterQueue').Statement).toEqual([
      deny('OnlyBrokerSends', 'TimerDeadLetterQueue'),
    ]);
    expect(queuePolicy('IntakeEventsDeadLetterQueue').Statement).toEqual([
      deny('OnlyBrokerSends', 'IntakeEventsDeadLetterQueue', [
        { 'Fn::GetAtt': ['EventbridgeIntakeRole', 'Arn'] },
      ]),
      {
        Sid: 'AllowService0Events',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: { 'Fn::GetAtt': ['IntakeEventsDeadLetterQueue', 'Arn'] },
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': ['IntakeRequestsRule', 'Arn'] } } },
      },
    ]);
  });

  it('let the intake resolve the queue senders with iam:GetRole on exactly their roles', () => {
    const roles = stack().Resources;
    const statementsOf = (role: string) => {
      const policies = (roles[role]?.Properties?.Policies ?? []) as unknown as {
        PolicyDocument: ResourcePolicyDocument;
      }[];
      const [policy] = policies;
      return (policy?.PolicyDocument.Statement ?? []) as unknown as { Sid: string; Action: string[] }[];
    };
    expect(
      statementsOf('SqsIntakeRole').find((statement) => statement.Sid === 'ResolveQueueSenders'),
    ).toEqual({
      Sid: 'ResolveQueueSenders',
      Effect: 'Allow',
      Action: ['iam:GetRole'],
      Resource: ['arn:aws:iam::111122223333:role/ticketing-integration'],
    });
    expect(
      statementsOf('EventbridgeIntakeRole').some((statement) => statement.Action.includes('iam:GetRole')),
    ).toBe(false);
  });
});

describe('the local rendering', () => {
  it('is the same documents with plain ARNs: the local broker role and account 111122223333', () => {
    // Act
    const policies = localIntakePolicies(RULES, {
      names: { ...LOCAL_RESOURCE_NAMES, eventBus: LOCAL_RESOURCE_NAMES.eventBus },
    });

    // Assert
    const text = JSON.stringify(policies);
    expect(text).not.toMatch(/Fn::|"Ref"/);
    expect(
      policies.bus.Statement.find((statement) => statement.Sid === 'DenyForgedOutcomes')?.Condition,
    ).toEqual({
      'ForAnyValue:StringEquals': { 'events:source': ['eks-access-broker'] },
      ArnNotEquals: { 'aws:PrincipalArn': [LOCAL_BROKER_ROLE_ARN] },
    });
    expect(policies.bus.Statement[0]?.Resource).toBe(
      'arn:aws:events:us-east-1:111122223333:event-bus/default',
    );
    expect(policies.requestsQueue.Statement[0]?.Resource).toBe(
      'arn:aws:sqs:us-east-1:111122223333:eks-access-broker-requests',
    );
    expect(policies.timerQueue.Statement[0]?.Condition.ArnNotEquals).toEqual({
      'aws:PrincipalArn': [LOCAL_BROKER_ROLE_ARN],
    });
    // The local webhook endpoint runs as the broker and queues what it verified.
    expect(policies.requestsQueue.Statement[0]?.Condition.ArnNotEquals).toEqual({
      'aws:PrincipalArn': ['arn:aws:iam::111122223333:role/ticketing-integration', LOCAL_BROKER_ROLE_ARN],
    });
  });
});
