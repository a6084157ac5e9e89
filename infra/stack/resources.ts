/**
 * Every resource of the deployed broker except the functions themselves (serverless.yml declares those): the
 * lease table, the queues, the EventBridge intake rule, the alarms, and one IAM role per function; with a webhook
 * integration in the rules, also webhook-resources.ts's. Pure: the access rules and the table definition come
 * in as data, so a test can build the stack without osls.
 */
import {
  DUE_INDEX,
  LEASE_TABLE,
  LEASE_TABLE_TTL_ATTRIBUTE,
} from '../../functions/adapters/lease-table/schema';
import { METRICS_NAMESPACE, STAGE_DIMENSION } from '../../functions/app/metrics';
import { MAX_RECEIVE_COUNT } from '../../functions/config/defaults';
import { SERVICE_NAME, stageResourceNames } from '../../functions/config/names';
import { DETAIL_TYPES } from '../../functions/core/contract';
import type { AccessRules } from '../../functions/core/rules';
import {
  type CfnOutput,
  type CfnResource,
  type CfnValue,
  getAtt,
  jsonSub,
  type PolicyStatement,
  policyDocument,
  ref,
  type StackFragment,
  sub,
} from './cloudformation';
import { DRIFT_EVENTS_DEAD_LETTER_QUEUE, driftEventResources } from './drift-event-resources';
import { eksStatements } from './eks-permissions';
import { type IntakePolicies, intakePolicies } from './intake-policies';
import {
  DLQ_RETENTION_SECONDS,
  executionRole,
  functionLogicalId,
  ownLogsStatement,
  roleLogicalId,
  upperFirst,
  VISIBILITY_TIMEOUT_FACTOR,
} from './lambda-parts';
import {
  WEBHOOK_SENDER_ARN,
  webhookIntakeStatements,
  webhookIntegrations,
  webhookResources,
} from './webhook-resources';

/** The functions of serverless.yml, by their keys there. */
export const BROKER_FUNCTIONS = [
  'eventbridgeIntake',
  'sqsIntake',
  'expiryTimer',
  'sweeper',
  'driftCheck',
  'driftEvent',
  'deadLetter',
] as const;
export type BrokerFunction = (typeof BROKER_FUNCTIONS)[number];

type QueueId =
  | 'RequestsQueue'
  | 'TimerQueue'
  | 'RequestsDeadLetterQueue'
  | 'TimerDeadLetterQueue'
  | 'IntakeEventsDeadLetterQueue';

/** The dead-letter queues the deadLetter function drains, giving every abandoned request its outcome. */
export const DEAD_LETTER_QUEUES = [
  'RequestsDeadLetterQueue',
  'TimerDeadLetterQueue',
  'IntakeEventsDeadLetterQueue',
] as const;

interface FunctionNeeds {
  /** The queues its event source mappings read. */
  readonly consumes: readonly QueueId[];
  /** Sends delayed messages to the timer queue. */
  readonly armsTimers: boolean;
  /** The lease table's indexes it queries (the base table is always allowed). */
  readonly indexes: readonly string[];
  /** Queue of its asynchronous on-failure destination. */
  readonly onFailure?: string;
  /**
   * Resolves SQS SenderIds to the queue integrations' roles (iam:GetRole on exactly those) and, with a webhook
   * integration, to the webhook function's role, whose ticket events it then reads back with the API tokens.
   */
  readonly resolvesSenders?: boolean;
}

/**
 * What each function touches besides EKS (see eks-permissions.ts: every function reconciles, so all get the
 * same EKS statements). Timers are armed by intake (a grant or extension ending within the SQS delay limit),
 * by the sweeper (leases entering that window) and by the expiry timer itself (SQS delivered it early, the rest
 * of the wait is re-armed). The sweeper and drift-check find leases through the due index; the others read
 * by key, and a subject's leases with a Query on the base table.
 */
