/**
 * The deployed side of the webhook integrations (Jira, PagerDuty), present only when the access rules declare
 * one: the roles of the `webhook` function (a Lambda function URL the vendors call) and of the `writeBack`
 * function, the write-back queue fed by an EventBridge rule on the broker's bus, its dead-letter queue, their
 * policies, alarms and the webhook URLs. What the other roles gain (the API tokens, the webhook role's id) is
 * webhookIntakeStatements. Pure, like resources.ts: the rules come in as data.
 *
 * Secrets: each role reads only the refs the rules name, the signing secrets (`secret`) for the webhook
 * function, the API tokens (`token`) for the functions that read tickets back or write to them. An SSM
 * SecureString encrypted with the AWS-managed key (aws/ssm), or a secret with aws/secretsmanager, is decrypted by
 * the service for any caller allowed to read it: no kms:Decrypt here. A customer-managed KMS key needs
 * kms:Decrypt on that key for these roles (its key policy, or a statement added to them): the rules do not name
 * keys, so it cannot be derived.
 */

import { METRICS_NAMESPACE, type MetricName, STAGE_DIMENSION } from '../../functions/app/metrics';
import { MAX_RECEIVE_COUNT } from '../../functions/config/defaults';
import { OUTCOME_SOURCE } from '../../functions/core/names';
import type { Integration } from '../../functions/core/rules';
import type { SecretRef, WebhookConfig } from '../../functions/core/tickets/config';
import {
  type CfnOutput,
  type CfnResource,
  type CfnValue,
  getAtt,
  type PolicyStatement,
  ref,
  type StackFragment,
  sub,
} from './cloudformation';
import { eksReadStatements } from './eks-permissions';
import { deadLetterQueuePolicy, sidPart, writeBackQueuePolicy } from './intake-policies';
import {
  DLQ_RETENTION_SECONDS,
  executionRole,
  functionLogicalId,
  ownLogsStatement,
  roleLogicalId,
  VISIBILITY_TIMEOUT_FACTOR,
} from './lambda-parts';
import type { StackOptions } from './resources';

/** serverless.yml's functions of the webhook integrations, deployed with these resources. */
export const WEBHOOK_FUNCTIONS = ['webhook', 'writeBack'] as const;

export type WebhookIntegration = Integration & { readonly webhook: WebhookConfig };

/**
 * Messages wait this long for the writeBack function: seconds normally; days only if it cannot run at all.
 * SQS's default, 4 days: a comment that late still tells the ticket what happened, and a backlog older than
 * that is better looked at (the DLQ alarm) than posted.
 */
const WRITE_BACK_RETENTION_SECONDS = 4 * 24 * 3600;

const SECRETS_MANAGER_PREFIX = 'secretsmanager:';

/** The integrations the webhook function serves, in file order. */
export function webhookIntegrations(rules: {
  readonly integrations: readonly Integration[];
}): WebhookIntegration[] {
  return rules.integrations.filter(
    (integration): integration is WebhookIntegration => integration.webhook !== undefined,
  );
}

/** The webhook function's role: the only sender of ticket events on the requests queue (WEBHOOK_SENDER_ARN). */
export const WEBHOOK_SENDER_ARN: CfnValue = getAtt(roleLogicalId('webhook'), 'Arn');

/**
 * What the SQS intake and the dead-letter function hold besides their own statements when the rules declare a
 * webhook integration: the API tokens (they read tickets back), and iam:GetRole on the webhook function's role,
 * which SQS names by its unique id as the sender of ticket events.
 */
export function webhookIntakeStatements(rules: StackOptions['rules']): PolicyStatement[] {
  const integrations = webhookIntegrations(rules);
  if (integrations.length === 0) return [];
  return [
    ...secretStatements(
      'ApiTokens',
      integrations.map((integration) => integration.webhook.token),
    ),
    { Sid: 'ResolveWebhookSender', Effect: 'Allow', Action: ['iam:GetRole'], Resource: [WEBHOOK_SENDER_ARN] },
  ];
}

/** How buildStack makes what every part of the stack shares. */
export interface WebhookStackContext {
  /** `eks-access-broker-<stage>`: every resource name starts with it. */
  readonly prefix: string;
  /** The bus outcomes are published to: `{Ref: EventBus}` or the existing bus's name or ARN. */
  readonly busName: CfnValue;
  /** The lease table's ARN: the stack's table, or the stage's existing one (StackOptions.leaseTable). */
  readonly leaseTableArn: CfnValue;
  /** An alarm notifying the stack's topic, named after `id`. */
  readonly alarm: (id: string, description: string, metric: Record<string, CfnValue>) => CfnResource;
}

