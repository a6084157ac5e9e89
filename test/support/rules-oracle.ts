/**
 * Generated access-rules files and grant requests, and an oracle that decides independently of
 * functions/core/rules.ts whether a rule really allows a request: globs become regular expressions, a
 * requested namespace wildcard is checked against witnesses (names it stands for), and every condition of the
 * rule format is restated from its documentation. Used to show that evaluateGrant never allows more.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';
import type { GrantRequest } from '../../functions/core/model';
import type { AccessRule, AccessRules } from '../../functions/core/rules';

export const GRANTABLE = [
  'AmazonEKSClusterAdminPolicy',
  'AmazonEKSAdminPolicy',
  'AmazonEKSEditPolicy',
  'AmazonEKSViewPolicy',
  'AmazonEKSAdminViewPolicy',
  'AmazonEKSSecretReaderPolicy',
] as const;

const CLUSTERS = [
  { name: 'demo', region: 'us-east-1', accountId: '111122223333' },
  { name: 'prod-eu', region: 'eu-west-1', accountId: '444455556666' },
  { name: 'prod-cn', region: 'cn-north-1', accountId: '777788889999' },
];
const PRINCIPAL_GLOBS = [
  'arn:aws:iam::111122223333:role/*',
  'arn:aws:iam::111122223333:role/dev-*',
  'arn:aws:iam::111122223333:role/ops/*',
  'arn:aws:iam::444455556666:user/*',
  'arn:aws:iam::111122223333:role/admin',
  'arn:aws-cn:iam::777788889999:role/*',
  'arn:aws*:iam::*:role/oncall*',
];
export const PRINCIPALS = [
  'arn:aws:iam::111122223333:role/dev-1',
  'arn:aws:iam::111122223333:role/admin',
  'arn:aws:iam::111122223333:role/ops/dev-2',
  'arn:aws:iam::111122223333:role/oncall-primary',
  'arn:aws:iam::444455556666:user/bob',
  'arn:aws:iam::999999999999:role/dev-1',
  'arn:aws-cn:iam::777788889999:role/dev-1',
  'arn:aws-cn:iam::777788889999:role/oncall-cn',
];
const NAMESPACE_GLOBS = ['*', 'team-*', 'a', 'b', 'dev-*', 't*', 'team-a'];
export const NAMESPACES = [
  'team-a',
  'team-b',
  'team-*',
  'a',
  'b',
  'dev-x',
  'prod',
  '*',
  't*',
  'te*',
  'dev-*',
];

interface RuleDoc {
  id: string;
  clusters: string[];
  principals: string[];
  policies: string[];
  namespaces?: string[];
  clusterScope: boolean;
  maxDurationSeconds: number;
  breakGlassOnly: boolean;
}

const subset = <T>(items: readonly T[], min = 1) =>
  fc.subarray([...items], { minLength: min, maxLength: Math.min(items.length, 4) });

/** A valid rules file (YAML text), by construction: every rule grants something and names declared clusters. */
export const rulesYamlArb: fc.Arbitrary<string> = fc
  .record({
    clusters: subset(CLUSTERS),
    breakGlass: fc.record({
      minReasonLength: fc.integer({ min: 5, max: 40 }),
      maxDurationSeconds: fc.constantFrom(900, 3600),
    }),
    rules: fc.array(
      fc.record({
        clusterPick: fc.nat(),
        clusterGlob: fc.boolean(),
        principals: subset(PRINCIPAL_GLOBS),
        policies: subset(GRANTABLE),
        namespaces: fc.option(subset(NAMESPACE_GLOBS), { nil: undefined }),
        clusterScope: fc.boolean(),
        maxDurationSeconds: fc.constantFrom(60, 900, 3600, 28_800),
        breakGlassOnly: fc.boolean(),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  })
  .map(({ clusters, breakGlass, rules }) => {
    const doc = {
      version: 1,
      sources: ['com.example.ticketing'],
      clusters: clusters.map((c) => ({ ...c })),
      breakGlass,
      rules: rules.map((r, i): RuleDoc => {
        const cluster = clusters[r.clusterPick % clusters.length] ?? clusters[0];
        const name = cluster?.name ?? 'demo';
        return {
          id: `rule-${i}`,
          clusters: [r.clusterGlob ? `${name.slice(0, 3)}*` : name],
          principals: r.principals,
          policies: r.policies,
          ...(r.namespaces ? { namespaces: r.namespaces } : {}),
          // A rule must grant something.
          clusterScope: r.clusterScope || r.namespaces === undefined,
          maxDurationSeconds: r.breakGlassOnly
            ? Math.min(r.maxDurationSeconds, breakGlass.maxDurationSeconds)
            : r.maxDurationSeconds,
          breakGlassOnly: r.breakGlassOnly,
        };
      }),
    };
    return stringify(doc);
  });

/** A grant request's detail, often but not always within what some rule allows. */
export const grantDetailArb = fc.record({
  clusterName: fc.constantFrom<string>('demo', 'prod-eu', 'prod-cn', 'other'),
  principalArn: fc.constantFrom(...PRINCIPALS),
  policy: fc.constantFrom(...GRANTABLE),
  fullArn: fc.constantFrom('none', 'aws', 'aws-cn'),
  scope: fc.oneof(
    fc.constant({ type: 'cluster' as const }),
    subset(NAMESPACES).map((namespaces) => ({ type: 'namespace' as const, namespaces })),
  ),
  durationSeconds: fc.oneof(fc.constantFrom(30, 60, 900, 3600, 28_800), fc.integer({ min: 1, max: 40_000 })),
  breakGlass: fc.boolean(),
  reason: fc.constantFrom('short', 'incident INC-7: the API server is down and paging'),
});

export type GrantDetail = typeof grantDetailArb extends fc.Arbitrary<infer T> ? T : never;

export function grantEnvelope(detail: GrantDetail, requestId: string): Record<string, unknown> {
  const policyArn =
    detail.fullArn === 'none'
      ? detail.policy
      : `arn:${detail.fullArn}:eks::aws:cluster-access-policy/${detail.policy}`;
  return {
    source: 'com.example.ticketing',
    'detail-type': 'Access Grant Requested',
    detail: {
      requestId,
      clusterName: detail.clusterName,
      principalArn: detail.principalArn,
      policyArn,
      accessScope: detail.scope,
      durationSeconds: detail.durationSeconds,
      requestedBy: 'alice@example.com',
      reason: detail.reason,
      breakGlass: detail.breakGlass,
    },
  };
}

/** `*` matches any run of characters (slashes and colons too); everything else matches itself. */
function globRegExp(glob: string): RegExp {
  const escaped = glob.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`, 's');
}

/** Names a requested namespace stands for: itself, or for `p*` a spread of names starting with p. */
function witnesses(namespace: string): string[] {
  if (!namespace.endsWith('*')) return [namespace];
  const p = namespace.slice(0, -1);
  return ['', 'a', 'z', '0', '-', 'x-y', 'team-a', 'ab', 'zz-9'].map((suffix) => `${p}${suffix}`);
}

function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/** Why `rule` does not allow `request` under `rules`, or undefined when it does. */
export function oracleRefusal(
  rules: AccessRules,
  rule: AccessRule,
  request: GrantRequest,
): string | undefined {
  if (!rules.sources.includes(request.source)) return 'source';
  const cluster = rules.clusters.find((c) => c.name === request.clusterName);
  if (!cluster) return 'cluster not declared';
  const partition = partitionOf(cluster.region);
  if (!request.principalArn.startsWith(`arn:${partition}:`)) return 'principal partition';
  const policyMatch = /^arn:([^:]+):eks::aws:cluster-access-policy\/(.+)$/.exec(request.policyArn);
  if (!policyMatch || policyMatch[1] !== partition) return 'policy partition';
  const policy = policyMatch[2] ?? '';
  if (!rule.clusters.some((glob) => globRegExp(glob).test(request.clusterName))) return 'cluster';
  if (!rule.principals.some((glob) => globRegExp(glob).test(request.principalArn))) return 'principal';
  if (!(rule.policies as readonly string[]).includes(policy)) return 'policy';
  if (request.accessScope.type === 'cluster') {
    if (!rule.clusterScope) return 'cluster scope';
  } else {
    const globs = (rule.namespaces ?? []).map(globRegExp);
    for (const namespace of request.accessScope.namespaces) {
      for (const name of witnesses(namespace)) {
        if (!globs.some((glob) => glob.test(name))) return `namespace ${namespace} (stands for ${name})`;
      }
    }
  }
  if (rule.breakGlassOnly !== request.breakGlass) return 'break-glass mode';
  if (
    request.breakGlass &&
    request.reason.length < (rules.breakGlass?.minReasonLength ?? Number.POSITIVE_INFINITY)
  ) {
    return 'break-glass reason';
  }
  const cap = rule.breakGlassOnly
    ? Math.min(rule.maxDurationSeconds, rules.breakGlass?.maxDurationSeconds ?? 0)
    : rule.maxDurationSeconds;
  if (request.durationSeconds > cap) return 'duration';
  return undefined;
}

/** The longest a lease of `rule` may last in all, extensions included. */
export function ruleCap(rules: AccessRules, rule: AccessRule): number {
  return rule.breakGlassOnly
    ? Math.min(rule.maxDurationSeconds, rules.breakGlass?.maxDurationSeconds ?? 0)
    : rule.maxDurationSeconds;
}

/**
 * Requests aimed at `rules`: half near one of its rules (everything that rule allows, then one field changed
 * or none), half anything at all; so that both sides of every condition are tried.
 */
export function requestsFor(rules: AccessRules): fc.Arbitrary<GrantDetail> {
  const near = fc
    .record({ rule: fc.constantFrom(...rules.rules), change: fc.nat({ max: 9 }), other: grantDetailArb })
    .map(({ rule, change, other }): GrantDetail => {
      const cluster =
        rules.clusters.find((c) => rule.clusters.some((glob) => globRegExp(glob).test(c.name))) ??
        rules.clusters[0];
      const partition = partitionOf(cluster?.region ?? 'us-east-1');
      const principalArn =
        PRINCIPALS.find(
          (p) =>
            p.startsWith(`arn:${partition}:`) && rule.principals.some((glob) => globRegExp(glob).test(p)),
        ) ?? other.principalArn;
      const namespaces = (rule.namespaces ?? []).map((glob, i) =>
        i % 2 === 0 ? glob : glob.replace('*', 'x'),
      );
      const detail: GrantDetail = {
        clusterName: cluster?.name ?? 'demo',
        principalArn,
        policy: rule.policies[change % rule.policies.length] ?? 'AmazonEKSViewPolicy',
        fullArn: partition === 'aws' ? 'none' : 'aws-cn',
        scope:
          rule.clusterScope || namespaces.length === 0
            ? { type: 'cluster' }
            : { type: 'namespace', namespaces },
        durationSeconds: Math.min(ruleCap(rules, rule), other.durationSeconds),
        breakGlass: rule.breakGlassOnly,
        reason: 'incident INC-7: the API server is down and paging',
      };
      switch (change) {
        case 0:
          return { ...detail, clusterName: other.clusterName };
        case 1:
          return { ...detail, principalArn: other.principalArn };
        case 2:
          return { ...detail, policy: other.policy, fullArn: other.fullArn };
        case 3:
          return { ...detail, scope: other.scope };
        case 4:
          return { ...detail, durationSeconds: other.durationSeconds };
        case 5:
          return { ...detail, breakGlass: !detail.breakGlass };
        case 6:
          return { ...detail, reason: 'short' };
        default:
          return detail;
      }
    });
  return fc.oneof(near, grantDetailArb);
}