export const FUNCTION_NEEDS: Readonly<Record<BrokerFunction, FunctionNeeds>> = {
  eventbridgeIntake: {
    consumes: [],
    armsTimers: true,
    indexes: [],
    onFailure: 'IntakeEventsDeadLetterQueue',
  },
  sqsIntake: { consumes: ['RequestsQueue'], armsTimers: true, indexes: [], resolvesSenders: true },
  expiryTimer: { consumes: ['TimerQueue'], armsTimers: true, indexes: [] },
  sweeper: { consumes: [], armsTimers: true, indexes: [DUE_INDEX] },
  driftCheck: { consumes: [], armsTimers: false, indexes: [DUE_INDEX] },
  // Repairs one subject at once, from the CloudTrail event of a change someone else made to its entry.
  driftEvent: { consumes: [], armsTimers: false, indexes: [], onFailure: DRIFT_EVENTS_DEAD_LETTER_QUEUE },
  // Rolls back a half-applied grant (reconcile) and publishes the failure outcome; never arms a timer. It
  // identifies a dead letter's sender as the SQS intake does (functions/runtime.ts, deadLetterDeps).
  deadLetter: { consumes: DEAD_LETTER_QUEUES, armsTimers: false, indexes: [], resolvesSenders: true },
};

export interface StackOptions {
  readonly stage: string;
  readonly rules: AccessRules;
  /**
   * The bus requests arrive on and outcomes go to: a name or ARN. The stage's own name
   * (stageResourceNames(stage).eventBus) means the stack creates it, with its policy; any other bus must exist,
   * and its owner attaches the statements of the EventBusPolicy output.
   */
  readonly eventBusName: string;
  /** Roles besides the functions' that may publish the broker's outcome events (the operator CLI's `forget`). */
  readonly operatorRoleArns?: readonly string[];
  /** An existing SNS topic for alarm actions; absent: the stack creates one. */
  readonly alarmTopicArn?: string;
  /**
   * `existing`: the stage's lease table exists already, retained when an earlier deployment of the stage was
   * removed (its audit trail and live leases): the stack uses it by its name instead of creating it, and does
   * not own it. Absent or `create`: the stack creates it (and retains it when removed).
   */
  readonly leaseTable?: LeaseTableMode;
  /**
   * Timeouts of the functions that consume queues: a message must stay invisible while it is processed
   * (writeBack's is used only when the rules declare a webhook integration).
   */
  readonly timeoutSeconds: Readonly<Record<'sqsIntake' | 'expiryTimer' | 'deadLetter' | 'writeBack', number>>;
}

export const LEASE_TABLE_MODES = ['create', 'existing'] as const;
export type LeaseTableMode = (typeof LEASE_TABLE_MODES)[number];

/**
 * The template's condition that the stack creates the lease table: serverless.yml's LEASE_TABLE_NAME is the
 * table's Ref where it does, its name where it does not.
 */
export const CREATES_LEASE_TABLE = 'CreatesLeaseTable';

/** IAM's size limit of one managed policy, whitespace excluded, minus room for the document's envelope. */
const MANAGED_POLICY_BUDGET = 6_144 - 100;
/** IAM's default quota of managed policies per role. */
const MAX_MANAGED_POLICIES = 10;