/** Every resource and output of the webhook integrations; none when the rules declare none. */
export function webhookResources(options: StackOptions, context: WebhookStackContext): StackFragment {
  const integrations = webhookIntegrations(options.rules);
  if (integrations.length === 0) return { Resources: {}, Outputs: {} };
  const { prefix } = context;
  const resources: Record<string, CfnResource> = {};
  const outputs: Record<string, CfnOutput> = {};
  const queueName = `${prefix}-write-back`;
  const ruleArn = getAtt('WriteBackRule', 'Arn');

  resources.WriteBackQueue = {
    Type: 'AWS::SQS::Queue',
    Properties: {
      QueueName: queueName,
      // AWS's guidance for SQS event sources, as for the broker's other queues.
      VisibilityTimeout: VISIBILITY_TIMEOUT_FACTOR * options.timeoutSeconds.writeBack,
      MessageRetentionPeriod: WRITE_BACK_RETENTION_SECONDS,
      SqsManagedSseEnabled: true,
      // A vendor outage is retried on every receive, one visibility timeout apart (a few minutes in all); past
      // that the outcome waits in the DLQ, alarmed, to be moved back once the vendor answers. The same count as
      // the broker's other queues: a write-back is idempotent enough to retry (a rare duplicate comment), and
      // never worth retrying forever.
      RedrivePolicy: {
        deadLetterTargetArn: getAtt('WriteBackDeadLetterQueue', 'Arn'),
        maxReceiveCount: MAX_RECEIVE_COUNT,
      },
    },
  };
  resources.WriteBackDeadLetterQueue = {
    Type: 'AWS::SQS::Queue',
    Properties: {
      QueueName: `${queueName}-dlq`,
      // SQS counts retention from the first enqueue: longer than the source queue's, so a redrive finds them.
      MessageRetentionPeriod: DLQ_RETENTION_SECONDS,
      SqsManagedSseEnabled: true,
      RedriveAllowPolicy: {
        redrivePermission: 'byQueue',
        sourceQueueArns: [sub(`arn:\${AWS::Partition}:sqs:\${AWS::Region}:\${AWS::AccountId}:${queueName}`)],
      },
    },
  };

  resources.WriteBackRule = {
    Type: 'AWS::Events::Rule',
    Properties: {
      Name: queueName,
      Description: "Outcomes of the webhook integrations' requests, to be written back to their tickets",
      EventBusName: context.busName,
      State: 'ENABLED',
      // Every outcome the broker publishes for a request of these integrations (a revocation by expiry too: an
      // outcome carries its lease's origin). EventBridge patterns nest: no dotted paths.
      EventPattern: {
        source: [OUTCOME_SOURCE],
        detail: { origin: { integration: integrations.map((integration) => integration.id) } },
      },
      Targets: [
        {
          Id: 'write-back',
          Arn: getAtt('WriteBackQueue', 'Arn'),
          // What EventBridge could not put on the queue after its own retries: the same end as a failed write-back.
          DeadLetterConfig: { Arn: getAtt('WriteBackDeadLetterQueue', 'Arn') },
        },
      ],
    },
  };
  resources.WriteBackQueuePolicy = {
    Type: 'AWS::SQS::QueuePolicy',
    Properties: {
      Queues: [ref('WriteBackQueue')],
      PolicyDocument: writeBackQueuePolicy({
        queueArn: getAtt('WriteBackQueue', 'Arn'),
        ruleArn,
      }) as unknown as CfnValue,
    },
  };
  resources.WriteBackDeadLetterQueuePolicy = {
    Type: 'AWS::SQS::QueuePolicy',
    Properties: {
      Queues: [ref('WriteBackDeadLetterQueue')],
      PolicyDocument: deadLetterQueuePolicy({
        queueArn: getAtt('WriteBackDeadLetterQueue', 'Arn'),
        senders: [],
        services: [{ service: 'events.amazonaws.com', sourceArn: ruleArn }],
      }) as unknown as CfnValue,
    },
  };

  resources[roleLogicalId('webhook')] = executionRole(prefix, 'webhook', [
    ownLogsStatement('webhook'),
    {
      Sid: 'QueueTicketEvents',
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: [getAtt('RequestsQueue', 'Arn')],
    },
    {
      Sid: 'WebhookDeliveries',
      Effect: 'Allow',
      // The delivery ids already queued (a redelivered webhook queues nothing), kept in the lease table.
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      Resource: [context.leaseTableArn],
    },
    ...secretStatements(
      'WebhookSecrets',
      integrations.map((integration) => integration.webhook.secret),
    ),
  ]);
  resources[roleLogicalId('writeBack')] = executionRole(prefix, 'writeBack', [
    ownLogsStatement('writeBack'),
    {
      Sid: 'ConsumeQueue',
      Effect: 'Allow',
      Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
      Resource: [getAtt('WriteBackQueue', 'Arn')],
    },
    {
      Sid: 'ReadLeases',
      Effect: 'Allow',
      // Reads only: a write-back never changes a lease (nor EKS).
      Action: ['dynamodb:GetItem', 'dynamodb:Query'],
      Resource: [context.leaseTableArn],
    },
    ...secretStatements(
      'ApiTokens',
      integrations.map((integration) => integration.webhook.token),
    ),
    // Inline, unlike the other roles' EKS statements: one short statement per deployment, not one per cluster.
    ...eksReadStatements(options.rules),
  ]);

  // No function drains this DLQ: every message in it stays until moved back, so any is worth the alarm (the
  // broker's own DLQs, which the deadLetter function drains, alarm on the age of their oldest message).
  resources.WriteBackDeadLetterQueueAlarm = context.alarm(
    'WriteBackDeadLetterQueueAlarm',
    'Outcomes could not be written back to their tickets (the access decisions stand): read the writeBack logs, then move the messages back with aws sqs start-message-move-task',
    {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: getAtt('WriteBackDeadLetterQueue', 'QueueName') }],
      Statistic: 'Maximum',
      Period: 60,
    },
  );
  const failed: MetricName = 'WriteBackFailed';
  resources.WriteBackFailedAlarm = context.alarm(
    'WriteBackFailedAlarm',
    'A vendor refused a write-back for good (a missing issue, a token without the permission): it was dropped; read the writeBack logs',
    {
      Metrics: [
        {
          Id: 'writeBackFailed',
          Expression: `SELECT SUM(${failed}) FROM "${METRICS_NAMESPACE}" WHERE ${STAGE_DIMENSION} = '${options.stage}'`,
          Period: 300,
          ReturnData: true,
        },
      ],
    },
  );

  const functionUrl = getAtt(`${functionLogicalId('webhook')}Url`, 'FunctionUrl');
  outputs.WebhookUrl = {
    Description:
      "The webhook endpoint; an integration's webhook URL is this followed by webhooks/<integration id>",
    Value: functionUrl,
  };
  for (const integration of integrations) {
    const id = `WebhookUrl${sidPart(integration.id)}`;
    if (outputs[id] !== undefined) {
      throw new Error(
        `Webhook integrations ${integration.id} and another have the same output name ${id}: rename one`,
      );
    }
    outputs[id] = {
      Description: `Give this URL to ${integration.webhook.vendor} as the webhook of integration ${integration.id}`,
      // FunctionUrl ends with a slash.
      Value: { 'Fn::Join': ['', [functionUrl, `webhooks/${integration.id}`]] },
    };
  }
  return { Resources: resources, Outputs: outputs };
}

