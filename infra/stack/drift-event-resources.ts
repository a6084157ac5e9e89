/**
 * Drift repaired within seconds: a rule on the account's DEFAULT bus (where AWS services' events arrive) for the
 * CloudTrail events of EKS's access-entry changes made by anyone but the broker, targeting the driftEvent
 * function, with the retries and the dead-letter queue of the intake's rule. It needs a trail that logs
 * management events (README, Deploy); without one no event comes, and the periodic drift check still covers
 * every live lease.
 *
 * Who is the broker: the sessions of its functions' roles and of the clusters' roles it assumes, named by
 * `userIdentity.sessionContext.sessionIssuer.arn`. A caller with no session issuer (an IAM user, the root user)
 * is never the broker. Failed calls (`errorCode`) changed nothing and are left out.
 */

import { stageResourceNames } from '../../functions/config/names';
import {
  ACCESS_ENTRY_EVENT_NAMES,
  CLOUDTRAIL_DETAIL_TYPE,
  EKS_EVENT_SOURCE,
} from '../../functions/core/access-change';
import type { AccessRules } from '../../functions/core/rules';
import { type CfnResource, type CfnValue, getAtt, type StackFragment } from './cloudformation';
import { deadLetterQueuePolicy } from './intake-policies';
import { DLQ_RETENTION_SECONDS, functionLogicalId, roleLogicalId } from './lambda-parts';

export const DRIFT_EVENT_FUNCTION = 'driftEvent';
export const DRIFT_EVENTS_DEAD_LETTER_QUEUE = 'DriftEventsDeadLetterQueue';
const RULE = 'DriftEventsRule';

/**
 * The rule's pattern: EKS's CloudTrail events of the five calls that change an access entry, that succeeded,
 * made by no session of `brokerRoleArns`.
 */
export function driftEventPattern(brokerRoleArns: readonly CfnValue[]): Record<string, CfnValue> {
  const issuer = (match: CfnValue) => ({
    userIdentity: { sessionContext: { sessionIssuer: { arn: [match] } } },
  });
  return {
    source: [EKS_EVENT_SOURCE],
    'detail-type': [CLOUDTRAIL_DETAIL_TYPE],
    detail: {
      eventSource: ['eks.amazonaws.com'],
      eventName: [...ACCESS_ENTRY_EVENT_NAMES],
      errorCode: [{ exists: false }],
      $or: [issuer({ 'anything-but': [...brokerRoleArns] }), issuer({ exists: false })],
    },
  };
}

export function driftEventResources(options: {
  readonly stage: string;
  readonly rules: AccessRules;
  /** The roles of the broker's functions (every one of them may change EKS). */
  readonly functionRoles: readonly string[];
  readonly alarm: (id: string, description: string, metric: Record<string, CfnValue>) => CfnResource;
}): StackFragment {
  const names = stageResourceNames(options.stage);
  const roleArn = getAtt(roleLogicalId(DRIFT_EVENT_FUNCTION), 'Arn');
  const functionArn = getAtt(functionLogicalId(DRIFT_EVENT_FUNCTION), 'Arn');
  const brokerRoles: CfnValue[] = [
    ...options.functionRoles.map((name) => getAtt(roleLogicalId(name), 'Arn')),
    ...[...new Set(options.rules.clusters.flatMap((cluster) => cluster.roleArn ?? []))].sort(),
  ];
  const resources: Record<string, CfnResource> = {
    [DRIFT_EVENTS_DEAD_LETTER_QUEUE]: {
      Type: 'AWS::SQS::Queue',
      Properties: {
        QueueName: names.driftEventsDeadLetterQueue,
        MessageRetentionPeriod: DLQ_RETENTION_SECONDS,
        SqsManagedSseEnabled: true,
      },
    },
    [`${DRIFT_EVENTS_DEAD_LETTER_QUEUE}Policy`]: {
      Type: 'AWS::SQS::QueuePolicy',
      Properties: {
        Queues: [{ Ref: DRIFT_EVENTS_DEAD_LETTER_QUEUE }],
        PolicyDocument: deadLetterQueuePolicy({
          queueArn: getAtt(DRIFT_EVENTS_DEAD_LETTER_QUEUE, 'Arn'),
          // The function's on-failure destination is sent with its own role; the rule's DLQ by EventBridge.
          senders: [roleArn],
          services: [{ service: 'events.amazonaws.com', sourceArn: getAtt(RULE, 'Arn') }],
        }) as unknown as CfnValue,
      },
    },
    [RULE]: {
      Type: 'AWS::Events::Rule',
      Properties: {
        Name: names.driftEventsRule,
        Description: 'Access entries changed by anyone but the broker (CloudTrail): repaired at once',
        // No EventBusName: the account's default bus, where CloudTrail's events arrive.
        State: 'ENABLED',
        EventPattern: driftEventPattern(brokerRoles),
        Targets: [
          {
            Id: 'drift-event',
            Arn: functionArn,
            // As the intake's: handing the event to Lambda is retried for an hour, then dead-lettered.
            RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 3600 },
            DeadLetterConfig: { Arn: getAtt(DRIFT_EVENTS_DEAD_LETTER_QUEUE, 'Arn') },
          },
        ],
      },
    },
    [`${RULE}Permission`]: {
      Type: 'AWS::Lambda::Permission',
      Properties: {
        Action: 'lambda:InvokeFunction',
        FunctionName: functionArn,
        Principal: 'events.amazonaws.com',
        SourceArn: getAtt(RULE, 'Arn'),
      },
    },
    // Nothing drains it: any message is a hand change not repaired at once (the periodic check repairs it).
    [`${DRIFT_EVENTS_DEAD_LETTER_QUEUE}Alarm`]: options.alarm(
      `${DRIFT_EVENTS_DEAD_LETTER_QUEUE}Alarm`,
      'A hand change to an access entry could not be repaired at once (the periodic drift check will): read the driftEvent logs, then purge the queue',
      {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: getAtt(DRIFT_EVENTS_DEAD_LETTER_QUEUE, 'QueueName') }],
        Statistic: 'Maximum',
        Period: 60,
      },
    ),
  };
  return {
    Resources: resources,
    Outputs: {
      DriftEventsRuleArn: {
        Description: "EventBridge rule (default bus) routing others' access-entry changes to the broker",
        Value: getAtt(RULE, 'Arn'),
      },
    },
  };
}