export function buildStack(options: StackOptions): StackFragment {
  const names = stageResourceNames(options.stage);
  const prefix = names.prefix;
  const resources: Record<string, CfnResource> = {};
  const outputs: Record<string, CfnOutput> = {};

  const leaseTable = options.leaseTable ?? 'create';
  const conditions = { [CREATES_LEASE_TABLE]: { 'Fn::Equals': [leaseTable, 'create'] } };
  resources.LeaseTable = {
    Type: 'AWS::DynamoDB::Table',
    // An existing table (leaseTable=existing) is left as it is: a resource whose condition is false is never
    // created, and Refs to it stay valid inside Fn::If.
    ...(leaseTable === 'existing' ? { Condition: CREATES_LEASE_TABLE } : {}),
    // The table is the audit trail: removing the stack must not take it along. A stage removed and deployed
    // again takes it back with leaseTable=existing (README, Deploy).
    DeletionPolicy: 'Retain',
    UpdateReplacePolicy: 'Retain',
    Properties: {
      TableName: names.leaseTable,
      ...(LEASE_TABLE as unknown as Record<string, CfnValue>),
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: LEASE_TABLE_TTL_ATTRIBUTE, Enabled: true },
    },
  };

  const queue = (id: string, name: string, visibilitySeconds: number): void => {
    const dlq = `${id.replace(/Queue$/, '')}DeadLetterQueue`;
    resources[id] = {
      Type: 'AWS::SQS::Queue',
      Properties: {
        QueueName: name,
        VisibilityTimeout: visibilitySeconds,
        SqsManagedSseEnabled: true,
        RedrivePolicy: { deadLetterTargetArn: getAtt(dlq, 'Arn'), maxReceiveCount: MAX_RECEIVE_COUNT },
      },
    };
    resources[dlq] = {
      Type: 'AWS::SQS::Queue',
      Properties: {
        QueueName: `${name}-dlq`,
        MessageRetentionPeriod: DLQ_RETENTION_SECONDS,
        VisibilityTimeout: VISIBILITY_TIMEOUT_FACTOR * options.timeoutSeconds.deadLetter,
        SqsManagedSseEnabled: true,
        // Only its own source queue may dead-letter here; the ARN is spelled out since GetAtt would be a cycle.
        RedriveAllowPolicy: {
          redrivePermission: 'byQueue',
          sourceQueueArns: [sub(`arn:\${AWS::Partition}:sqs:\${AWS::Region}:\${AWS::AccountId}:${name}`)],
        },
      },
    };
  };
  queue('RequestsQueue', names.requestsQueue, VISIBILITY_TIMEOUT_FACTOR * options.timeoutSeconds.sqsIntake);
  queue('TimerQueue', names.timerQueue, VISIBILITY_TIMEOUT_FACTOR * options.timeoutSeconds.expiryTimer);

  // Requests that failed on the EventBridge path: handler errors after Lambda's async retries (the function's
  // on-failure destination) and events EventBridge could not hand to Lambda at all (the rule target's DLQ).
  resources.IntakeEventsDeadLetterQueue = {
    Type: 'AWS::SQS::Queue',
    Properties: {
      QueueName: names.intakeEventsDeadLetterQueue,
      MessageRetentionPeriod: DLQ_RETENTION_SECONDS,
      VisibilityTimeout: VISIBILITY_TIMEOUT_FACTOR * options.timeoutSeconds.deadLetter,
      SqsManagedSseEnabled: true,
    },
  };
  const ownsBus = options.eventBusName === names.eventBus;
  const busArn = eventBusArn(options.eventBusName);
  const policies = frontDoorPolicies(options, busArn);
  if (ownsBus) {
    resources.EventBus = {
      Type: 'AWS::Events::EventBus',
      Properties: {
        Name: names.eventBus,
        Description: `${prefix}: access requests in, outcome events out`,
        Policy: policies.bus as unknown as CfnValue,
      },
    };
  }
  const queuePolicies: readonly [string, keyof IntakePolicies][] = [
    ['RequestsQueue', 'requestsQueue'],
    ['TimerQueue', 'timerQueue'],
    ['RequestsDeadLetterQueue', 'requestsDeadLetterQueue'],
    ['TimerDeadLetterQueue', 'timerDeadLetterQueue'],
    ['IntakeEventsDeadLetterQueue', 'intakeEventsDeadLetterQueue'],
  ];
  for (const [queueId, key] of queuePolicies) {
    resources[`${queueId}Policy`] = {
      Type: 'AWS::SQS::QueuePolicy',
      Properties: { Queues: [ref(queueId)], PolicyDocument: policies[key] as unknown as CfnValue },
    };
  }

  resources.IntakeRequestsRule = {
    Type: 'AWS::Events::Rule',
    Properties: {
      Name: names.intakeRule,
      Description: 'Access requests from the sources the access rules allow',
      EventBusName: ownsBus ? ref('EventBus') : options.eventBusName,
      State: 'ENABLED',
      EventPattern: {
        source: [...options.rules.sources],
        'detail-type': [DETAIL_TYPES.grant, DETAIL_TYPES.revoke, DETAIL_TYPES.extend],
      },
      Targets: [
        {
          Id: 'eventbridge-intake',
          Arn: getAtt(functionLogicalId('eventbridgeIntake'), 'Arn'),
          // Covers handing the event to Lambda (throttled or refused Invoke); handler errors are retried by
          // Lambda's own asynchronous retries and end in the function's on-failure destination.
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: { Arn: getAtt('IntakeEventsDeadLetterQueue', 'Arn') },
        },
      ],
    },
  };
  resources.IntakeRequestsRulePermission = {
    Type: 'AWS::Lambda::Permission',
    Properties: {
      Action: 'lambda:InvokeFunction',
      FunctionName: getAtt(functionLogicalId('eventbridgeIntake'), 'Arn'),
      Principal: 'events.amazonaws.com',
      SourceArn: getAtt('IntakeRequestsRule', 'Arn'),
    },
  };

  const eksPolicies = managedPolicies(eksStatements(options.rules));
  eksPolicies.forEach((document, index) => {
    resources[managedPolicyLogicalId(index)] = {
      Type: 'AWS::IAM::ManagedPolicy',
      Properties: {
        Description: `${prefix}: EKS access entries on the clusters of the access rules (${index + 1}/${eksPolicies.length})`,
        PolicyDocument: document as unknown as CfnValue,
      },
    };
  });
  for (const name of BROKER_FUNCTIONS) {
    resources[roleLogicalId(name)] = executionRole(
      prefix,
      name,
      functionStatements(name, options),
      eksPolicies.map((_, index) => ref(managedPolicyLogicalId(index))),
    );
  }

  const topic: CfnValue = options.alarmTopicArn ?? ref('AlarmTopic');
  if (options.alarmTopicArn === undefined) {
    resources.AlarmTopic = {
      Type: 'AWS::SNS::Topic',
      Properties: { TopicName: names.alarmTopic, DisplayName: `${SERVICE_NAME} alarms` },
    };
    outputs.AlarmTopicArn = { Description: 'Subscribe here to receive the alarms', Value: ref('AlarmTopic') };
  }
  const alarmResource = (id: string, description: string, metric: Record<string, CfnValue>): CfnResource => ({
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmName: `${prefix}-${id.replace(/Alarm$/, '')}`,
      AlarmDescription: description,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topic],
      OKActions: [topic],
      ...metric,
    },
  });
  const alarm = (id: string, description: string, metric: Record<string, CfnValue>): void => {
    resources[id] = alarmResource(id, description, metric);
  };
  // The deadLetter function drains these queues within seconds, and a message it fails on comes back after the
  // queue's visibility timeout: one still there after its third try stays (SQS counts a dead letter's age from
  // its move to the DLQ). Any message at all is RequestsDeadLettered's alarm, which the function counts.
  const staysSeconds = 2 * VISIBILITY_TIMEOUT_FACTOR * options.timeoutSeconds.deadLetter;
  for (const dlq of DEAD_LETTER_QUEUES) {
    alarm(
      `${dlq}Alarm`,
      `Messages stay in ${dlq} (the oldest for more than ${staysSeconds} s): the deadLetter function cannot settle them; read its logs`,
      {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: getAtt(dlq, 'QueueName') }],
        Statistic: 'Maximum',
        Period: 60,
        Threshold: staysSeconds,
      },
    );
  }
  // Only this stage's metrics: another stage in the same account has alarms of its own.
  const ofStage = `WHERE ${STAGE_DIMENSION} = '${options.stage}'`;
  alarm('RequestsDeadLetteredAlarm', 'A request failed on every delivery and was answered as failed', {
    Metrics: [
      {
        Id: 'deadLettered',
        Expression: `SELECT SUM(RequestsDeadLettered) FROM "${METRICS_NAMESPACE}" ${ofStage}`,
        Period: 60,
        ReturnData: true,
      },
    ],
  });
  alarm('IrrevocableLeasesAlarm', 'A lease could not be revoked after its retry budget: access outlives it', {
    // A Metrics Insights query sums the metric over whatever dimensions the functions emit it with.
    Metrics: [
      {
        Id: 'irrevocable',
        Expression: `SELECT SUM(IrrevocableLeases) FROM "${METRICS_NAMESPACE}" ${ofStage}`,
        // Irrevocable leases are retried at most 5 minutes apart and each failure counts: a 5-minute period
        // keeps the alarm on for as long as one is failing.
        Period: 300,
        ReturnData: true,
      },
    ],
  });
  for (const name of ['sweeper', 'driftCheck'] as const) {
    alarm(
      `${upperFirst(name)}ErrorsAlarm`,
      `The ${name} function failed: expiry or drift repair is stalled`,
      {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: ref(functionLogicalId(name)) }],
        Statistic: 'Sum',
        Period: 300,
      },
    );
  }

  const driftEvents = driftEventResources({
    stage: options.stage,
    rules: options.rules,
    functionRoles: BROKER_FUNCTIONS,
    alarm: alarmResource,
  });
  Object.assign(resources, driftEvents.Resources);
  Object.assign(outputs, driftEvents.Outputs);

  const webhooks = webhookResources(options, {
    prefix,
    busName: ownsBus ? ref('EventBus') : options.eventBusName,
    leaseTableArn: leaseTableArn(options),
    alarm: alarmResource,
  });
  Object.assign(resources, webhooks.Resources);
  Object.assign(outputs, webhooks.Outputs);

  outputs.LeaseTableName = {
    Description: 'The lease table',
    Value: leaseTable === 'existing' ? names.leaseTable : ref('LeaseTable'),
  };
  outputs.EventBusName = {
    Description: 'Put access requests here; outcome events are published here',
    Value: ownsBus ? ref('EventBus') : options.eventBusName,
  };
  outputs.EventBusArn = { Description: 'The event bus', Value: ownsBus ? getAtt('EventBus', 'Arn') : busArn };
  if (!ownsBus) {
    // The stack does not own this bus, so it cannot attach the policy: its owner must (README, Deploy).
    outputs.EventBusPolicy = {
      Description: 'Attach this policy to the existing event bus (aws events put-permission --policy)',
      Value: jsonSub(policies.bus as unknown as CfnValue),
    };
  }
  outputs.RequestsQueueUrl = { Description: 'Send access requests here', Value: ref('RequestsQueue') };
  outputs.RequestsQueueArn = { Description: 'The intake queue', Value: getAtt('RequestsQueue', 'Arn') };
  outputs.TimerQueueUrl = { Description: 'Expiry timers', Value: ref('TimerQueue') };
  outputs.IntakeRequestsRuleArn = {
    Description: 'EventBridge rule routing access requests to the broker',
    Value: getAtt('IntakeRequestsRule', 'Arn'),
  };
  return { Resources: resources, Outputs: outputs, Conditions: conditions };
}