/**
 * Reading the secrets at `refs`: ssm:GetParameter on SSM parameters (`/name`), secretsmanager:GetSecretValue on
 * Secrets Manager secrets (`secretsmanager:<name or ARN>`), each ref once, in file order. Both in the stack's own account and
 * region unless a secret is given by ARN.
 */
export function secretStatements(sid: string, refs: readonly SecretRef[]): PolicyStatement[] {
  const unique = [...new Set(refs)];
  const parameters = unique.filter((secretRef) => !secretRef.startsWith(SECRETS_MANAGER_PREFIX));
  const secrets = unique
    .filter((secretRef) => secretRef.startsWith(SECRETS_MANAGER_PREFIX))
    .map((secretRef) => secretRef.slice(SECRETS_MANAGER_PREFIX.length));
  const statements: PolicyStatement[] = [];
  if (parameters.length > 0) {
    statements.push({
      Sid: `${sid}FromSsm`,
      Effect: 'Allow',
      Action: ['ssm:GetParameter'],
      // A parameter's ARN is its name without the leading slash after `parameter/`.
      Resource: parameters.map((name) =>
        sub(
          `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${name.replace(/^\//, '')}`,
        ),
      ),
    });
  }
  if (secrets.length > 0) {
    statements.push({
      Sid: `${sid}FromSecretsManager`,
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      // A secret's ARN ends in `-` and six random characters: a name matches with `-??????`, nothing longer.
      Resource: secrets.map((secret) =>
        secret.startsWith('arn:')
          ? secret
          : sub(
              `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${secret}-??????`,
            ),
      ),
    });
  }
  return statements;
}
