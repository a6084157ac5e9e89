import type { EksEmulator } from '../../infra/local/eks/emulator';
import type { BaselineEntry, TrackedSubject } from './invariants';

export const VIEW_ARN = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';

export interface SeededSubjects {
  /** dev-a (a role with a path), dev-b, platform (baseline), node (EC2_LINUX entry), oncall. */
  readonly principals: readonly [string, string, string, string, string];
  readonly subjects: readonly TrackedSubject[];
  /** The seq of the last seeding mutation: what comes after is the broker's doing. */
  readonly fromSeq: number;
}

/**
 * Five subjects on cluster demo: two plain roles, one with a pre-existing entry (groups, a tag) and a
 * namespaced View association (the baseline the broker must give back exactly), one node entry the broker
 * must never touch, and an on-call role (break-glass admin).
 */
export function seedSafetySubjects(eks: EksEmulator, id: string): SeededSubjects {
  const account = 'arn:aws:iam::111122223333:role';
  const principals = [
    `${account}/safety/${id}/dev-a`,
    `${account}/dev-b-${id}`,
    `${account}/platform-${id}`,
    `${account}/node-${id}`,
    `${account}/oncall-${id}`,
  ] as const;
  const [, , platform, node] = principals;
  eks.createAccessEntry({
    clusterName: 'demo',
    principalArn: platform,
    kubernetesGroups: ['viewers'],
    tags: { team: 'platform' },
  });
  eks.associateAccessPolicy({
    clusterName: 'demo',
    principalArn: platform,
    policyArn: VIEW_ARN,
    accessScope: { type: 'namespace', namespaces: ['ops'] },
  });
  eks.createAccessEntry({ clusterName: 'demo', principalArn: node, type: 'EC2_LINUX' });
  const seeded = eks.snapshot().find((cluster) => cluster.clusterName === 'demo')?.entries ?? [];
  const subjects = principals.map((principalArn): TrackedSubject => {
    const entry = seeded.find((e) => e.principalArn === principalArn);
    if (!entry) return { clusterName: 'demo', principalArn };
    const baseline: BaselineEntry = {
      clusterName: 'demo',
      principalArn,
      type: entry.type,
      kubernetesGroups: entry.kubernetesGroups,
      tags: entry.tags,
      associations: entry.policies.map((p) => ({
        policyArn: p.policyArn,
        accessScope:
          p.accessScope.type === 'cluster'
            ? { type: 'cluster' }
            : { type: 'namespace', namespaces: [...p.accessScope.namespaces] },
      })),
    };
    return { clusterName: 'demo', principalArn, baseline };
  });
  return { principals, subjects, fromSeq: eks.mutations().at(-1)?.seq ?? 0 };
}
