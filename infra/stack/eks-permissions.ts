/**
 * The broker's own EKS (and STS) permissions, derived from the access rules at package time: whatever the code
 * does, the role cannot grant more than the rules allow, on clusters other than those declared, or delete an
 * entry it did not create. Reference: "Actions, resources, and condition keys for Amazon Elastic Kubernetes
 * Service" in the Service Authorization Reference.
 *
 * | action                            | resource          | conditions                                              |
 * | --------------------------------- | ----------------- | ------------------------------------------------------- |
 * | DescribeAccessEntry, ListAssociatedAccessPolicies | access-entry | none (reads)                              |
 * | DescribeCluster                   | cluster           | none (read: is a 404 the entry's or the cluster's?)     |
 * | CreateAccessEntry                 | cluster           | type STANDARD, owner tag, principal matches a rule      |
 * | TagResource                       | access-entry      | owner tag only; STANDARD entry of a rules' principal    |
 * | AssociateAccessPolicy             | access-entry      | policy, scope, namespaces and principal a rule allows   |
 * | DisassociateAccessPolicy          | access-entry      | a grantable policy; STANDARD entry of a rules' principal |
 * | DeleteAccessEntry                 | access-entry      | owner tag; STANDARD entry of a rules' principal         |
 *
 * The access-entry resource type carries the condition keys `eks:principalArn` and `eks:accessEntryType` (with
 * aws:ResourceTag, eks:clusterName, eks:kubernetesGroups, eks:username): Service Authorization Reference, "Actions,
 * resources, and condition keys for Amazon Elastic Kubernetes Service", resource types table, access-entry. So
 * every action on an entry (TagResource, DisassociateAccessPolicy, DeleteAccessEntry) can be held to the STANDARD
 * entries of the principals the rules could grant: the role cannot tag the cluster creator's entry as its own and
 * delete it, nor strip ClusterAdmin from it, nor touch a node's entry. TagResource takes them IfExists: it is also
 * authorized when an entry is created with its tag, where CreateAccessEntry's own conditions already hold, and a
 * key missing there must not fail every grant; on an existing entry the keys are there and are enforced.
 *
 * Taking access away is otherwise less conditioned than giving it: a lease granted under yesterday's rules must
 * still be revocable after the rules' policies or namespaces were narrowed, so Disassociate is not limited to
 * today's policies and scopes. Its principal is: remove a principal glob from the rules only once its leases have
 * ended, or their revocation is refused and they go irrevocable (alarmed) until the glob is back or an operator
 * forgets them. Associate is limited, and it is also the call that NARROWS a namespace scope (EKS replaces the scope on re-associate):
 * after a rules change drops a policy or namespace glob while leases of it are active, narrowing such a
 * lease's scope is refused and the lease goes irrevocable (alarmed) until the rules or the lease are dealt with.
 * Likewise a baseline scope outside the rules' globs cannot be merged into a grant: that grant fails loudly.
 */
import {
  accessPolicyArn,
  GRANTABLE_POLICY_NAMES,
  type GrantablePolicyName,
} from '../../functions/core/access-policies';
import { globMatch } from '../../functions/core/glob';
import { OWNER_TAG_KEY, OWNER_TAG_VALUE } from '../../functions/core/model';
import type { AccessRules, ClusterConfig } from '../../functions/core/rules';
import type { PolicyStatement } from './cloudformation';

export function clusterArn(cluster: ClusterConfig): string {
  return `arn:${cluster.partition}:eks:${cluster.region}:${cluster.accountId}:cluster/${cluster.name}`;
}

/** Access entry ARNs are `access-entry/<cluster>/<identity type>/<account>/<name>/<uuid>`. */
export function accessEntriesArn(cluster: ClusterConfig): string {
  return `arn:${cluster.partition}:eks:${cluster.region}:${cluster.accountId}:access-entry/${cluster.name}/*`;
}

/** What the rules let the broker associate on one cluster, for one kind of scope. */
export interface GrantableAccess {
  readonly scope: 'cluster' | 'namespace';
  /** Full ARNs in the cluster's partition. */
  readonly policyArns: readonly string[];
  /** Namespace globs (namespace scope only). */
  readonly namespaces?: readonly string[];
  /** Principal ARN globs of the rules that allow it. */
  readonly principals: readonly string[];
}

/**
 * Per cluster, the (scope, namespaces, principals) combinations the rules can grant, each with its policies.
 * Grouped per policy across rules, not per rule: one association carries the union of every lease of that
 * policy (two leases from two rules, namespaces a and b, become one Associate with [a, b]), so a statement per
 * rule would refuse a union the rules allow. The price: across two rules naming the same policy, IAM allows
 * each rule's principals in the other's namespaces too; the broker's own rule check stays the exact one.
 */
