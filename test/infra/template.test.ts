/**
 * Packages the service the way `npm run package` does (osls + serverless-esbuild, offline, no AWS
 * credentials), once for the whole file, and checks the CloudFormation template and the zips it produced,
 * down to running a packaged function, alone, against the local broker.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DUE_INDEX,
  LEASE_TABLE,
  LEASE_TABLE_TTL_ATTRIBUTE,
  SUBJECT_AUDIT_INDEX,
} from '../../functions/adapters/lease-table/schema';
import { DEFAULT_LOCK_TTL_SECONDS } from '../../functions/adapters/lease-table/subject-lock';
import { VENDOR_TIMEOUT_MS } from '../../functions/adapters/vendor-http';
import { loadRulesFile } from '../../functions/config/access-rules-file';
import { readRulesYaml } from '../../functions/config/access-rules-yaml';
import {
  DEFAULT_DRIFT_EKS_SHARE,
  DEFAULT_EKS_RATE_PER_SECOND,
  DEFAULT_LOCK_WAIT_MS,
} from '../../functions/config/defaults';
import { DETAIL_TYPES } from '../../functions/core/contract';
import { type LocalBroker, startLocalBroker } from '../../infra/local/broker';
import { loadIdentities } from '../../infra/local/identities';
import { bundleBudgetKiB } from '../support/bundle-budget';
import { freshPrincipal, freshRequestId, sampleSqsEvent } from '../support/fixtures';
import { asArray, iamProblems, iamStatements, resourcesOfType, type Template } from './template-audit';
import { readZip } from './zip-entries';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OSLS = join(ROOT, 'node_modules', 'osls', 'bin', 'serverless.js');
const STAGE = 'ci';
const PREFIX = `eks-access-broker-${STAGE}`;
const RULES_FILE = 'infra/access-rules.yaml';
/** serverless.yml custom.compiledAccessRulesFile: the rules as the functions read them. */
const COMPILED_RULES_FILE = 'infra/.generated/access-rules.json';
const RULES = readRulesYaml(join(ROOT, RULES_FILE));

/** serverless.yml's functions of the broker: key, handler file. */
const BROKER_FUNCTIONS = [
  ['eventbridgeIntake', 'eventbridge-intake'],
  ['sqsIntake', 'sqs-intake'],
  ['expiryTimer', 'expiry-timer'],
  ['sweeper', 'sweeper'],
  ['driftCheck', 'drift-check'],
  ['driftEvent', 'drift-event'],
  ['deadLetter', 'dead-letter'],
] as const;
/** Its functions of the webhook integrations, deployed because the example rules declare two (jira, pagerduty). */
const WEBHOOK_FUNCTIONS = [
  ['webhook', 'webhook'],
  ['writeBack', 'write-back'],
] as const;
const FUNCTIONS = [...BROKER_FUNCTIONS, ...WEBHOOK_FUNCTIONS];
const WEBHOOK_IDS = RULES.integrations.filter((integration) => integration.webhook).map(({ id }) => id);

const logicalPrefix = (key: string) => key.charAt(0).toUpperCase() + key.slice(1);

let packageDir = '';
let template: Template;

/** Only what node needs: no AWS credentials, region or profile can reach osls, so packaging is offline. */
function offlineEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
  };
}

