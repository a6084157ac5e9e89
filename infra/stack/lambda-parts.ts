/**
 * What every function of serverless.yml has in the stack: the logical ids osls gives its resources, the
 * execution role the stack gives it (serverless.yml names it in the function's `role:`), starting from the
 * right to write its own logs, and what its queues need. Shared by the broker's functions (resources.ts) and the webhook integrations'
 * (webhook-resources.ts).
 */
import {
  type CfnResource,
  type CfnValue,
  getAtt,
  type PolicyStatement,
  policyDocument,
} from './cloudformation';

/** AWS's guidance for SQS event sources: visibility at least six times the function timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;
/** How long a dead letter waits to be settled or moved back: SQS's maximum. */
export const DLQ_RETENTION_SECONDS = 14 * 24 * 3600;

/** Logical ids serverless gives a function's resources (`sweeper` -> `SweeperLambdaFunction`). */
export function functionLogicalId(name: string): string {
  return `${upperFirst(name)}LambdaFunction`;
}

export function logGroupLogicalId(name: string): string {
  return `${upperFirst(name)}LogGroup`;
}

/** The role serverless.yml names in each function's `role:`. */
export function roleLogicalId(name: string): string {
  return `${upperFirst(name)}Role`;
}

/** Writing to its own log group, which serverless creates for every function. */
export function ownLogsStatement(name: string): PolicyStatement {
  return {
    Sid: 'OwnLogs',
    Effect: 'Allow',
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    // The log group's Arn attribute ends in `:*`, which covers its streams.
    Resource: [getAtt(logGroupLogicalId(name), 'Arn')],
  };
}

/** A function's execution role: assumable by Lambda only, with one inline policy and `managedPolicyArns`. */
export function executionRole(
  prefix: string,
  name: string,
  statements: readonly PolicyStatement[],
  managedPolicyArns: readonly CfnValue[] = [],
): CfnResource {
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      Description: `${prefix}-${name}: execution role`,
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      },
      ...(managedPolicyArns.length > 0 ? { ManagedPolicyArns: [...managedPolicyArns] } : {}),
      Policies: [{ PolicyName: 'broker', PolicyDocument: policyDocument(statements) as unknown as CfnValue }],
    },
  };
}

export function upperFirst(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1);
}
