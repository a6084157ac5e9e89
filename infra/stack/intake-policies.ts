/**
 * The resource policies of the broker's front door: the event bus and the queues. Pure builders: the access
 * rules and the broker roles' ARNs come in, policy documents come out. The stack passes CloudFormation
 * expressions (`Fn::GetAtt` of the roles), the local edge plain ARNs (localIntakePolicies), and both evaluate the
 * very same statements, so what `npm start` refuses is what AWS refuses.
 *
 * What AWS enforces here, and why each statement is written the way it is:
 * - A same-account principal whose identity policy allows `events:PutEvents` or `sqs:SendMessage` on `*` gets
 *   through a resource policy that only allows. So every channel has an explicit DENY for everyone but its
 *   senders; the ALLOW statements only matter to principals of other accounts (and document intent).
 * - Senders are named by `aws:PrincipalArn`, never in `Principal`: for a role session it is the role's ARN (path
 *   included), it takes the rules' globs (StringLike, whose `*` spans `/` and `:` as the rules' own matching
 *   does), and it does not break when a role is re-created (a `Principal` ARN is pinned to the old role's id).
 * - `events:source` is multivalued for PutEvents (one value per entry; Service Authorization Reference,
 *   EventBridge: ArrayOfString), so a deny tests ForAnyValue (one foreign entry fails the call) and an allow
 *   ForAllValues with a Null check (ForAllValues alone is true for a missing key). `events:detail-type` is a
 *   single string.
 * - AWS service principals have no identity policy and no `aws:PrincipalArn`: the queue denies exempt them
 *   (`aws:PrincipalIsAWSService`), and only an explicit ALLOW with `aws:SourceArn` lets one in (EventBridge
 *   delivering to the intake rule's dead-letter queue, or from the write-back rule to the write-back queues).
 *   SQS's own redrive to a dead-letter queue is not a SendMessage call: the dead-letter queue's
 *   RedriveAllowPolicy (byQueue) decides which queue may use it.
 */
import { DETAIL_TYPES } from '../../functions/core/contract';
import { OUTCOME_SOURCE } from '../../functions/core/names';
import type { Integration } from '../../functions/core/rules';
import type { CfnValue } from './cloudformation';

/** An ARN: a literal (the local edge) or a CloudFormation expression resolving to one (the template). */
export type ArnValue = CfnValue;

export interface ResourcePolicyStatement {
  readonly Sid: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal: '*' | { readonly Service: string };
  readonly Action: string;
  readonly Resource: ArnValue;
  readonly Condition: Readonly<Record<string, Readonly<Record<string, ArnValue | readonly ArnValue[]>>>>;
}

export interface ResourcePolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: readonly ResourcePolicyStatement[];
}

/** The detail-types an integration may put: the request contract's. */
export const REQUEST_DETAIL_TYPES: readonly string[] = [
  DETAIL_TYPES.grant,
  DETAIL_TYPES.revoke,
  DETAIL_TYPES.extend,
];

/**
 * The event bus's policy, statement by statement:
 * - `DenyForeignSources<n>`: an integration's sources, put by anyone but its principals;
 * - `DenyForgedOutcomes`: the broker's own source (`eks-access-broker`), put by anyone but `publishers`
 *   (the broker's function roles: consumers of outcome events must be able to trust them);
 * - `AllowIntegration<n>`: an integration's principals may put requests under its sources (principals of other
 *   accounts need it; same-account principals also need an identity policy, see the README).
 * Integrations without sources (queue only) have no statement.
 */
export function busPolicy(input: {
  readonly busArn: ArnValue;
  readonly integrations: readonly Integration[];
  readonly publishers: readonly ArnValue[];
}): ResourcePolicyDocument {
  const senders = input.integrations.filter((integration) => integration.sources.length > 0);
  const statement = (
    Sid: string,
    Effect: 'Allow' | 'Deny',
    Condition: ResourcePolicyStatement['Condition'],
  ): ResourcePolicyStatement => ({
    Sid,
    Effect,
    Principal: '*',
    Action: 'events:PutEvents',
    Resource: input.busArn,
    Condition,
  });
  return {
    Version: '2012-10-17',
    Statement: [
      ...senders.map((integration, index) =>
        statement(`DenyForeignSources${index}${sidPart(integration.id)}`, 'Deny', {
          'ForAnyValue:StringEquals': { 'events:source': [...integration.sources] },
          StringNotLike: { 'aws:PrincipalArn': [...integration.principals] },
        }),
      ),
      statement('DenyForgedOutcomes', 'Deny', {
        'ForAnyValue:StringEquals': { 'events:source': [OUTCOME_SOURCE] },
        ...(input.publishers.length > 0
          ? { ArnNotEquals: { 'aws:PrincipalArn': [...input.publishers] } }
          : {}),
      }),
      ...senders.map((integration, index) =>
        statement(`AllowIntegration${index}${sidPart(integration.id)}`, 'Allow', {
          'ForAllValues:StringEquals': { 'events:source': [...integration.sources] },
          Null: { 'events:source': 'false' },
          StringEquals: { 'events:detail-type': [...REQUEST_DETAIL_TYPES] },
          StringLike: { 'aws:PrincipalArn': [...integration.principals] },
        }),
      ),
    ],
  };
}

