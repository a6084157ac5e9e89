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
  /** A condition of the template's Conditions: the resource exists only where it holds. */
  readonly Condition?: string;
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
  readonly Conditions?: Readonly<Record<string, CfnValue>>;
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

/**
 * `value` as a JSON string in the deployed stack: every intrinsic function inside becomes a `${Vn}` variable of
 * one `Fn::Sub`, so an output can show a policy document with its ARNs resolved (no AWS::LanguageExtensions).
 */
export function jsonSub(value: CfnValue): CfnValue {
  const variables: Record<string, CfnValue> = {};
  const placeholder = (intrinsic: CfnValue): string => {
    const name = `V${Object.keys(variables).length}`;
    variables[name] = intrinsic;
    return `\${${name}}`;
  };
  const walk = (node: CfnValue | undefined): unknown => {
    if (node === undefined || typeof node !== 'object') {
      // A literal `${` would be read as a variable: Fn::Sub escapes it as `${!`.
      return typeof node === 'string' ? node.replaceAll('${', '${!') : node;
    }
    if (Array.isArray(node)) return node.map(walk);
    const record = node as { readonly [key: string]: CfnValue | undefined };
    const keys = Object.keys(record);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0]?.startsWith('Fn::'))) return placeholder(node);
    return Object.fromEntries(keys.map((key) => [key, walk(record[key])]));
  };
  const text = JSON.stringify(walk(value));
  return Object.keys(variables).length === 0 ? text : { 'Fn::Sub': [text, variables] };
}
