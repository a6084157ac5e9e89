/**
 * The slice of CloudFormation's template language the stack is written in: plain data, so the template osls
 * compiles is exactly what these functions return, and tests can read it without any AWS library.
 */

/** A template value: a literal, an intrinsic function (`{ Ref }`, `{ 'Fn::GetAtt' }`, `{ 'Fn::Sub' }`), or nested. */
export type CfnValue =
  | string
  | number
  | boolean
  | readonly CfnValue[]
  | { readonly [key: string]: CfnValue | undefined };

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: { readonly [key: string]: CfnValue | undefined };
  readonly DependsOn?: string | readonly string[];
  readonly DeletionPolicy?: 'Delete' | 'Retain' | 'Snapshot';
  readonly UpdateReplacePolicy?: 'Delete' | 'Retain' | 'Snapshot';
}

export interface CfnOutput {
  readonly Description: string;
  readonly Value: CfnValue;
}

/** What serverless.yml's `resources:` takes: merged into the template osls compiles. */
export interface StackFragment {
  readonly Resources: Readonly<Record<string, CfnResource>>;
  readonly Outputs: Readonly<Record<string, CfnOutput>>;
}

/** IAM condition block: operator (`StringEquals`, `ForAllValues:StringLike`, ...) to condition key to values. */
export type IamCondition = Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;

export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: 'Allow';
  readonly Action: readonly string[];
  readonly Resource: readonly CfnValue[];
  readonly Condition?: IamCondition;
}

export interface PolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: readonly PolicyStatement[];
}

export const ref = (logicalId: string): CfnValue => ({ Ref: logicalId });

export const getAtt = (logicalId: string, attribute: string): CfnValue => ({
  'Fn::GetAtt': [logicalId, attribute],
});

export const sub = (template: string): CfnValue => ({ 'Fn::Sub': template });

export function policyDocument(statements: readonly PolicyStatement[]): PolicyDocument {
  return { Version: '2012-10-17', Statement: statements };
}