/**
 * The requests queue: SendMessage only from the principals of the integrations that may use the queue (exact
 * ARNs, the rules' validation sees to that) and from `brokerSenders`: the webhook function's role, which queues
 * the webhooks it verified (the intake accepts those only from it, by SenderId), when the rules declare a
 * webhook integration.
 */
export function requestsQueuePolicy(input: {
  readonly queueArn: ArnValue;
  readonly integrations: readonly Integration[];
  readonly brokerSenders: readonly ArnValue[];
}): ResourcePolicyDocument {
  const principals = input.integrations
    .filter((integration) => integration.queue)
    .flatMap((integration) => integration.principals);
  return {
    Version: '2012-10-17',
    Statement: [
      denyOtherSenders('OnlyIntegrationsSend', input.queueArn, [...principals, ...input.brokerSenders]),
      ...(principals.length > 0
        ? [
            {
              Sid: 'AllowQueueIntegrations',
              Effect: 'Allow' as const,
              Principal: '*' as const,
              Action: 'sqs:SendMessage',
              Resource: input.queueArn,
              Condition: { ArnEquals: { 'aws:PrincipalArn': principals } },
            },
          ]
        : []),
    ],
  };
}

/** The timer queue: SendMessage only from the broker roles that arm timers. */
export function timerQueuePolicy(input: {
  readonly queueArn: ArnValue;
  readonly senders: readonly ArnValue[];
}): ResourcePolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [denyOtherSenders('OnlyTimerArmersSend', input.queueArn, input.senders)],
  };
}

/**
 * A dead-letter queue: SendMessage only from `senders` (a Lambda on-failure destination sends with the function's
 * own role) and from the AWS services of `services`, each tied to the resource that feeds it (`aws:SourceArn`).
 * The redrive from its source queue needs neither. A forged dead letter would make the deadLetter function roll a
 * grant back or answer a request as failed: nobody else may write here.
 */
export function deadLetterQueuePolicy(input: {
  readonly queueArn: ArnValue;
  readonly senders: readonly ArnValue[];
  readonly services?: readonly { readonly service: string; readonly sourceArn: ArnValue }[];
}): ResourcePolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      denyOtherSenders('OnlyBrokerSends', input.queueArn, input.senders),
      ...(input.services ?? []).map(({ service, sourceArn }, index) => ({
        Sid: `AllowService${index}${sidPart(service.split('.')[0] ?? '')}`,
        Effect: 'Allow' as const,
        Principal: { Service: service },
        Action: 'sqs:SendMessage',
        Resource: input.queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': sourceArn } },
      })),
    ],
  };
}

/**
 * The write-back queue (outcomes of the webhook integrations' requests, on their way to the tickets): only the
 * EventBridge rule that routes them there may send; a forged message would post a forged comment on a ticket.
 */
export function writeBackQueuePolicy(input: {
  readonly queueArn: ArnValue;
  readonly ruleArn: ArnValue;
}): ResourcePolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      denyOtherSenders('OnlyItsRuleSends', input.queueArn, []),
      {
        Sid: 'AllowWriteBackRule',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: input.queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': input.ruleArn } },
      },
    ],
  };
}

/** Where the documents apply and who the broker is: ARNs or CloudFormation expressions. */
export interface IntakePolicyTargets {
  readonly busArn: ArnValue;
  readonly requestsQueueArn: ArnValue;
  readonly timerQueueArn: ArnValue;
  readonly requestsDeadLetterQueueArn: ArnValue;
  readonly timerDeadLetterQueueArn: ArnValue;
  readonly intakeEventsDeadLetterQueueArn: ArnValue;
  /** The EventBridge intake rule, whose target dead-letters into the intake-events queue. */
  readonly intakeRuleArn: ArnValue;
  readonly roles: {
    /** May publish the broker's outcome events: every function's role (and operators', for `forget`). */
    readonly publishers: readonly ArnValue[];
    /** Send on the timer queue. */
    readonly timerArmers: readonly ArnValue[];
    /** Send on the requests queue: the webhook function's role, when the rules declare a webhook integration. */
    readonly requestSenders: readonly ArnValue[];
    /** Send on the intake-events dead-letter queue (the EventBridge intake's on-failure destination). */
    readonly intakeFailureSenders: readonly ArnValue[];
  };
}

export interface IntakePolicies {
  readonly bus: ResourcePolicyDocument;
  readonly requestsQueue: ResourcePolicyDocument;
  readonly timerQueue: ResourcePolicyDocument;
  readonly requestsDeadLetterQueue: ResourcePolicyDocument;
  readonly timerDeadLetterQueue: ResourcePolicyDocument;
  readonly intakeEventsDeadLetterQueue: ResourcePolicyDocument;
}

