import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadRulesYaml } from '../../functions/config/access-rules-yaml';
import type { AccessRules } from '../../functions/core/rules';
import { buildStack } from '../../infra/stack/resources';
import { serverlessWebhooks } from '../../infra/stack/serverless-stack';
import { type AuditedStatement, iamProblems, type Template } from './template-audit';

const RULES_WITHOUT_WEBHOOKS = `
version: 2
integrations:
  - id: ticketing
    principals: ['arn:aws:iam::111122223333:role/ticketing']
    sources: [com.example.ticketing]
    queue: true
    rules: [dev-view]
    requestedBy: asserted
clusters:
  - { name: prod, region: eu-west-1, accountId: '111122223333' }
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
  - id: oncall-admin
    clusters: [prod]
    principals: ['arn:aws:iam::111122223333:role/oncall-*']
    policies: [AmazonEKSClusterAdminPolicy]
    clusterScope: true
    maxDurationSeconds: 3600
    breakGlassOnly: true
    requireProof: false
    self: false
`;

/** The same, with a Jira integration (SSM secret, Secrets Manager token by name) and a PagerDuty one (by ARN). */
const RULES_WITH_WEBHOOKS = RULES_WITHOUT_WEBHOOKS.replace(
  'clusters:\n',
  `  - id: jira
    requestedBy: read-back
    rules: [dev-view]
    webhook:
      vendor: jira
      secret: /eks-access-broker/jira/webhook-secret
      url: https://example.atlassian.net
      user: broker@example.com
      token: secretsmanager:eks-access-broker/jira-token
      projects: [ACCESS]
      statuses: { approved: [Approved], closed: [Done] }
      fields: { cluster: customfield_1, principal: customfield_2, policy: customfield_3, durationHours: customfield_4 }
  - id: pager-duty
    requestedBy: read-back
    breakGlass: true
    rules: [oncall-admin]
    webhook:
      vendor: pagerduty
      secret: /eks-access-broker/pagerduty/webhook-secret
      url: https://api.pagerduty.com
      token: secretsmanager:arn:aws:secretsmanager:eu-west-1:111122223333:secret:pd-api-key-AbCdEf
      from: broker@example.com
      services: [{ id: PSVC001, cluster: prod }]
      users: [{ id: PUSR001, principal: 'arn:aws:iam::111122223333:role/oncall-alice' }]
      policy: AmazonEKSClusterAdminPolicy
      durationSeconds: 3600
clusters:
`,
);
const WITHOUT = loadRulesYaml(RULES_WITHOUT_WEBHOOKS, 'without-webhooks.yaml');
const WITH = loadRulesYaml(RULES_WITH_WEBHOOKS, 'with-webhooks.yaml');

/** The resources a webhook integration brings, and only it. */
const WEBHOOK_RESOURCE_IDS = [
  'WebhookRole',
  'WriteBackDeadLetterQueue',
  'WriteBackDeadLetterQueueAlarm',
  'WriteBackDeadLetterQueuePolicy',
  'WriteBackFailedAlarm',
  'WriteBackQueue',
  'WriteBackQueuePolicy',
  'WriteBackRole',
  'WriteBackRule',
];

function stack(rules: AccessRules, eventBusName = 'eks-access-broker-test-bus'): Template {
  const built = buildStack({
    stage: 'test',
    rules,
    eventBusName,
    timeoutSeconds: { sqsIntake: 30, expiryTimer: 30, deadLetter: 30, writeBack: 20 },
  });
  // Through JSON, as osls hands it to CloudFormation.
  return JSON.parse(JSON.stringify(built)) as Template;
}

function properties(template: Template, id: string): Record<string, unknown> {
  const found = template.Resources[id];
  if (!found) throw new Error(`no resource ${id}`);
  return found.Properties ?? {};
}

function statementsOf(template: Template, roleId: string): AuditedStatement[] {
  const [policy] = properties(template, roleId).Policies as {
    PolicyDocument: { Statement: AuditedStatement[] };
  }[];
  return policy?.PolicyDocument.Statement ?? [];
}

/** An ARN in the stack's own partition, region and account, as Fn::Sub spells it. */
function inStack(service: string, resource: string) {
  return { 'Fn::Sub': `arn:\${AWS::Partition}:${service}:\${AWS::Region}:\${AWS::AccountId}:${resource}` };
}

