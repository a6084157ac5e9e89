/**
 * The AWS-managed EKS access policies the broker may grant. Only the policies meant for people: the others
 * (AmazonEKSAutoNodePolicy, AmazonEKSNetworkingPolicy, ...) exist for nodes and AWS services, and several of
 * them are usable only by service-linked roles, so granting them to a person is a mistake, not a use case.
 */
export const GRANTABLE_POLICY_NAMES = [
  'AmazonEKSClusterAdminPolicy',
  'AmazonEKSAdminPolicy',
  'AmazonEKSEditPolicy',
  'AmazonEKSViewPolicy',
  'AmazonEKSAdminViewPolicy',
  'AmazonEKSSecretReaderPolicy',
] as const;

export type GrantablePolicyName = (typeof GRANTABLE_POLICY_NAMES)[number];

/** AWS-managed policies that exist but are not for people: named in refusals so the reason is precise. */
const NON_GRANTABLE_POLICY_NAMES: ReadonlySet<string> = new Set([
  'AmazonAIOpsAssistantPolicy',
  'AmazonARCRegionSwitchScalingPolicy',
  'AmazonEKSACKPolicy',
  'AmazonEKSArgoCDClusterPolicy',
  'AmazonEKSArgoCDPolicy',
  'AmazonEKSAutoNodePolicy',
  'AmazonEKSBlockStorageClusterPolicy',
  'AmazonEKSBlockStoragePolicy',
  'AmazonEKSClusterInsightsPolicy',
  'AmazonEKSComputeClusterPolicy',
  'AmazonEKSComputePolicy',
  'AmazonEKSHybridPolicy',
  'AmazonEKSKROPolicy',
  'AmazonEKSLoadBalancingClusterPolicy',
  'AmazonEKSLoadBalancingPolicy',
  'AmazonEKSNetworkingClusterPolicy',
  'AmazonEKSNetworkingPolicy',
  'AmazonEMRJobPolicy',
  'AmazonSagemakerHyperpodClusterPolicy',
  'AmazonSagemakerHyperpodControllerPolicy',
  'AmazonSagemakerHyperpodSystemNamespacePolicy',
]);

/** The partitions EKS runs in (the same list the local emulator accepts). */
export const PARTITIONS = ['aws', 'aws-cn', 'aws-us-gov', 'aws-iso', 'aws-iso-b'] as const;

const POLICY_ARN = /^arn:([a-z-]+):eks::aws:cluster-access-policy\/(.+)$/;

function isGrantablePolicyName(name: string): name is GrantablePolicyName {
  return (GRANTABLE_POLICY_NAMES as readonly string[]).includes(name);
}

export function accessPolicyArn(partition: string, name: GrantablePolicyName): string {
  return `arn:${partition}:eks::aws:cluster-access-policy/${name}`;
}

type PolicyResolution =
  | {
      readonly ok: true;
      readonly arn: string;
      readonly name: GrantablePolicyName;
      readonly partition: string;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Resolves a full access-policy ARN or a bare policy name to the full ARN. A bare name gets partition `aws`
 * (the request does not say which partition its cluster is in; the rules check the partition against the
 * cluster's region); a full ARN keeps its own.
 */
export function normalizePolicyArn(value: string): PolicyResolution {
  const match = POLICY_ARN.exec(value);
  if (match) {
    const [, partition = '', name = ''] = match;
    if (!(PARTITIONS as readonly string[]).includes(partition)) {
      return {
        ok: false,
        reason: `unknown partition '${partition}' (expected one of ${PARTITIONS.join(', ')})`,
      };
    }
    const refusal = refuseName(name);
    if (refusal) return { ok: false, reason: refusal };
    return { ok: true, arn: value, name: name as GrantablePolicyName, partition };
  }
  if (value.startsWith('arn:')) {
    return {
      ok: false,
      reason:
        'must be an access-policy ARN like arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy, or the bare name',
    };
  }
  const refusal = refuseName(value);
  if (refusal) return { ok: false, reason: refusal };
  return {
    ok: true,
    arn: accessPolicyArn('aws', value as GrantablePolicyName),
    name: value as GrantablePolicyName,
    partition: 'aws',
  };
}

/** The policy name of an access-policy ARN (or of a bare name); undefined when it is neither. */
export function policyName(arn: string): string | undefined {
  const match = POLICY_ARN.exec(arn);
  if (match) return match[2];
  return arn.includes(':') || arn.includes('/') || arn.length === 0 ? undefined : arn;
}

/** The partition of an access-policy ARN; undefined for a bare name or anything else. */
export function policyPartition(arn: string): string | undefined {
  return POLICY_ARN.exec(arn)?.[1];
}

function refuseName(name: string): string | undefined {
  if (isGrantablePolicyName(name)) return undefined;
  const shown = name.length > 64 ? `${name.slice(0, 64)}...` : name;
  if (NON_GRANTABLE_POLICY_NAMES.has(name)) {
    return `${shown} is an AWS-managed policy for nodes or AWS services, not grantable to people (grantable: ${GRANTABLE_POLICY_NAMES.join(', ')})`;
  }
  return `unknown access policy '${shown}' (grantable: ${GRANTABLE_POLICY_NAMES.join(', ')})`;
}