beforeAll(async () => {
  packageDir = mkdtempSync(join(tmpdir(), 'eks-access-broker-package-'));
  try {
    await promisify(execFile)(
      process.execPath,
      [OSLS, 'package', '--stage', STAGE, '--package', packageDir],
      { cwd: ROOT, env: offlineEnv(), maxBuffer: 16 * 1024 * 1024, timeout: 170_000 },
    );
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`osls package failed:\n${stdout}\n${stderr}`, { cause: error });
  }
  template = JSON.parse(
    readFileSync(join(packageDir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Template;
}, 180_000);

afterAll(() => {
  if (packageDir) rmSync(packageDir, { recursive: true, force: true });
});

function resource(id: string): Record<string, unknown> {
  const found = template.Resources[id];
  expect(found, `resource ${id}`).toBeDefined();
  return found?.Properties ?? {};
}

function functionProperties(key: string): Record<string, unknown> {
  return resource(`${logicalPrefix(key)}LambdaFunction`);
}

describe('packaged template', () => {
  it('stops every function that takes subject locks before a lock it took runs out: no stalled invocation acts on a subject another has taken over', () => {
    // A lock lasts DEFAULT_LOCK_TTL_SECONDS from when it was taken; Lambda stops an invocation at its timeout
    // from its start: a timeout no longer than the lock's life ends the holder first (an extension stalled past
    // its lock can then never announce what another invocation contradicts).
    for (const [key] of BROKER_FUNCTIONS) {
      expect(Number(functionProperties(key).Timeout), key).toBeLessThanOrEqual(DEFAULT_LOCK_TTL_SECONDS);
    }
  });

  it('gives every function its own role, nodejs22.x on arm64, and the broker environment', () => {
    const roles = new Set<string>();
    for (const [key, file] of FUNCTIONS) {
      const fn = functionProperties(key);
      expect(fn.Runtime).toBe('nodejs22.x');
      expect(fn.Architectures).toEqual(['arm64']);
      expect(fn.Handler).toBe(`functions/handlers/${file}.handler`);
      const role = (fn.Role as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt']?.[0] ?? '';
      expect(template.Resources[role]?.Type, `${key} role`).toBe('AWS::IAM::Role');
      roles.add(role);
      const variables = (fn.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(variables).toMatchObject({
        // The stack's table; with param leaseTable=existing, the stage's retained one by its name.
        LEASE_TABLE_NAME: { 'Fn::If': ['CreatesLeaseTable', { Ref: 'LeaseTable' }, `${PREFIX}-leases`] },
        // The stage's own bus, which the stack creates.
        EVENT_BUS_NAME: `${PREFIX}-bus`,
        ACCESS_RULES_FILE: `/var/task/${COMPILED_RULES_FILE}`,
        TIMER_QUEUE_URL: { Ref: 'TimerQueue' },
        // serverless.yml's default param is the functions' own default.
        LOCK_WAIT_MS: String(DEFAULT_LOCK_WAIT_MS),
        EKS_RATE_PER_SECOND: String(DEFAULT_EKS_RATE_PER_SECOND),
        DRIFT_EKS_SHARE: String(DEFAULT_DRIFT_EKS_SHARE),
        POWERTOOLS_SERVICE_NAME: 'eks-access-broker',
        BROKER_STAGE: STAGE,
        POWERTOOLS_LOG_LEVEL: expect.any(String),
      });
    }
    expect(roles.size).toBe(FUNCTIONS.length);
    // The webhook function queues on the requests queue; the intakes know its role as the ticket events' sender.
    expect(functionProperties('webhook').Environment).toMatchObject({
      Variables: { REQUESTS_QUEUE_URL: { Ref: 'RequestsQueue' } },
    });
    const senders = FUNCTIONS.filter(
      ([key]) =>
        (functionProperties(key).Environment as { Variables: Record<string, unknown> }).Variables
          .WEBHOOK_SENDER_ARN !== undefined,
    ).map(([key]) => key);
    expect(senders).toEqual(['sqsIntake', 'deadLetter']);
    expect(functionProperties('sqsIntake').Environment).toMatchObject({
      Variables: { WEBHOOK_SENDER_ARN: { 'Fn::GetAtt': ['WebhookRole', 'Arn'] } },
    });
    // No shared role: serverless creates it only for a function without its own.
    expect(template.Resources.IamRoleLambdaExecution).toBeUndefined();
    for (const [key] of FUNCTIONS) {
      expect(resource(`${logicalPrefix(key)}LogGroup`).RetentionInDays).toBe(30);
    }
  });

  it('defines the lease table from its schema with PITR, SSE and TTL on purgeAt', () => {
    const table = resource('LeaseTable');
    expect(table).toMatchObject({
      TableName: `${PREFIX}-leases`,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: LEASE_TABLE.KeySchema,
      AttributeDefinitions: LEASE_TABLE.AttributeDefinitions,
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: LEASE_TABLE_TTL_ATTRIBUTE, Enabled: true },
    });
    const indexes = (table.GlobalSecondaryIndexes as { IndexName: string }[]).map((index) => index.IndexName);
    expect(indexes.sort()).toEqual([DUE_INDEX, SUBJECT_AUDIT_INDEX].sort());
    expect(table.GlobalSecondaryIndexes).toEqual(LEASE_TABLE.GlobalSecondaryIndexes);
    // The audit trail outlives the stack, and a replacement never drops it; the default param creates it.
    expect(template.Resources.LeaseTable).toMatchObject({
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    expect((template.Resources.LeaseTable as { Condition?: string }).Condition).toBeUndefined();
    expect((template as { Conditions?: unknown }).Conditions).toEqual({
      CreatesLeaseTable: { 'Fn::Equals': ['create', 'create'] },
    });
  });

  it('feeds the SQS functions from queues with a DLQ, partial batch failures and a long enough visibility', () => {
    const mappings = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping');
    const byFunction = new Map(
      mappings.map(([, mapping]) => {
        const properties = mapping.Properties ?? {};
        const fn = (properties.FunctionName as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
        return [fn, properties];
      }),
    );
    expect(mappings).toHaveLength(6);
    for (const [key, queueId, name] of [
      ['sqsIntake', 'RequestsQueue', `${PREFIX}-requests`],
      ['expiryTimer', 'TimerQueue', `${PREFIX}-timers`],
      ['writeBack', 'WriteBackQueue', `${PREFIX}-write-back`],
    ] as const) {
      const mapping = byFunction.get(`${logicalPrefix(key)}LambdaFunction`);
      expect(mapping, `${key} event source mapping`).toBeDefined();
      expect(mapping?.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      expect(mapping?.BatchSize).toBe(10);
      expect(mapping?.EventSourceArn).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
      const queue = resource(queueId);
      expect(queue.QueueName).toBe(name);
      expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * Number(functionProperties(key).Timeout));
      const redrive = queue.RedrivePolicy as { deadLetterTargetArn: { 'Fn::GetAtt': [string, string] } };
      expect(redrive).toMatchObject({ maxReceiveCount: 5 });
      const dlq = resource(redrive.deadLetterTargetArn['Fn::GetAtt'][0]);
      expect(dlq.QueueName).toBe(`${name}-dlq`);
    }
    expect(byFunction.get('SqsIntakeLambdaFunction')?.MaximumBatchingWindowInSeconds).toBeGreaterThan(0);
    // A slow vendor times out its own call (a retryable record), not the whole batch.
    expect(Number(functionProperties('writeBack').Timeout)).toBeGreaterThan(VENDOR_TIMEOUT_MS / 1000);
    // Every dead-letter queue is drained by the deadLetter function, which answers each request as failed.
    const deadLetterSources = mappings
      .map(([, mapping]) => mapping.Properties ?? {})
      .filter((properties) => JSON.stringify(properties.FunctionName).includes('DeadLetterLambdaFunction'))
      .map((properties) => {
        expect(properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
        const queueId = (properties.EventSourceArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
        expect(resource(queueId).VisibilityTimeout).toBeGreaterThanOrEqual(
          6 * Number(functionProperties('deadLetter').Timeout),
        );
        return queueId;
      })
      .sort();
    expect(deadLetterSources).toEqual([
      'IntakeEventsDeadLetterQueue',
      'RequestsDeadLetterQueue',
      'TimerDeadLetterQueue',
    ]);
  });

  it('routes the request detail-types from the allowed sources to the EventBridge intake, with a DLQ', () => {
    const rule = resource('IntakeRequestsRule');
    expect(rule.EventBusName).toEqual({ Ref: 'EventBus' });
    expect(rule.EventPattern).toEqual({
      source: [...RULES.sources],
      'detail-type': [DETAIL_TYPES.grant, DETAIL_TYPES.revoke, DETAIL_TYPES.extend],
    });
    const [target] = rule.Targets as Record<string, unknown>[];
    expect(target).toMatchObject({
      Arn: { 'Fn::GetAtt': ['EventbridgeIntakeLambdaFunction', 'Arn'] },
      DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['IntakeEventsDeadLetterQueue', 'Arn'] } },
    });
    expect(resource('IntakeRequestsRulePermission')).toMatchObject({
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': ['IntakeRequestsRule', 'Arn'] },
    });
    const [, invokeConfig] =
      resourcesOfType(template, 'AWS::Lambda::EventInvokeConfig').find(
        ([, config]) =>
          JSON.stringify(config.Properties?.FunctionName) ===
          JSON.stringify({ Ref: 'EventbridgeIntakeLambdaFunction' }),
      ) ?? [];
    expect(invokeConfig?.Properties).toMatchObject({
      FunctionName: { Ref: 'EventbridgeIntakeLambdaFunction' },
      MaximumRetryAttempts: expect.any(Number),
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': ['IntakeEventsDeadLetterQueue', 'Arn'] } },
      },
    });
  });

  it("serves the webhooks on a public function URL, whose handler checks the vendors' signatures", () => {
    expect(WEBHOOK_IDS).toEqual(['jira', 'pagerduty']);
    // Vendors cannot sign SigV4: auth NONE, and Lambda's two permissions for a public URL.
    expect(resource('WebhookLambdaFunctionUrl')).toEqual({
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': ['WebhookLambdaFunction', 'Arn'] },
    });
    const permissions = resourcesOfType(template, 'AWS::Lambda::Permission')
      .map(([, permission]) => permission.Properties ?? {})
      .filter((properties) => JSON.stringify(properties.FunctionName).includes('WebhookLambdaFunction'));
    expect(permissions).toEqual([
      {
        FunctionName: { 'Fn::GetAtt': ['WebhookLambdaFunction', 'Arn'] },
        Action: 'lambda:InvokeFunctionUrl',
        Principal: '*',
        FunctionUrlAuthType: 'NONE',
      },
      {
        FunctionName: { 'Fn::GetAtt': ['WebhookLambdaFunction', 'Arn'] },
        Action: 'lambda:InvokeFunction',
        Principal: '*',
        InvokedViaFunctionUrl: true,
      },
    ]);
    // A flood of forged webhooks cannot take the concurrency the broker needs to revoke.
    expect(functionProperties('webhook')).toMatchObject({ Timeout: 10, ReservedConcurrentExecutions: 10 });
    const url = { 'Fn::GetAtt': ['WebhookLambdaFunctionUrl', 'FunctionUrl'] };
    expect(template.Outputs?.WebhookUrlJira).toMatchObject({
      Value: { 'Fn::Join': ['', [url, 'webhooks/jira']] },
    });
    expect(template.Outputs?.WebhookUrlPagerduty).toMatchObject({
      Value: { 'Fn::Join': ['', [url, 'webhooks/pagerduty']] },
    });
  });

  it("writes the webhook integrations' outcomes back through a queue fed by a rule on the bus", () => {
    const rule = resource('WriteBackRule');
    expect(rule.EventBusName).toEqual({ Ref: 'EventBus' });
    expect(rule.EventPattern).toEqual({
      source: ['eks-access-broker'],
      detail: { origin: { integration: WEBHOOK_IDS } },
    });
    expect(rule.Targets).toMatchObject([{ Arn: { 'Fn::GetAtt': ['WriteBackQueue', 'Arn'] } }]);
  });

  it("creates the stage's bus with its policy, and a policy on every queue", () => {
    const bus = resource('EventBus');
    expect(bus.Name).toBe(`${PREFIX}-bus`);
    const statements = (bus.Policy as { Statement: { Sid: string; Effect: string }[] }).Statement;
    // One deny and one allow per integration with sources, and the deny of forged outcome events.
    const withSources = RULES.integrations.filter((integration) => integration.sources.length > 0);
    expect(statements.filter((statement) => statement.Sid.startsWith('DenyForeignSources'))).toHaveLength(
      withSources.length,
    );
    expect(statements.filter((statement) => statement.Sid.startsWith('AllowIntegration'))).toHaveLength(
      withSources.length,
    );
    expect(statements.map((statement) => statement.Sid)).toContain('DenyForgedOutcomes');
    const queues = resourcesOfType(template, 'AWS::SQS::Queue').map(([id]) => id);
    const policed = resourcesOfType(template, 'AWS::SQS::QueuePolicy').flatMap(([, policy]) =>
      asArray(policy.Properties?.Queues).map((queue) => (queue as { Ref: string }).Ref),
    );
    expect(policed.sort()).toEqual(queues.sort());
    expect(template.Outputs?.EventBusName).toMatchObject({ Value: { Ref: 'EventBus' } });
  });

  it("routes others' access-entry changes on the default bus to driftEvent, retried, then dead-lettered", () => {
    const rule = resource('DriftEventsRule');
    expect(rule.EventBusName).toBeUndefined();
    const pattern = rule.EventPattern as {
      source: string[];
      detail: { eventName: string[]; $or: { userIdentity: unknown }[] };
    };
    expect(pattern.source).toEqual(['aws.eks']);
    expect(pattern.detail.eventName).toEqual([
      'CreateAccessEntry',
      'UpdateAccessEntry',
      'DeleteAccessEntry',
      'AssociateAccessPolicy',
      'DisassociateAccessPolicy',
    ]);
    // Every function role of the broker is left out (its own changes are no drift), and only those.
    const excluded = JSON.stringify(pattern.detail.$or[0]);
    for (const [key] of BROKER_FUNCTIONS) expect(excluded).toContain(`"${logicalPrefix(key)}Role"`);
    expect(excluded).not.toContain('WebhookRole');
    expect(rule.Targets).toMatchObject([
      {
        Arn: { 'Fn::GetAtt': ['DriftEventLambdaFunction', 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['DriftEventsDeadLetterQueue', 'Arn'] } },
      },
    ]);
    const invokeConfig = resourcesOfType(template, 'AWS::Lambda::EventInvokeConfig').find(
      ([, config]) =>
        JSON.stringify(config.Properties?.FunctionName) ===
        JSON.stringify({ Ref: 'DriftEventLambdaFunction' }),
    );
    expect(invokeConfig?.[1].Properties).toMatchObject({
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': ['DriftEventsDeadLetterQueue', 'Arn'] } },
      },
    });
  });

  it('runs the sweeper and drift-check every minute, one at a time', () => {
    const schedules = resourcesOfType(template, 'AWS::Events::Rule').filter(
      ([, rule]) => rule.Properties?.ScheduleExpression !== undefined,
    );
    for (const key of ['sweeper', 'driftCheck']) {
      const id = `${logicalPrefix(key)}LambdaFunction`;
      const schedule = schedules.find(([, rule]) =>
        asArray(rule.Properties?.Targets).some(
          (target) =>
            JSON.stringify((target as { Arn: unknown }).Arn) ===
            JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] }),
        ),
      );
      expect(schedule?.[1].Properties?.ScheduleExpression, `${key} schedule`).toBe('rate(1 minute)');
      expect(functionProperties(key).ReservedConcurrentExecutions).toBe(1);
      // A throttled or failed run is skipped, not retried for hours behind the next ones.
      const invokeConfig = resourcesOfType(template, 'AWS::Lambda::EventInvokeConfig').find(
        ([, config]) => JSON.stringify(config.Properties?.FunctionName) === JSON.stringify({ Ref: id }),
      );
      expect(invokeConfig?.[1].Properties, `${key} asynchronous invoke config`).toMatchObject({
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
      });
    }
  });

  it('alarms on every DLQ, irrevocable leases and sweeper or drift-check errors', () => {
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(
      ([, alarm]) => alarm.Properties ?? {},
    );
    const dlqs = resourcesOfType(template, 'AWS::SQS::Queue').filter(([, queue]) =>
      String(queue.Properties?.QueueName).endsWith('-dlq'),
    );
    expect(dlqs).toHaveLength(5);
    const deadLetterTimeout = Number(functionProperties('deadLetter').Timeout);
    for (const [id] of dlqs) {
      const alarm = alarms.find(
        (candidate) =>
          JSON.stringify(candidate.Dimensions) ===
          JSON.stringify([{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id, 'QueueName'] } }]),
      );
      // The deadLetter function drains the broker's DLQs: only a message that stays past its third try alarms
      // (any dead letter at all is RequestsDeadLettered's). Nothing drains the write-back and drift-events DLQs:
      // any message stays.
      const undrained = id === 'WriteBackDeadLetterQueue' || id === 'DriftEventsDeadLetterQueue';
      expect(alarm, `alarm on ${id}`).toMatchObject(
        undrained
          ? {
              Namespace: 'AWS/SQS',
              MetricName: 'ApproximateNumberOfMessagesVisible',
              ComparisonOperator: 'GreaterThanThreshold',
              Threshold: 0,
            }
          : {
              Namespace: 'AWS/SQS',
              MetricName: 'ApproximateAgeOfOldestMessage',
              Statistic: 'Maximum',
              ComparisonOperator: 'GreaterThanThreshold',
              Threshold: 2 * Number(resource(id).VisibilityTimeout),
            },
      );
      if (!undrained) {
        expect(resource(id).VisibilityTimeout).toBe(6 * deadLetterTimeout);
      }
    }
    const deadLettered = alarms.find((alarm) =>
      JSON.stringify(alarm.Metrics ?? '').includes('RequestsDeadLettered'),
    );
    expect(deadLettered).toMatchObject({ ComparisonOperator: 'GreaterThanThreshold', Threshold: 0 });
    // Each stage alarms on its own metrics only.
    expect(deadLettered?.Metrics).toMatchObject([
      { Expression: `SELECT SUM(RequestsDeadLettered) FROM "EksAccessBroker" WHERE stage = '${STAGE}'` },
    ]);
    const irrevocable = alarms.find((alarm) =>
      JSON.stringify(alarm.Metrics ?? '').includes('IrrevocableLeases'),
    );
    expect(irrevocable?.Metrics).toMatchObject([
      { Expression: `SELECT SUM(IrrevocableLeases) FROM "EksAccessBroker" WHERE stage = '${STAGE}'` },
    ]);
    expect(irrevocable).toMatchObject({ ComparisonOperator: 'GreaterThanThreshold', Threshold: 0 });
    for (const key of ['sweeper', 'driftCheck']) {
      const alarm = alarms.find(
        (candidate) =>
          candidate.MetricName === 'Errors' &&
          JSON.stringify(candidate.Dimensions).includes(`${logicalPrefix(key)}LambdaFunction`),
      );
      expect(alarm, `${key} errors alarm`).toMatchObject({ Namespace: 'AWS/Lambda', Threshold: 0 });
    }
    for (const alarm of alarms) {
      expect(asArray(alarm.AlarmActions)).toEqual([{ Ref: 'AlarmTopic' }]);
    }
  });

  it('grants least privilege: EKS only on the configured clusters, only the policies the rules grant', () => {
    expect(iamProblems(template, RULES)).toEqual([]);
    const statements = iamStatements(template);
    const resourcesOf = (action: string) =>
      statements.filter(({ statement }) => asArray(statement.Action).includes(action));
    // The due index is read only by the functions that search for due or live leases.
    const indexReaders = statements
      .filter(({ statement }) => JSON.stringify(statement.Resource).includes('/index/'))
      .map(({ where }) => where.split('/')[0])
      .sort();
    expect(indexReaders).toEqual(['DriftCheckRole', 'SweeperRole']);
    const roleOf = ({ where }: { where: string }) => where.split('/')[0];
    const roles = (functions: readonly (readonly [string, string])[]) =>
      functions.map(([key]) => `${logicalPrefix(key)}Role`).sort();
    const allRoles = roles(FUNCTIONS);
    // Every function reads leases (the webhook function its delivery ids), each only its own table; the broker's
    // functions publish outcomes, on their own bus only.
    expect(resourcesOf('dynamodb:GetItem').map(roleOf).sort()).toEqual(allRoles);
    for (const { statement } of resourcesOf('dynamodb:GetItem')) {
      expect(statement.Resource).toEqual([{ 'Fn::GetAtt': ['LeaseTable', 'Arn'] }]);
    }
    expect(resourcesOf('events:PutEvents').map(roleOf).sort()).toEqual(roles(BROKER_FUNCTIONS));
    for (const { statement } of resourcesOf('events:PutEvents')) {
      expect(JSON.stringify(statement.Resource)).toContain(`:event-bus/${PREFIX}-bus`);
    }
    expect(resourcesOf('sqs:SendMessage').length).toBeGreaterThan(0);
    for (const { where, statement } of resourcesOf('sqs:SendMessage')) {
      const target = where.startsWith('EventbridgeIntakeRole/OnFailure')
        ? 'IntakeEventsDeadLetterQueue'
        : where.startsWith('DriftEventRole/OnFailure')
          ? 'DriftEventsDeadLetterQueue'
          : where.startsWith('WebhookRole/')
            ? 'RequestsQueue'
            : 'TimerQueue';
      expect(statement.Resource).toEqual([{ 'Fn::GetAtt': [target, 'Arn'] }]);
    }
    const consumers = resourcesOf('sqs:ReceiveMessage').map(({ where, statement }) => [
      where.split('/')[0],
      statement.Resource,
    ]);
    expect(consumers).toEqual([
      ['SqsIntakeRole', [{ 'Fn::GetAtt': ['RequestsQueue', 'Arn'] }]],
      ['ExpiryTimerRole', [{ 'Fn::GetAtt': ['TimerQueue', 'Arn'] }]],
      [
        'DeadLetterRole',
        [
          { 'Fn::GetAtt': ['RequestsDeadLetterQueue', 'Arn'] },
          { 'Fn::GetAtt': ['TimerDeadLetterQueue', 'Arn'] },
          { 'Fn::GetAtt': ['IntakeEventsDeadLetterQueue', 'Arn'] },
        ],
      ],
      ['WriteBackRole', [{ 'Fn::GetAtt': ['WriteBackQueue', 'Arn'] }]],
    ]);
    // Every function of the broker reconciles, so its role carries the EKS policy; the webhook integrations'
    // functions do not change EKS (write-back reads it, inline).
    const eksPolicies = resourcesOfType(template, 'AWS::IAM::ManagedPolicy').map(([id]) => ({ Ref: id }));
    for (const [key] of BROKER_FUNCTIONS) {
      expect(resource(`${logicalPrefix(key)}Role`).ManagedPolicyArns).toEqual(eksPolicies);
    }
    for (const [key] of WEBHOOK_FUNCTIONS) {
      expect(resource(`${logicalPrefix(key)}Role`).ManagedPolicyArns).toBeUndefined();
    }
  });

  it('ships each function as one ESM bundle within its budget with the compiled access rules beside it', () => {
    for (const [key, file] of FUNCTIONS) {
      const entries = readZip(join(packageDir, `${key}.zip`));
      expect(entries.map((entry) => entry.name).sort()).toEqual(
        [`functions/handlers/${file}.mjs`, COMPILED_RULES_FILE].sort(),
      );
      const bundle = entries.find((entry) => entry.name.endsWith('.mjs'));
      const size = bundle?.size ?? 0;
      expect(size, `${key}'s bundle is ${(size / 1024).toFixed(0)} KiB`).toBeLessThanOrEqual(
        bundleBudgetKiB(file) * 1024,
      );
      // No YAML parser and no credential chain beyond the environment made it into the bundle.
      const code = bundle?.read().toString('utf8') ?? '';
      expect(code).not.toMatch(/YAMLParseError|Map keys must be unique/);
      expect(code).not.toMatch(/fromSSO|fromInstanceMetadata|fromContainerMetadata/);
    }
  });

  it('ships the access rules as the JSON the functions load, the same rules the YAML file says', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eks-access-broker-rules-'));
    try {
      const json = readZip(join(packageDir, 'sqsIntake.zip')).find((e) => e.name === COMPILED_RULES_FILE);
      const file = join(dir, 'access-rules.json');
      writeFileSync(file, json?.read() ?? '');
      const { origin: _shipped, ...shipped } = loadRulesFile(file);
      const { origin: _source, ...source } = RULES;
      expect(shipped).toEqual(source);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The zip as Lambda runs it: extracted to a directory of its own (no node_modules within reach), loaded by a
 * bare `node` whose environment holds only what Lambda's would, and invoked with an SQS event. The bundle
 * must find its rules, talk to the local broker's DynamoDB, EKS, SQS and EventBridge, and take its credentials
 * from the environment, the one link of the SDK's chain it carries.
 */
describe('a packaged function', () => {
  let broker: LocalBroker;
  let taskRoot = '';

  beforeAll(async () => {
    broker = await startLocalBroker({ port: 0, sweepIntervalMs: 0 });
    taskRoot = mkdtempSync(join(tmpdir(), 'eks-access-broker-task-'));
    for (const entry of readZip(join(packageDir, 'sqsIntake.zip'))) {
      mkdirSync(dirname(join(taskRoot, entry.name)), { recursive: true });
      writeFileSync(join(taskRoot, entry.name), entry.read());
    }
  }, 60_000);

  afterAll(async () => {
    await broker?.close();
    if (taskRoot) rmSync(taskRoot, { recursive: true, force: true });
  });

  /** Runs the bundle's handler on `event` in a fresh node process: its answer, or how it failed. */
  async function invoke(
    event: SQSEvent,
    credentials: Record<string, string>,
  ): Promise<{ response?: SQSBatchResponse; failure?: string }> {
    const script = `
      const { handler } = await import(process.argv[1]);
      const context = { functionName: 'sqsIntake', awsRequestId: crypto.randomUUID(), memoryLimitInMB: '512',
        invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:sqsIntake',
        getRemainingTimeInMillis: () => 30000 };
      try {
        console.log('RESULT ' + JSON.stringify(await handler(JSON.parse(process.argv[2]), context)));
      } catch (error) {
        const causes = (error.recordErrors ?? []).map((cause) => cause.name + ': ' + cause.message);
        console.log('FAILURE ' + JSON.stringify([error.name, ...causes].join('; ')));
      }`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        script,
        join(taskRoot, 'functions/handlers/sqs-intake.mjs'),
        JSON.stringify(event),
      ],
      {
        cwd: taskRoot,
        timeout: 60_000,
        maxBuffer: 16 * 1024 * 1024,
        env: {
          PATH: process.env.PATH,
          LAMBDA_TASK_ROOT: taskRoot,
          AWS_REGION: 'us-east-1',
          AWS_ENDPOINT_URL: broker.edge.url,
          AWS_CONFIG_FILE: '/nonexistent/aws-config',
          AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          POWERTOOLS_METRICS_DISABLED: 'true',
          POWERTOOLS_LOG_LEVEL: 'ERROR',
          LEASE_TABLE_NAME: process.env.LEASE_TABLE_NAME,
          EVENT_BUS_NAME: process.env.EVENT_BUS_NAME,
          TIMER_QUEUE_URL: process.env.TIMER_QUEUE_URL,
          ACCESS_RULES_FILE: join(taskRoot, COMPILED_RULES_FILE),
          LOCK_WAIT_MS: '2000',
          ...credentials,
        },
      },
    );
    const lines = stdout.split('\n');
    const result = lines.find((line) => line.startsWith('RESULT '));
    const failure = lines.find((line) => line.startsWith('FAILURE '));
    if (result) return { response: JSON.parse(result.slice(7)) as SQSBatchResponse };
    if (failure) return { failure: JSON.parse(failure.slice(8)) as string };
    throw new Error(`the bundle printed neither a result nor a failure:\n${stdout}`);
  }

  function grantMessage(): { event: SQSEvent; requestId: string; principalArn: string } {
    const [record] = sampleSqsEvent('sqs-batch.json').Records;
    if (!record) throw new Error('events/sqs-batch.json has no record');
    const body = JSON.parse(record.body) as { detail: Record<string, unknown> };
    const requestId = freshRequestId('BUNDLE');
    const principalArn = freshPrincipal('bundle');
    body.detail = { ...body.detail, requestId, principalArn };
    // Sent by the example ticketing integration's role (access key `test` locally), as SQS would record it.
    const senderId = loadIdentities().byAccessKey('test')?.caller.userId ?? '';
    return {
      event: {
        Records: [
          {
            ...record,
            messageId: requestId,
            body: JSON.stringify(body),
            attributes: { ...record.attributes, SenderId: senderId },
          },
        ],
      },
      requestId,
      principalArn,
    };
  }

  it('grants access with the credentials Lambda puts in its environment', async () => {
    const { event, requestId, principalArn } = grantMessage();

    // The function's own role (locally `brokerlocal`): only it may publish the broker's outcome events.
    const outcome = await invoke(event, {
      AWS_ACCESS_KEY_ID: 'brokerlocal',
      AWS_SECRET_ACCESS_KEY: 'brokerlocal',
    });

    expect(outcome).toEqual({ response: { batchItemFailures: [] } });
    const entry = broker.edge.eks
      .snapshot()
      .flatMap((cluster) => cluster.entries)
      .find((e) => e.principalArn === principalArn);
    expect(entry?.policies.map((p) => p.policyArn)).toEqual([
      'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
    ]);
    const granted = broker.outcomes().find((e) => e.detail.requestId === requestId);
    expect(granted?.['detail-type']).toBe('Access Granted');
  }, 60_000);

  it('looks for credentials nowhere but the environment, and fails the batch for redelivery', async () => {
    const { event, principalArn } = grantMessage();

    const outcome = await invoke(event, {});

    // The whole batch failed, so Powertools throws and Lambda hands the message back to the queue.
    expect(outcome.failure).toBe(
      'FullBatchFailureError; CredentialsProviderError: Unable to find environment variable credentials.',
    );
    const entries = broker.edge.eks.snapshot().flatMap((cluster) => cluster.entries);
    expect(entries.find((e) => e.principalArn === principalArn)).toBeUndefined();
  }, 60_000);
});