const getAtt = (id: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [id, attribute] });
const LOGS = (name: string) => ({
  Sid: 'OwnLogs',
  Effect: 'Allow',
  Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
  Resource: [getAtt(`${name}LogGroup`)],
});
const API_TOKENS = [
  {
    Sid: 'ApiTokensFromSecretsManager',
    Effect: 'Allow',
    Action: ['secretsmanager:GetSecretValue'],
    Resource: [
      inStack('secretsmanager', 'secret:eks-access-broker/jira-token-??????'),
      'arn:aws:secretsmanager:eu-west-1:111122223333:secret:pd-api-key-AbCdEf',
    ],
  },
];

describe('a deployment whose rules declare no webhook integration', () => {
  it('has no webhook role, write-back queue, rule, alarm or URL', () => {
    // Act
    const template = stack(WITHOUT);

    // Assert
    const ids = Object.keys(template.Resources);
    expect(ids.filter((id) => WEBHOOK_RESOURCE_IDS.includes(id) || /Webhook|WriteBack/.test(id))).toEqual([]);
    expect(Object.keys(template.Outputs ?? {}).filter((id) => id.startsWith('WebhookUrl'))).toEqual([]);
  });

  it('lets only the queue integrations send requests, and gives the intake no token nor webhook sender', () => {
    // Act
    const template = stack(WITHOUT);

    // Assert
    const deny = (
      properties(template, 'RequestsQueuePolicy').PolicyDocument as { Statement: AuditedStatement[] }
    ).Statement[0];
    expect(deny?.Condition?.ArnNotEquals).toEqual({
      'aws:PrincipalArn': ['arn:aws:iam::111122223333:role/ticketing'],
    });
    for (const role of ['SqsIntakeRole', 'DeadLetterRole']) {
      expect(statementsOf(template, role).map((statement) => statement.Sid)).not.toContain(
        'ResolveWebhookSender',
      );
      expect(JSON.stringify(statementsOf(template, role))).not.toMatch(/ssm:|secretsmanager:/);
    }
  });
});