/** Every front-door document of one deployment (or of the local edge). */
export function intakePolicies(
  rules: { readonly integrations: readonly Integration[] },
  targets: IntakePolicyTargets,
): IntakePolicies {
  const { roles } = targets;
  return {
    bus: busPolicy({
      busArn: targets.busArn,
      integrations: rules.integrations,
      publishers: roles.publishers,
    }),
    requestsQueue: requestsQueuePolicy({
      queueArn: targets.requestsQueueArn,
      integrations: rules.integrations,
      brokerSenders: roles.requestSenders,
    }),
    timerQueue: timerQueuePolicy({ queueArn: targets.timerQueueArn, senders: roles.timerArmers }),
    requestsDeadLetterQueue: deadLetterQueuePolicy({
      queueArn: targets.requestsDeadLetterQueueArn,
      senders: [],
    }),
    timerDeadLetterQueue: deadLetterQueuePolicy({ queueArn: targets.timerDeadLetterQueueArn, senders: [] }),
    intakeEventsDeadLetterQueue: deadLetterQueuePolicy({
      queueArn: targets.intakeEventsDeadLetterQueueArn,
      senders: roles.intakeFailureSenders,
      services: [{ service: 'events.amazonaws.com', sourceArn: targets.intakeRuleArn }],
    }),
  };
}

/** The local broker's identity: every in-process function runs as this one role. */
export const LOCAL_BROKER_ROLE_ARN = 'arn:aws:iam::111122223333:role/eks-access-broker-local';
export const LOCAL_ACCOUNT_ID = '111122223333';
export const LOCAL_REGION = 'us-east-1';

/**
 * The same documents with concrete ARNs, for a local edge that evaluates them: the broker is `brokerRoleArn`,
 * the resources are named `names` in `accountId` / `region`.
 */
export function localIntakePolicies(
  rules: { readonly integrations: readonly Integration[] },
  options: {
    readonly names: {
      readonly eventBus: string;
      readonly requestsQueue: string;
      readonly requestsDeadLetterQueue: string;
      readonly timerQueue: string;
      readonly timerDeadLetterQueue: string;
      readonly intakeEventsDeadLetterQueue?: string;
      readonly intakeRule?: string;
    };
    readonly accountId?: string;
    readonly region?: string;
    readonly brokerRoleArn?: string;
  },
): IntakePolicies {
  const account = options.accountId ?? LOCAL_ACCOUNT_ID;
  const region = options.region ?? LOCAL_REGION;
  const role = options.brokerRoleArn ?? LOCAL_BROKER_ROLE_ARN;
  const names = options.names;
  // Locally the webhook endpoint runs in the broker's process, as its role: it queues what it verified.
  const webhooks = rules.integrations.some((integration) => integration.webhook !== undefined);
  const sqs = (name: string) => `arn:aws:sqs:${region}:${account}:${name}`;
  return intakePolicies(rules, {
    busArn: `arn:aws:events:${region}:${account}:event-bus/${names.eventBus}`,
    requestsQueueArn: sqs(names.requestsQueue),
    timerQueueArn: sqs(names.timerQueue),
    requestsDeadLetterQueueArn: sqs(names.requestsDeadLetterQueue),
    timerDeadLetterQueueArn: sqs(names.timerDeadLetterQueue),
    intakeEventsDeadLetterQueueArn: sqs(
      names.intakeEventsDeadLetterQueue ?? `${names.requestsQueue}-intake-events-dlq`,
    ),
    intakeRuleArn: `arn:aws:events:${region}:${account}:rule/${names.eventBus}/${names.intakeRule ?? names.requestsQueue}`,
    roles: {
      publishers: [role],
      timerArmers: [role],
      requestSenders: webhooks ? [role] : [],
      intakeFailureSenders: [role],
    },
  });
}

/**
 * Deny SendMessage to every caller but `senders`; AWS service principals (which carry no aws:PrincipalArn) are
 * left to the queue's ALLOW statements. No senders: nobody but a service allowed below.
 */
function denyOtherSenders(
  sid: string,
  queueArn: ArnValue,
  senders: readonly ArnValue[],
): ResourcePolicyStatement {
  return {
    Sid: sid,
    Effect: 'Deny',
    Principal: '*',
    Action: 'sqs:SendMessage',
    Resource: queueArn,
    Condition: {
      ...(senders.length > 0 ? { ArnNotEquals: { 'aws:PrincipalArn': [...senders] } } : {}),
      BoolIfExists: { 'aws:PrincipalIsAWSService': 'false' },
    },
  };
}

/** Sids (and output names) take letters and digits only: `self-service` -> `SelfService`. */
export function sidPart(id: string): string {
  return id
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part !== '')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