/** The lease table's ARN: the stack's own table, or the stage's existing one by its name. */
function leaseTableArn(options: StackOptions): CfnValue {
  return options.leaseTable === 'existing'
    ? sub(existingTableArn(options.stage))
    : getAtt('LeaseTable', 'Arn');
}

function existingTableArn(stage: string): string {
  return `arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${stageResourceNames(stage).leaseTable}`;
}

/** The front door's resource policies, with the functions' roles as the broker's principals. */
export function frontDoorPolicies(options: StackOptions, busArn: CfnValue): IntakePolicies {
  const roleArn = (name: BrokerFunction): CfnValue => getAtt(roleLogicalId(name), 'Arn');
  const where = (need: (needs: FunctionNeeds) => boolean) =>
    BROKER_FUNCTIONS.filter((name) => need(FUNCTION_NEEDS[name])).map(roleArn);
  return intakePolicies(options.rules, {
    busArn,
    requestsQueueArn: getAtt('RequestsQueue', 'Arn'),
    timerQueueArn: getAtt('TimerQueue', 'Arn'),
    requestsDeadLetterQueueArn: getAtt('RequestsDeadLetterQueue', 'Arn'),
    timerDeadLetterQueueArn: getAtt('TimerDeadLetterQueue', 'Arn'),
    intakeEventsDeadLetterQueueArn: getAtt('IntakeEventsDeadLetterQueue', 'Arn'),
    intakeRuleArn: getAtt('IntakeRequestsRule', 'Arn'),
    roles: {
      publishers: [...BROKER_FUNCTIONS.map(roleArn), ...(options.operatorRoleArns ?? [])],
      timerArmers: where((needs) => needs.armsTimers),
      // The webhook function queues the webhooks it verified; no other function sends requests to the intake.
      requestSenders: webhookIntegrations(options.rules).length > 0 ? [WEBHOOK_SENDER_ARN] : [],
      intakeFailureSenders: where((needs) => needs.onFailure === 'IntakeEventsDeadLetterQueue'),
    },
  });
}

