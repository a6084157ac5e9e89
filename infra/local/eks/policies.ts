/**
 * The AWS-managed EKS access policies, as ListAccessPolicies answers (names only; the ARN is built per
 * partition). Order as AWS lists them: alphabetical. Sources (see fidelity.md): the aws CLI's
 * list-access-policies example, the EKS User Guide's "Review access policy permissions" (AmazonAIOps...,
 * AmazonARCRegionSwitch...) and "Security considerations for EKS Capabilities" (ACK, kro, Argo CD), and
 * awsdocs/amazon-eks-user-guide#1003 (AmazonEKSClusterInsightsPolicy). AWS adds policies without notice: a
 * policy missing here is answered 404 as an unknown one would be.
 */
export const MANAGED_ACCESS_POLICY_NAMES = [
  'AmazonAIOpsAssistantPolicy',
  'AmazonARCRegionSwitchScalingPolicy',
  'AmazonEKSACKPolicy',
  'AmazonEKSAdminPolicy',
  'AmazonEKSAdminViewPolicy',
  'AmazonEKSArgoCDClusterPolicy',
  'AmazonEKSArgoCDPolicy',
  'AmazonEKSAutoNodePolicy',
  'AmazonEKSBlockStorageClusterPolicy',
  'AmazonEKSBlockStoragePolicy',
  'AmazonEKSClusterAdminPolicy',
  'AmazonEKSClusterInsightsPolicy',
  'AmazonEKSComputeClusterPolicy',
  'AmazonEKSComputePolicy',
  'AmazonEKSEditPolicy',
  'AmazonEKSHybridPolicy',
  'AmazonEKSKROPolicy',
  'AmazonEKSLoadBalancingClusterPolicy',
  'AmazonEKSLoadBalancingPolicy',
  'AmazonEKSNetworkingClusterPolicy',
  'AmazonEKSNetworkingPolicy',
  'AmazonEKSSecretReaderPolicy',
  'AmazonEKSViewPolicy',
  'AmazonEMRJobPolicy',
  'AmazonSagemakerHyperpodClusterPolicy',
  'AmazonSagemakerHyperpodControllerPolicy',
  'AmazonSagemakerHyperpodSystemNamespacePolicy',
] as const;

/**
 * Policies only EKS itself associates, to the entries of service-linked roles (which no caller can create):
 * the list of awsdocs/amazon-eks-user-guide#1003 ("Some of our access entry policies are SLR-only, meaning
 * users can't associate them with an access entry").
 */
export const SERVICE_LINKED_ONLY_POLICY_NAMES: ReadonlySet<string> = new Set([
  'AmazonEKSBlockStorageClusterPolicy',
  'AmazonEKSBlockStoragePolicy',
  'AmazonEKSClusterInsightsPolicy',
  'AmazonEKSComputeClusterPolicy',
  'AmazonEKSComputePolicy',
  'AmazonEKSHybridPolicy',
]);

export function accessPolicyArn(partition: string, name: string): string {
  return `arn:${partition}:eks::aws:cluster-access-policy/${name}`;
}

/** The policy name if `arn` is a well-formed access-policy ARN of `partition`, else undefined. */
export function accessPolicyName(partition: string, arn: string): string | undefined {
  const prefix = `arn:${partition}:eks::aws:cluster-access-policy/`;
  if (!arn.startsWith(prefix)) return undefined;
  const name = arn.slice(prefix.length);
  return (MANAGED_ACCESS_POLICY_NAMES as readonly string[]).includes(name) ? name : undefined;
}

export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-iso-')) return 'aws-iso';
  if (region.startsWith('us-isob-')) return 'aws-iso-b';
  return 'aws';
}