describe('a deployment whose rules declare webhook integrations', () => {
  it('gives the webhook function the requests queue, its delivery ids and the signing secrets, nothing else', () => {
    // Act
    const template = stack(WITH);

    // Assert
    expect(statementsOf(template, 'WebhookRole')).toEqual([
      LOGS('Webhook'),
      {
        Sid: 'QueueTicketEvents',
        Effect: 'Allow',
        Action: ['sqs:SendMessage'],
        Resource: [getAtt('RequestsQueue')],
      },
      {
        Sid: 'WebhookDeliveries',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
        Resource: [getAtt('LeaseTable')],
      },
      {
        Sid: 'WebhookSecretsFromSsm',
        Effect: 'Allow',
        Action: ['ssm:GetParameter'],
        Resource: [
          inStack('ssm', 'parameter/eks-access-broker/jira/webhook-secret'),
          inStack('ssm', 'parameter/eks-access-broker/pagerduty/webhook-secret'),
        ],
      },
    ]);
    expect(properties(template, 'WebhookRole').ManagedPolicyArns).toBeUndefined();
  });

  it('gives the write-back function its queue, lease reads, the API tokens and EKS reads only', () => {
    // Act
    const template = stack(WITH);

    // Assert
    expect(statementsOf(template, 'WriteBackRole')).toEqual([
      LOGS('WriteBack'),
      {
        Sid: 'ConsumeQueue',
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        Resource: [getAtt('WriteBackQueue')],
      },
      {
        Sid: 'ReadLeases',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:Query'],
        Resource: [getAtt('LeaseTable')],
      },
      ...API_TOKENS,
      {
        Sid: 'ReadAccessEntries',
        Effect: 'Allow',
        Action: ['eks:DescribeAccessEntry', 'eks:ListAssociatedAccessPolicies'],
        Resource: ['arn:aws:eks:eu-west-1:111122223333:access-entry/prod/*'],
      },
      // The partner cluster is read with its own role, as the other functions manage it.
      {
        Sid: 'AssumeClusterRoles',
        Effect: 'Allow',
        Action: ['sts:AssumeRole'],
        Resource: ['arn:aws:iam::444455556666:role/eks-access-broker'],
      },
    ]);
    expect(properties(template, 'WriteBackRole').ManagedPolicyArns).toBeUndefined();
    expect(iamProblems(template, WITH)).toEqual([]);
  });

  it('lets the SQS intake and the dead-letter function read the API tokens and resolve the webhook role', () => {
    // Act
    const template = stack(WITH);

    // Assert
    for (const role of ['SqsIntakeRole', 'DeadLetterRole']) {
      const statements = statementsOf(template, role);
      const sids = statements.map((statement) => statement.Sid);
      const from = sids.indexOf('ResolveQueueSenders');
      expect(statements.slice(from, from + 3), role).toEqual([
        {
          Sid: 'ResolveQueueSenders',
          Effect: 'Allow',
          Action: ['iam:GetRole'],
          Resource: ['arn:aws:iam::111122223333:role/ticketing'],
        },
        ...API_TOKENS,
        {
          Sid: 'ResolveWebhookSender',
          Effect: 'Allow',
          Action: ['iam:GetRole'],
          Resource: [getAtt('WebhookRole')],
        },
      ]);
    }
    for (const role of ['EventbridgeIntakeRole', 'ExpiryTimerRole', 'SweeperRole', 'DriftCheckRole']) {
      expect(JSON.stringify(statementsOf(template, role)), role).not.toMatch(
        /iam:GetRole|ssm:|secretsmanager:/,
      );
    }
  });

  it('lets the webhook role send on the requests queue, besides the queue integrations', () => {
    // Act
    const template = stack(WITH);

    // Assert
    const document = properties(template, 'RequestsQueuePolicy').PolicyDocument as {
      Statement: AuditedStatement[];
    };
    expect(document.Statement[0]).toEqual({
      Sid: 'OnlyIntegrationsSend',
      Effect: 'Deny',
      Principal: '*',
      Action: 'sqs:SendMessage',
      Resource: getAtt('RequestsQueue'),
      Condition: {
        ArnNotEquals: {
          'aws:PrincipalArn': ['arn:aws:iam::111122223333:role/ticketing', getAtt('WebhookRole')],
        },
        BoolIfExists: { 'aws:PrincipalIsAWSService': 'false' },
      },
    });
  });

  it("routes the broker's outcomes of the webhook integrations' requests to the write-back queue", () => {
    // Act
    const template = stack(WITH);

    // Assert
    expect(properties(template, 'WriteBackRule')).toEqual({
      Name: 'eks-access-broker-test-write-back',
      Description: "Outcomes of the webhook integrations' requests, to be written back to their tickets",
      EventBusName: { Ref: 'EventBus' },
      State: 'ENABLED',
      EventPattern: {
        source: ['eks-access-broker'],
        detail: { origin: { integration: ['jira', 'pager-duty'] } },
      },
      Targets: [
        {
          Id: 'write-back',
          Arn: getAtt('WriteBackQueue'),
          DeadLetterConfig: { Arn: getAtt('WriteBackDeadLetterQueue') },
        },
      ],
    });
    expect(properties(stack(WITH, 'tickets'), 'WriteBackRule').EventBusName).toBe('tickets');
  });

  it('redrives the write-back queue to its DLQ after 5 receives, six function timeouts apart, kept 4 days', () => {
    // Act
    const template = stack(WITH);

    // Assert
    expect(properties(template, 'WriteBackQueue')).toEqual({
      QueueName: 'eks-access-broker-test-write-back',
      VisibilityTimeout: 120,
      MessageRetentionPeriod: 4 * 24 * 3600,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: getAtt('WriteBackDeadLetterQueue'), maxReceiveCount: 5 },
    });
    expect(properties(template, 'WriteBackDeadLetterQueue')).toEqual({
      QueueName: 'eks-access-broker-test-write-back-dlq',
      MessageRetentionPeriod: 14 * 24 * 3600,
      SqsManagedSseEnabled: true,
      RedriveAllowPolicy: {
        redrivePermission: 'byQueue',
        sourceQueueArns: [inStack('sqs', 'eks-access-broker-test-write-back')],
      },
    });
  });

  it('lets only EventBridge, from the write-back rule, send to the write-back queue and its DLQ', () => {
    // Act
    const template = stack(WITH);

    // Assert
    const fromRule = (sid: string, queue: string) => ({
      Sid: sid,
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Resource: getAtt(queue),
      Condition: { ArnEquals: { 'aws:SourceArn': getAtt('WriteBackRule') } },
    });
    const denyAll = (sid: string, queue: string) => ({
      Sid: sid,
      Effect: 'Deny',
      Principal: '*',
      Action: 'sqs:SendMessage',
      Resource: getAtt(queue),
      Condition: { BoolIfExists: { 'aws:PrincipalIsAWSService': 'false' } },
    });
    for (const [queue, deny, allow] of [
      ['WriteBackQueue', 'OnlyItsRuleSends', 'AllowWriteBackRule'],
      ['WriteBackDeadLetterQueue', 'OnlyBrokerSends', 'AllowService0Events'],
    ] as const) {
      expect(properties(template, `${queue}Policy`)).toEqual({
        Queues: [{ Ref: queue }],
        PolicyDocument: { Version: '2012-10-17', Statement: [denyAll(deny, queue), fromRule(allow, queue)] },
      });
    }
  });

  it('alarms on the write-back DLQ and on write-backs the vendor refused for good', () => {
    // Act
    const template = stack(WITH);

    // Assert
    expect(properties(template, 'WriteBackDeadLetterQueueAlarm')).toMatchObject({
      AlarmName: 'eks-access-broker-test-WriteBackDeadLetterQueue',
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: getAtt('WriteBackDeadLetterQueue', 'QueueName') }],
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      AlarmActions: [{ Ref: 'AlarmTopic' }],
    });
    expect(properties(template, 'WriteBackFailedAlarm')).toMatchObject({
      Metrics: [
        {
          Expression: `SELECT SUM(WriteBackFailed) FROM "EksAccessBroker" WHERE stage = 'test'`,
          ReturnData: true,
        },
      ],
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
    });
  });

  it('outputs the webhook URL of each integration: the function URL followed by webhooks/<id>', () => {
    // Act
    const { Outputs = {} } = stack(WITH);

    // Assert
    const functionUrl = getAtt('WebhookLambdaFunctionUrl', 'FunctionUrl');
    expect(Object.keys(Outputs).filter((id) => id.startsWith('WebhookUrl'))).toEqual([
      'WebhookUrl',
      'WebhookUrlJira',
      'WebhookUrlPagerDuty',
    ]);
    expect(Outputs.WebhookUrl).toMatchObject({ Value: functionUrl });
    expect(Outputs.WebhookUrlJira).toEqual({
      Description: 'Give this URL to jira as the webhook of integration jira',
      Value: { 'Fn::Join': ['', [functionUrl, 'webhooks/jira']] },
    });
    expect(Outputs.WebhookUrlPagerDuty).toEqual({
      Description: 'Give this URL to pagerduty as the webhook of integration pager-duty',
      Value: { 'Fn::Join': ['', [functionUrl, 'webhooks/pager-duty']] },
    });
  });
});

