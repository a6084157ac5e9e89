/**
 * Reads a compiled CloudFormation template and lists what is wrong with its IAM, from the access rules alone:
 * the expectations are recomputed here from the rules' meaning, not taken from infra/stack, so a bug in the
 * generator cannot make its own test pass.
 */
import { accessPolicyArn } from '../../functions/core/access-policies';
import { globMatch } from '../../functions/core/glob';
import type { AccessRules } from '../../functions/core/rules';

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly DependsOn?: unknown;
  readonly DeletionPolicy?: string;
}

export interface Template {
  readonly Resources: Record<string, TemplateResource>;
  readonly Outputs?: Record<string, unknown>;
}

export interface AuditedStatement {
  readonly Sid?: string;
  readonly Effect?: string;
  readonly Action?: unknown;
  readonly NotAction?: unknown;
  readonly Resource?: unknown;
  readonly NotResource?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

export interface FoundStatement {
  /** Logical id of the role or policy, and the Sid. */
  readonly where: string;
  readonly statement: AuditedStatement;
}

export function asArray(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

export function resourcesOfType(template: Template, type: string): [string, TemplateResource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

/** Every statement of every identity policy in the template: inline role policies and managed policies. */
export function iamStatements(template: Template): FoundStatement[] {
  const found: FoundStatement[] = [];
  const collect = (where: string, document: unknown) => {
    const statements = asArray((document as { Statement?: unknown } | undefined)?.Statement);
    for (const statement of statements as AuditedStatement[]) {
      found.push({ where: `${where}/${statement.Sid ?? '(no Sid)'}`, statement });
    }
  };
  for (const [id, resource] of Object.entries(template.Resources)) {
    const properties = resource.Properties ?? {};
    if (resource.Type === 'AWS::IAM::Role') {
      for (const policy of asArray(properties.Policies) as { PolicyDocument?: unknown }[]) {
        collect(id, policy.PolicyDocument);
      }
    } else if (resource.Type === 'AWS::IAM::ManagedPolicy' || resource.Type === 'AWS::IAM::Policy') {
      collect(id, properties.PolicyDocument);
    }
  }
  return found;
}

/** What the rules let the broker do on EKS: per directly managed cluster, its ARNs and grantable policies. */
export function expectedEks(rules: AccessRules): {
  readonly resources: ReadonlySet<string>;
  readonly policiesByEntries: ReadonlyMap<string, ReadonlySet<string>>;
  /** The principal globs of the rules that can grant on the cluster of these entries. */
  readonly principalsByEntries: ReadonlyMap<string, ReadonlySet<string>>;
  readonly roleArns: ReadonlySet<string>;
} {
  const resources = new Set<string>();
  const policiesByEntries = new Map<string, Set<string>>();
  const principalsByEntries = new Map<string, Set<string>>();
  for (const cluster of rules.clusters) {
    // A cluster behind a roleArn is managed with that role's credentials, not the function's.
    if (cluster.roleArn) continue;
    const base = `arn:${cluster.partition}:eks:${cluster.region}:${cluster.accountId}`;
    const entries = `${base}:access-entry/${cluster.name}/*`;
    resources.add(`${base}:cluster/${cluster.name}`);
    resources.add(entries);
    const policies = new Set<string>();
    const principals = new Set<string>();
    for (const rule of rules.rules) {
      if (!rule.clusters.some((pattern) => globMatch(pattern, cluster.name))) continue;
      for (const policy of rule.policies) policies.add(accessPolicyArn(cluster.partition, policy));
      for (const principal of rule.principals) principals.add(principal);
    }
    policiesByEntries.set(entries, policies);
    principalsByEntries.set(entries, principals);
  }
  const roleArns = new Set(rules.clusters.flatMap((cluster) => cluster.roleArn ?? []));
  return { resources, policiesByEntries, principalsByEntries, roleArns };
}

/**
 * The IAM problems of a template: wildcard actions, `*` resources, EKS resources that are not the configured
 * clusters', an AssociateAccessPolicy without the eks:policyArn and eks:accessScope conditions, or whose
 * policies differ from what the rules can grant, an entry deletion not limited to the broker's own entries, and
 * a tag, disassociation or deletion not limited to STANDARD entries of the principals the rules could grant
 * (eks:accessEntryType and eks:principalArn, condition keys of the access-entry resource type).
 */
export function iamProblems(template: Template, rules: AccessRules): string[] {
  const problems: string[] = [];
  const expected = expectedEks(rules);
  const eksResources = new Set<string>();
  const associable = new Map<string, Set<string>>();
  for (const { where, statement } of iamStatements(template)) {
    if (statement.Effect !== 'Allow') problems.push(`${where}: Effect ${String(statement.Effect)}`);
    if (statement.NotAction !== undefined || statement.NotResource !== undefined) {
      problems.push(`${where}: NotAction/NotResource grant everything else`);
    }
    const actions = asArray(statement.Action).map(String);
    const resources = asArray(statement.Resource);
    if (actions.length === 0) problems.push(`${where}: no actions`);
    if (resources.length === 0) problems.push(`${where}: no resources`);
    for (const action of actions) {
      if (action.includes('*')) problems.push(`${where}: wildcard action ${action}`);
    }
    for (const resource of resources) {
      if (resource === '*') problems.push(`${where}: Resource "*"`);
    }
    const eksActions = actions.filter((action) => action.startsWith('eks:'));
    if (eksActions.length > 0) {
      if (eksActions.length !== actions.length) problems.push(`${where}: EKS mixed with other services`);
      for (const resource of resources) {
        if (typeof resource !== 'string' || !expected.resources.has(resource)) {
          problems.push(`${where}: EKS resource ${JSON.stringify(resource)} is not a configured cluster's`);
        } else {
          eksResources.add(resource);
        }
      }
    }
    if (actions.includes('eks:AssociateAccessPolicy')) {
      if (actions.length !== 1) problems.push(`${where}: AssociateAccessPolicy shares its conditions`);
      const policyArns = asArray(
        statement.Condition?.ArnEquals?.['eks:policyArn'] ??
          statement.Condition?.StringEquals?.['eks:policyArn'],
      ).map(String);
      if (policyArns.length === 0) problems.push(`${where}: AssociateAccessPolicy without eks:policyArn`);
      if (statement.Condition?.StringEquals?.['eks:accessScope'] === undefined) {
        problems.push(`${where}: AssociateAccessPolicy without eks:accessScope`);
      }
      for (const resource of resources) {
        const set = associable.get(String(resource)) ?? new Set<string>();
        for (const arn of policyArns) set.add(arn);
        associable.set(String(resource), set);
      }
    }
    if (actions.includes('eks:CreateAccessEntry')) {
      const condition = statement.Condition ?? {};
      if (condition.StringEquals?.['eks:accessEntryType'] !== 'STANDARD') {
        problems.push(`${where}: CreateAccessEntry not limited to STANDARD entries`);
      }
      if (condition.StringLike?.['eks:principalArn'] === undefined) {
        problems.push(`${where}: CreateAccessEntry not limited to the rules' principals`);
      }
      if (
        condition.Null?.['eks:kubernetesGroups'] !== 'true' ||
        condition.Null?.['eks:username'] !== 'true'
      ) {
        problems.push(`${where}: CreateAccessEntry may set Kubernetes groups or a username`);
      }
    }
    if (actions.includes('eks:DeleteAccessEntry')) {
      const tagged = Object.keys(statement.Condition?.StringEquals ?? {}).some((key) =>
        key.startsWith('aws:ResourceTag/'),
      );
      if (!tagged) problems.push(`${where}: DeleteAccessEntry not limited to entries tagged as the broker's`);
    }
    if (actions.includes('eks:DisassociateAccessPolicy')) {
      const policyArns = statement.Condition?.ArnEquals?.['eks:policyArn'];
      if (policyArns === undefined) problems.push(`${where}: DisassociateAccessPolicy without eks:policyArn`);
    }
    for (const action of ['eks:TagResource', 'eks:DeleteAccessEntry', 'eks:DisassociateAccessPolicy']) {
      if (!actions.includes(action)) continue;
      // Tagging is also authorized as part of CreateAccessEntry, where the entry's keys may be absent: IfExists.
      const ifExists = action === 'eks:TagResource' ? 'IfExists' : '';
      const condition = statement.Condition ?? {};
      if (condition[`StringEquals${ifExists}`]?.['eks:accessEntryType'] !== 'STANDARD') {
        problems.push(`${where}: ${action} not limited to STANDARD entries`);
      }
      const principals = asArray(condition[`StringLike${ifExists}`]?.['eks:principalArn']).map(String);
      if (principals.length === 0) {
        problems.push(`${where}: ${action} not limited to the rules' principals`);
      }
      for (const resource of resources) {
        const allowed = expected.principalsByEntries.get(String(resource)) ?? new Set<string>();
        for (const principal of principals) {
          if (!allowed.has(principal)) {
            problems.push(
              `${where}: ${action} on principal ${principal}, which no rule grants on ${String(resource)}`,
            );
          }
        }
      }
    }
    if (actions.includes('sts:AssumeRole')) {
      for (const resource of resources) {
        if (typeof resource !== 'string' || !expected.roleArns.has(resource)) {
          problems.push(`${where}: sts:AssumeRole on ${JSON.stringify(resource)}, not a cluster's roleArn`);
        }
      }
    }
  }
  for (const resource of expected.resources) {
    if (!eksResources.has(resource)) problems.push(`no EKS permission on configured ${resource}`);
  }
  for (const [entries, policies] of expected.policiesByEntries) {
    const granted = [...(associable.get(entries) ?? [])].sort();
    const wanted = [...policies].sort();
    if (JSON.stringify(granted) !== JSON.stringify(wanted)) {
      problems.push(
        `${entries}: associable policies ${granted.join(', ')} differ from the rules' ${wanted.join(', ')}`,
      );
    }
  }
  return problems;
}
