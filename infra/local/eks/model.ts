export const AUTHENTICATION_MODES = ['API', 'API_AND_CONFIG_MAP', 'CONFIG_MAP'] as const;
export type AuthenticationMode = (typeof AUTHENTICATION_MODES)[number];

export const ACCESS_ENTRY_TYPES = [
  'STANDARD',
  'EC2_LINUX',
  'EC2_WINDOWS',
  'FARGATE_LINUX',
  'HYBRID_LINUX',
  'EC2',
  'HYPERPOD_LINUX',
] as const;
export type AccessEntryType = (typeof ACCESS_ENTRY_TYPES)[number];

/** A cluster the emulator serves, as configuration seeds it. */
export interface ClusterSeed {
  readonly name: string;
  readonly region: string;
  readonly accountId: string;
  readonly authenticationMode: AuthenticationMode;
  readonly kubernetesVersion?: string;
}

export interface AccessScope {
  readonly type: 'cluster' | 'namespace';
  readonly namespaces: readonly string[];
}

/** The wire shape of an access entry (epoch seconds for times). */
export interface AccessEntry {
  readonly clusterName: string;
  readonly principalArn: string;
  readonly kubernetesGroups: readonly string[];
  readonly accessEntryArn: string;
  readonly createdAt: number;
  readonly modifiedAt: number;
  readonly tags: Readonly<Record<string, string>>;
  readonly username: string;
  readonly type: AccessEntryType;
}

export interface AssociatedAccessPolicy {
  readonly policyArn: string;
  readonly accessScope: AccessScope;
  readonly associatedAt: number;
  readonly modifiedAt: number;
}

export const MUTATING_OPERATIONS = [
  'CreateAccessEntry',
  'UpdateAccessEntry',
  'DeleteAccessEntry',
  'AssociateAccessPolicy',
  'DisassociateAccessPolicy',
  'TagResource',
  'UntagResource',
] as const;
export type MutatingOperation = (typeof MUTATING_OPERATIONS)[number];

export const EKS_OPERATIONS = [
  ...MUTATING_OPERATIONS,
  'DescribeAccessEntry',
  'ListAccessEntries',
  'ListAssociatedAccessPolicies',
  'ListAccessPolicies',
  'DescribeCluster',
  'ListClusters',
  'ListTagsForResource',
] as const;
export type EksOperation = (typeof EKS_OPERATIONS)[number];

/**
 * One mutating call as the emulator saw it. `outcome` is 'applied' when the state changed (or, for an
 * idempotent replay, would have), else the error type answered. Replaying the applied records in `seq` order
 * from the seeded state rebuilds the state at any point, which is what invariant checks need.
 */
export interface MutationRecord {
  readonly seq: number;
  /** Epoch milliseconds. */
  readonly at: number;
  readonly operation: MutatingOperation;
  readonly clusterName: string;
  readonly principalArn?: string;
  readonly policyArn?: string;
  readonly accessScope?: AccessScope;
  readonly entryType?: AccessEntryType;
  readonly kubernetesGroups?: readonly string[];
  readonly username?: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly tagKeys?: readonly string[];
  /** DeleteAccessEntry: the associations that went with the entry. */
  readonly cascadedPolicyArns?: readonly string[];
  /** CreateAccessEntry answered from its clientRequestToken: the entry already existed, nothing changed. */
  readonly replayed?: boolean;
  readonly outcome: 'applied' | string;
}