describe("serverless.yml's webhook functions", () => {
  const dir = mkdtempSync(join(tmpdir(), 'eks-access-broker-webhooks-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const definitions = { webhook: { handler: 'webhook' }, writeBack: { handler: 'write-back' } };
  const rulesFile = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return { serviceDir: dir, accessRulesFile: name };
  };

  it('are deployed, with the webhook role as the sender of ticket events, when the rules declare a webhook', () => {
    // Act
    const webhooks = serverlessWebhooks(rulesFile('with.yaml', RULES_WITH_WEBHOOKS), definitions);

    // Assert
    expect(webhooks).toEqual({
      functions: definitions,
      senderEnvironment: { WEBHOOK_SENDER_ARN: getAtt('WebhookRole') },
    });
  });

  it('are not deployed when the rules declare none', () => {
    // Act
    const webhooks = serverlessWebhooks(rulesFile('without.yaml', RULES_WITHOUT_WEBHOOKS), definitions);

    // Assert
    expect(webhooks).toEqual({ functions: {}, senderEnvironment: {} });
  });

  it('stop packaging when one of the two is not defined', () => {
    // Act
    const attempt = () =>
      serverlessWebhooks(rulesFile('with.yaml', RULES_WITH_WEBHOOKS), { webhook: { handler: 'webhook' } });

    // Assert
    expect(attempt).toThrow('serverless.yml custom.webhookFunctions must define writeBack');
  });
});