export function grantableAccess(rules: AccessRules, cluster: ClusterConfig): readonly GrantableAccess[] {
  const perPolicy = new Map<
    GrantablePolicyName,
    { clusterPrincipals: Set<string>; namespacePrincipals: Set<string>; namespaces: Set<string> }
  >();
  for (const rule of rules.rules) {
    if (!rule.clusters.some((pattern) => globMatch(pattern, cluster.name))) continue;
    for (const policy of rule.policies) {
      let entry = perPolicy.get(policy);
      if (!entry) {
        entry = { clusterPrincipals: new Set(), namespacePrincipals: new Set(), namespaces: new Set() };
        perPolicy.set(policy, entry);
      }
      if (rule.clusterScope) for (const principal of rule.principals) entry.clusterPrincipals.add(principal);
      if (rule.namespaces) {
        for (const principal of rule.principals) entry.namespacePrincipals.add(principal);
        for (const namespace of rule.namespaces) entry.namespaces.add(namespace);
      }
    }
  }
  const groups = new Map<string, { access: Omit<GrantableAccess, 'policyArns'>; policyArns: string[] }>();
  const add = (policy: GrantablePolicyName, access: Omit<GrantableAccess, 'policyArns'>) => {
    const key = JSON.stringify(access);
    const group = groups.get(key) ?? { access, policyArns: [] };
    group.policyArns.push(accessPolicyArn(cluster.partition, policy));
    groups.set(key, group);
  };
  for (const policy of [...perPolicy.keys()].sort()) {
    const entry = perPolicy.get(policy);
    if (!entry) continue;
    if (entry.clusterPrincipals.size > 0) {
      add(policy, { scope: 'cluster', principals: sorted(entry.clusterPrincipals) });
    }
    if (entry.namespaces.size > 0) {
      add(policy, {
        scope: 'namespace',
        namespaces: sorted(entry.namespaces),
        principals: sorted(entry.namespacePrincipals),
      });
    }
  }
  return [...groups.values()].map(({ access, policyArns }) => ({ ...access, policyArns }));
}

/** The principal globs any rule allows on the cluster: who may get an entry created. */
export function grantablePrincipals(rules: AccessRules, cluster: ClusterConfig): readonly string[] {
  const principals = new Set<string>();
  for (const rule of rules.rules) {
    if (rule.clusters.some((pattern) => globMatch(pattern, cluster.name))) {
      for (const principal of rule.principals) principals.add(principal);
    }
  }
  return sorted(principals);
}

/**
 * The EKS and STS statements of every function that reconciles. All five do: intake applies grants and
 * revokes (the revoke of a subject's last lease deletes the entry), the expiry timer and the sweeper revoke,
 * drift-check repairs, and each of them goes through the same planner diff, whose plan can contain any action.
 *
 * A cluster with a roleArn is called with that role's credentials, so its EKS statements belong on that role
 * in the cluster's account (clusterStatements gives them); the functions' roles only get sts:AssumeRole on it.
 */
export function eksStatements(rules: AccessRules): readonly PolicyStatement[] {
  const statements = rules.clusters.flatMap((cluster, index) =>
    cluster.roleArn === undefined ? clusterStatements(rules, cluster, index) : [],
  );
  const roleArns = sorted(new Set(rules.clusters.flatMap((cluster) => cluster.roleArn ?? [])));
  if (roleArns.length > 0) {
    statements.push({
      Sid: 'AssumeClusterRoles',
      Effect: 'Allow',
      Action: ['sts:AssumeRole'],
      Resource: roleArns,
    });
  }
  return statements;
}

/**
 * Reading access entries only, on every cluster of the rules: what the write-back function needs to state the
 * access EKS actually holds after a grant. Same split as eksStatements: a cluster with a roleArn is read with
 * that role (whose own policy allows the reads and whose trust policy must also name the reading role).
 */
export function eksReadStatements(rules: AccessRules): readonly PolicyStatement[] {
  const direct = rules.clusters.filter((cluster) => cluster.roleArn === undefined);
  const roleArns = sorted(new Set(rules.clusters.flatMap((cluster) => cluster.roleArn ?? [])));
  return [
    ...(direct.length > 0
      ? [
          {
            Sid: 'ReadAccessEntries',
            Effect: 'Allow' as const,
            Action: ['eks:DescribeAccessEntry', 'eks:ListAssociatedAccessPolicies'],
            Resource: direct.map(accessEntriesArn),
          },
        ]
      : []),
    ...(roleArns.length > 0
      ? [
          {
            Sid: 'AssumeClusterRoles',
            Effect: 'Allow' as const,
            Action: ['sts:AssumeRole'],
            Resource: roleArns,
          },
        ]
      : []),
  ];
}

