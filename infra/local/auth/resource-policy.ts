/**
 * Resource policies on the local edge: the bus's and the queues' documents (the template's own, rendered with
 * concrete ARNs by infra/stack/intake-policies.ts) decide the AWS calls that reach them, evaluated by
 * @cloud-copilot/iam-simulate, a maintained IAM policy simulator, never by a hand-written evaluator.
 *
 * How a request is modelled (what this edge cannot know, and which way it leans):
 * - Identity policies are not modelled: the identities file has none. Every caller is evaluated as if its identity
 *   policy allowed the action on every resource (as `sqs:SendMessage` / `events:PutEvents` on `*` commonly do).
 *   For a caller of the resources' account that makes the resource policy's explicit denies the only thing that can
 *   refuse it, which is how AWS decides a same-account request whose identity policy allows: a principal of the
 *   account with no identity policy at all would be denied by AWS anyway unless the resource policy allowed it by
 *   name. For a caller of another account AWS also needs an allow in the resource policy, and so does the simulator.
 * - The request context: the principal is the caller's session ARN (what AWS names in its error), aws:PrincipalArn
 *   its role or user, aws:PrincipalAccount, aws:PrincipalType, aws:userid, aws:PrincipalIsAWSService = false (no
 *   local identity is an AWS service; the deliveries services make here, such as a redrive to a dead-letter queue,
 *   happen in process, so aws:SourceArn never applies), plus the service keys the caller gives (events:source ...).
 * - SCPs, RCPs, permission boundaries and session policies: none.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { AuthenticatedCaller } from '../identities';

/** A resource policy document as IAM takes it (the template's ResourcePolicyDocument fits). */
export interface PolicyDocument {
  readonly Version: string;
  readonly Statement: readonly object[];
}

export interface ResourcePolicyRequest {
  readonly caller: AuthenticatedCaller;
  /** As IAM names it: `events:PutEvents`, `sqs:SendMessage`. */
  readonly action: string;
  readonly resourceArn: string;
  /** The account that owns the resource. */
  readonly resourceAccount: string;
  /** Service condition keys; a list for a multivalued key (events:source: one value per entry). */
  readonly context?: Readonly<Record<string, string | readonly string[]>>;
}

export type ResourcePolicyDecision =
  | { readonly allowed: true }
  /** `explicit`: a Deny statement matched; otherwise nothing allowed it (a caller of another account). */
  | { readonly allowed: false; readonly explicit: boolean };

/** The simulator refused the input (a malformed document, an unknown action): a bug of the edge's setup. */
export class ResourcePolicyError extends Error {
  override readonly name = 'ResourcePolicyError';
}

/** Every caller's assumed identity policy: see the file comment. */
const ASSUMED_IDENTITY_POLICY = (action: string) => ({
  name: 'local-edge-assumed-identity-allow',
  policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }] },
});

export async function evaluateResourcePolicy(
  document: PolicyDocument,
  request: ResourcePolicyRequest,
): Promise<ResourcePolicyDecision> {
  const { caller } = request;
  const context: Record<string, string | string[]> = {
    'aws:PrincipalArn': caller.principalArn,
    'aws:PrincipalAccount': caller.account,
    'aws:PrincipalType': caller.arn.includes(':assumed-role/') ? 'AssumedRole' : 'User',
    'aws:userid': caller.userId,
    'aws:PrincipalIsAWSService': 'false',
  };
  for (const [key, value] of Object.entries(request.context ?? {})) {
    context[key] = typeof value === 'string' ? value : [...value];
  }
  const response = await runSimulation(
    {
      request: {
        principal: caller.arn,
        action: request.action,
        resource: { resource: request.resourceArn, accountId: request.resourceAccount },
        contextVariables: context,
      },
      identityPolicies: [ASSUMED_IDENTITY_POLICY(request.action)],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: document,
    },
    { simulationMode: 'Strict' },
  );
  if (response.resultType === 'error') {
    throw new ResourcePolicyError(
      `Cannot evaluate the resource policy of ${request.resourceArn} for ${request.action}: ` +
        `${response.errors.message} ${JSON.stringify(response.errors)}`,
    );
  }
  switch (response.overallResult) {
    case 'Allowed':
      return { allowed: true };
    case 'ExplicitlyDenied':
      return { allowed: false, explicit: true };
    default:
      return { allowed: false, explicit: false };
  }
}

/**
 * The message AWS gives a request its resource policy refused (IAM User Guide, "Troubleshoot access denied error
 * messages": "User: <arn> is not authorized to perform: <action> on resource: <arn> with an explicit deny in a
 * resource-based policy" / "... because no resource-based policy allows the <action> action"). `actionAsNamed` is
 * the action as the service spells it in the message: EventBridge keeps the case (`events:PutRule` in
 * ministryofjustice/modernisation-platform#1253), SQS lowercases it (`sqs:sendmessage` in
 * aws/serverless-application-model#3633 and microsoft/aspire#3333).
 */
export function accessDeniedMessage(
  request: Pick<ResourcePolicyRequest, 'caller' | 'resourceArn'>,
  actionAsNamed: string,
  decision: { readonly explicit: boolean },
): string {
  const head = `User: ${request.caller.arn} is not authorized to perform: ${actionAsNamed} on resource: ${request.resourceArn}`;
  return decision.explicit
    ? `${head} with an explicit deny in a resource-based policy`
    : `${head} because no resource-based policy allows the ${actionAsNamed} action`;
}