function managedPolicyLogicalId(index: number): string {
  return index === 0 ? 'EksAccessPolicy' : `EksAccessPolicy${index + 1}`;
}

/** What one function may do besides EKS: its logs, the table, the bus, and its queues. */
export function functionStatements(name: BrokerFunction, options: StackOptions): PolicyStatement[] {
  const needs = FUNCTION_NEEDS[name];
  const statements: PolicyStatement[] = [
    ownLogsStatement(name),
    {
      Sid: 'LeaseTable',
      Effect: 'Allow',
      // What the lease store calls; TransactWriteItems is authorized per item as PutItem / UpdateItem.
      Action: [
        'dynamodb:BatchGetItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
      ],
      Resource: [leaseTableArn(options)],
    },
  ];
  if (needs.indexes.length > 0) {
    statements.push({
      Sid: 'LeaseTableIndexes',
      Effect: 'Allow',
      Action: ['dynamodb:Query'],
      Resource: needs.indexes.map((index) =>
        options.leaseTable === 'existing'
          ? sub(`${existingTableArn(options.stage)}/index/${index}`)
          : sub(`\${LeaseTable.Arn}/index/${index}`),
      ),
    });
  }
  statements.push({
    Sid: 'OutcomeEvents',
    Effect: 'Allow',
    Action: ['events:PutEvents'],
    Resource: [eventBusArn(options.eventBusName)],
  });
  if (needs.armsTimers) {
    statements.push({
      Sid: 'ArmTimers',
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: [getAtt('TimerQueue', 'Arn')],
    });
  }
  if (needs.consumes.length > 0) {
    statements.push({
      Sid: 'ConsumeQueue',
      Effect: 'Allow',
      // What the Lambda event source mapping needs to poll the queue with this role.
      Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
      Resource: needs.consumes.map((queue) => getAtt(queue, 'Arn')),
    });
  }
  if (needs.resolvesSenders) {
    const roles = queueSenderRoles(options.rules);
    if (roles.length > 0) {
      statements.push({
        Sid: 'ResolveQueueSenders',
        Effect: 'Allow',
        // SQS names a message's sender by its role's unique id; GetRole on the queue integrations' roles maps it back.
        Action: ['iam:GetRole'],
        Resource: roles,
      });
    }
    statements.push(...webhookIntakeStatements(options.rules));
  }
  if (needs.onFailure) {
    statements.push({
      Sid: 'OnFailureDestination',
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: [getAtt(needs.onFailure, 'Arn')],
    });
  }
  return statements;
}