/** The statements that let the broker manage access on one cluster; `index` keeps the Sids unique. */
export function clusterStatements(
  rules: AccessRules,
  cluster: ClusterConfig,
  index: number,
): PolicyStatement[] {
  const statements: PolicyStatement[] = [];
  const ownerTag = `aws:RequestTag/${OWNER_TAG_KEY}`;
  const entries = accessEntriesArn(cluster);
  statements.push({
    Sid: `ReadAccessEntries${index}`,
    Effect: 'Allow',
    Action: ['eks:DescribeAccessEntry', 'eks:ListAssociatedAccessPolicies'],
    Resource: [entries],
  });
  // EKS documents no message that tells a missing cluster from a missing entry: the adapter asks the cluster
  // (once per cold start) before it takes a 404 for "no entry" (functions/adapters/eks-access.ts).
  statements.push({
    Sid: `DescribeCluster${index}`,
    Effect: 'Allow',
    Action: ['eks:DescribeCluster'],
    Resource: [clusterArn(cluster)],
  });
  const principals = grantablePrincipals(rules, cluster);
  if (principals.length > 0) {
    statements.push({
      Sid: `CreateOwnedAccessEntries${index}`,
      Effect: 'Allow',
      Action: ['eks:CreateAccessEntry'],
      Resource: [clusterArn(cluster)],
      Condition: {
        StringEquals: { 'eks:accessEntryType': 'STANDARD', [ownerTag]: OWNER_TAG_VALUE },
        'ForAllValues:StringEquals': { 'aws:TagKeys': [OWNER_TAG_KEY] },
        // StringLike, not ArnLike: its `*` spans `/` and `:` exactly like the rules' own glob matching.
        StringLike: { 'eks:principalArn': principals },
        // The broker never sets Kubernetes groups or a username: an entry in a group that RBAC binds to
        // more would grant past the rules. Absent from the request, these keys are null.
        Null: { 'eks:kubernetesGroups': 'true', 'eks:username': 'true' },
      },
    });
    statements.push({
      Sid: `TagOwnedAccessEntries${index}`,
      Effect: 'Allow',
      Action: ['eks:TagResource'],
      Resource: [entries],
      Condition: {
        StringEquals: { [ownerTag]: OWNER_TAG_VALUE },
        'ForAllValues:StringEquals': { 'aws:TagKeys': [OWNER_TAG_KEY] },
        StringEqualsIfExists: { 'eks:accessEntryType': 'STANDARD' },
        StringLikeIfExists: { 'eks:principalArn': principals },
      },
    });
  }
  grantableAccess(rules, cluster).forEach((access, group) => {
    statements.push({
      Sid: `AssociateGrantable${index}x${group}`,
      Effect: 'Allow',
      Action: ['eks:AssociateAccessPolicy'],
      Resource: [entries],
      Condition:
        access.scope === 'cluster'
          ? {
              ArnEquals: { 'eks:policyArn': access.policyArns },
              StringEquals: { 'eks:accessScope': 'cluster' },
              StringLike: { 'eks:principalArn': access.principals },
            }
          : {
              ArnEquals: { 'eks:policyArn': access.policyArns },
              StringEquals: { 'eks:accessScope': 'namespace' },
              // ForAllValues alone is true for an empty or missing list; Null false makes the list required.
              'ForAllValues:StringLike': { 'eks:namespaces': access.namespaces ?? [] },
              Null: { 'eks:namespaces': 'false' },
              StringLike: { 'eks:principalArn': access.principals },
            },
    });
  });
  // Nobody the rules could grant: nothing to take away either (and IAM refuses an empty condition list).
  if (principals.length === 0) return statements;
  statements.push({
    Sid: `DisassociateGrantable${index}`,
    Effect: 'Allow',
    Action: ['eks:DisassociateAccessPolicy'],
    Resource: [entries],
    Condition: {
      ArnEquals: {
        'eks:policyArn': GRANTABLE_POLICY_NAMES.map((name) => accessPolicyArn(cluster.partition, name)),
      },
      StringEquals: { 'eks:accessEntryType': 'STANDARD' },
      StringLike: { 'eks:principalArn': principals },
    },
  });
  statements.push({
    Sid: `DeleteOwnedAccessEntries${index}`,
    Effect: 'Allow',
    Action: ['eks:DeleteAccessEntry'],
    Resource: [entries],
    // The planner deletes only entries it created and that still carry its tag; IAM holds it to that, and to the
    // STANDARD entries of the rules' principals (the tag alone is the broker's word: it could tag any entry).
    Condition: {
      StringEquals: {
        [`aws:ResourceTag/${OWNER_TAG_KEY}`]: OWNER_TAG_VALUE,
        'eks:accessEntryType': 'STANDARD',
      },
      StringLike: { 'eks:principalArn': principals },
    },
  });
  return statements;
}

function sorted(values: Iterable<string>): string[] {
  return [...values].sort();
}