/** The roles whose queue messages the intake accepts (functions/runtime.ts resolves the same list). */
function queueSenderRoles(rules: StackOptions['rules']): string[] {
  return [
    ...new Set(
      rules.integrations
        .filter((integration) => integration.queue)
        .flatMap((integration) => integration.principals)
        .filter((arn) => arn.includes(':role/')),
    ),
  ].sort();
}

/** Written out rather than GetAtt: the roles name the bus and the bus's policy names the roles. */
function eventBusArn(nameOrArn: string): CfnValue {
  if (nameOrArn.startsWith('arn:')) return nameOrArn;
  return sub(`arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:event-bus/${nameOrArn}`);
}

/**
 * Packs the EKS statements into as few managed policies as IAM's size limit allows. Managed, not inline: a
 * role's inline policies share one 10 KiB budget, which a rules file with a few clusters would exhaust.
 */
function managedPolicies(statements: readonly PolicyStatement[]): ReturnType<typeof policyDocument>[] {
  const documents: PolicyStatement[][] = [];
  let size = 0;
  for (const statement of statements) {
    const length = JSON.stringify(statement).length;
    if (length > MANAGED_POLICY_BUDGET) {
      throw new Error(
        `IAM statement ${statement.Sid} is ${length} characters, over one managed policy's limit`,
      );
    }
    const current = documents.at(-1);
    if (current && size + length + 1 <= MANAGED_POLICY_BUDGET) {
      current.push(statement);
      size += length + 1;
    } else {
      documents.push([statement]);
      size = length;
    }
  }
  if (documents.length > MAX_MANAGED_POLICIES) {
    throw new Error(
      `The access rules need ${documents.length} managed policies for their EKS permissions, over the ${MAX_MANAGED_POLICIES} a role may have: merge rules or split the clusters over several deployments`,
    );
  }
  return documents.map(policyDocument);
}
