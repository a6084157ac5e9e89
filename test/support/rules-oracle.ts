/**
 * Generated access-rules files, grant requests and the callers they come from, and an oracle that decides
 * independently of functions/core (rules.ts, rule-decision.ts, integrations.ts) whether a request from a
 * caller is allowed, and by which rule: globs become regular expressions, a requested namespace wildcard is
 * checked against witnesses (names it stands for), an assumed-role session is matched to its role by a regular
 * expression, and every condition of the rule format and of integrations is restated from its documentation.
 * Used to show that evaluateGrant decides exactly as the documentation says.
 */
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import type { Caller, GrantRequest, RejectionCode } from '../../functions/core/model';
import type { AccessRule, AccessRules, Integration } from '../../functions/core/rules';

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

/** The queue integration every generated file has: its role sends on the requests queue. */
export const QUEUE_ROLE = 'arn:aws:iam::111122223333:role/guard-queue';
/** The SQS sender id (role id part) of QUEUE_ROLE. */
export const QUEUE_ROLE_ID = 'AROAGUARDQUEUE01';
const QUEUE_SOURCE = 'com.example.ticketing';
/** Principals of the other integrations (not on the queue, so globs are fine; each names its account). */
const INTEGRATION_PRINCIPALS = [
  'arn:aws:iam::111122223333:role/dev-*',
  'arn:aws:iam::111122223333:role/oncall-*',
  'arn:aws:iam::444455556666:role/bridge',
];
const MAX_RULES = 4;

interface RuleDoc {
  id: string;
  clusters: string[];
  principals: string[];
  policies: string[];
  namespaces?: string[];
  clusterScope: boolean;
  maxDurationSeconds: number;
  breakGlassOnly: boolean;
  requireProof?: boolean;
  self?: boolean;
}

interface IntegrationDoc {
  id: string;
  principals: string[];
  sources: string[];
  queue?: boolean;
  rules: string[];
  breakGlass?: boolean;
  requestedBy: 'asserted' | 'proven';
}

/** What a rule says about proof: nothing (the defaults), or explicit values (self only with proof). */
const PROOF_CHOICES = ['default', 'none', 'proof', 'self'] as const;

function proofKeys(choice: (typeof PROOF_CHOICES)[number]): Pick<RuleDoc, 'requireProof' | 'self'> {
  switch (choice) {
    case 'default':
      return {};
    case 'none':
      return { requireProof: false, self: false };
    case 'proof':
      return { requireProof: true, self: false };
    default:
      return { requireProof: true, self: true };
  }
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
        // One rule in three is break-glass: enough of both, without refusing most requests for their mode.
        breakGlassOnly: fc.nat({ max: 2 }).map((n) => n === 0),
        proof: fc.constantFrom(...PROOF_CHOICES),
      }),
      { minLength: 1, maxLength: MAX_RULES },
    ),
    integrations: fc.array(
      fc.record({
        principals: subset(INTEGRATION_PRINCIPALS),
        ceiling: fc.array(fc.boolean(), { minLength: MAX_RULES, maxLength: MAX_RULES }),
        // Absent (the default, false) sometimes; allowed more often than not, so break-glass rules get tried.
        breakGlass: fc.constantFrom(undefined, true, true, false),
        requestedBy: fc.constantFrom<'asserted' | 'proven'>('asserted', 'asserted', 'proven'),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  })
  .map(({ clusters, breakGlass, rules, integrations }) => {
    const ruleIds = rules.map((_, i) => `rule-${i}`);
    const doc = {
      version: 2,
      clusters: clusters.map((c) => ({ ...c })),
      breakGlass,
      // The first one is the queue integration; the others own a source each and send on the bus only.
      integrations: integrations.map(
        (integration, i): IntegrationDoc => ({
          id: i === 0 ? 'queue' : `int-${i}`,
          principals: i === 0 ? [QUEUE_ROLE] : integration.principals,
          sources: [i === 0 ? QUEUE_SOURCE : `com.example.int-${i}`],
          ...(i === 0 ? { queue: true } : {}),
          rules: ruleIds.filter((_, r) => integration.ceiling[r]),
          ...(integration.breakGlass === undefined ? {} : { breakGlass: integration.breakGlass }),
          requestedBy: integration.requestedBy,
        }),
      ),
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
          ...proofKeys(r.proof),
        };
      }),
    };
    return stringify(doc);
  });

/**
 * A generated file made for the end-to-end run, where requests come on the queue without proofs: its queue
 * integration may use every rule, asserted, break-glass included, and no rule asks for a proof, so the run
 * exercises what the rules grant rather than what the trust boundary refuses (the property covers that).
 */
export function openToQueue(yamlText: string): string {
  const doc = parse(yamlText) as { rules: RuleDoc[]; integrations: IntegrationDoc[] };
  const [queue, ...others] = doc.integrations;
  if (!queue) return yamlText;
  return stringify({
    ...doc,
    integrations: [
      {
        ...queue,
        rules: doc.rules.map((rule) => rule.id),
        breakGlass: true,
        requestedBy: 'asserted',
      },
      ...others,
    ],
    rules: doc.rules.map((rule) => ({ ...rule, requireProof: false, self: false })),
  });
}

/**
 * The flags the documentation promises for a rules file's text, read from the YAML itself (not through
 * functions/core): requireProof and self default to breakGlassOnly, queue and breakGlass to false, and the
 * accepted sources are the integrations' sources in file order.
 */
export function documentedFlags(yamlText: string): {
  readonly sources: string[];
  readonly rules: { id: string; requireProof: boolean; self: boolean }[];
  readonly integrations: { id: string; queue: boolean; breakGlass: boolean }[];
} {
  const doc = parse(yamlText) as { rules: RuleDoc[]; integrations: IntegrationDoc[] };
  return {
    sources: doc.integrations.flatMap((integration) => integration.sources),
    rules: doc.rules.map((rule) => ({
      id: rule.id,
      requireProof: rule.requireProof ?? rule.breakGlassOnly,
      self: rule.self ?? rule.breakGlassOnly,
    })),
    integrations: doc.integrations.map((integration) => ({
      id: integration.id,
      queue: integration.queue ?? false,
      breakGlass: integration.breakGlass ?? false,
    })),
  };
}

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

export function grantEnvelope(
  detail: GrantDetail,
  requestId: string,
  source = QUEUE_SOURCE,
): Record<string, unknown> {
  const policyArn =
    detail.fullArn === 'none'
      ? detail.policy
      : `arn:${detail.fullArn}:eks::aws:cluster-access-policy/${detail.policy}`;
  return {
    source,
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

/**
 * Whether the requester STS vouched for is the beneficiary: an assumed-role session
 * `arn:P:sts::A:assumed-role/NAME/SESSION` stands for the role `arn:P:iam::A:role/<any path>/NAME`; an IAM
 * user is itself.
 */
function provenIsBeneficiary(proven: string, beneficiary: string): boolean {
  const session = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(proven);
  if (session) {
    const [, partition, account, name] = session;
    return new RegExp(
      `^arn:${partition}:iam::${account}:role/(?:[^:]*/)?${name?.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`,
    ).test(beneficiary);
  }
  return /^arn:[^:]+:iam::\d{12}:user\//.test(proven) && proven === beneficiary;
}

/** Why the caller's integration refuses the request before any rule, with the code the documentation gives. */
function integrationRefusal(
  integration: Integration,
  request: GrantRequest,
  caller: Caller,
): { readonly why: string; readonly code: RejectionCode } | undefined {
  if (!integration.sources.includes(request.source)) return { why: 'source', code: 'SOURCE_NOT_ALLOWED' };
  if (request.breakGlass && !integration.breakGlass) {
    return { why: 'integration break-glass', code: 'BREAK_GLASS_NOT_ALLOWED' };
  }
  if (integration.requestedBy === 'proven' && caller.proven === undefined) {
    return { why: 'integration proof', code: 'PROOF_REQUIRED' };
  }
  return undefined;
}

/** Why the request is refused whatever the rule (its cluster, its ARNs' partitions), or undefined. */
function requestRefusal(
  rules: AccessRules,
  request: GrantRequest,
): { readonly why: string; readonly code: RejectionCode } | undefined {
  const cluster = rules.clusters.find((c) => c.name === request.clusterName);
  if (!cluster) return { why: 'cluster not declared', code: 'UNKNOWN_CLUSTER' };
  const partition = partitionOf(cluster.region);
  if (!request.principalArn.startsWith(`arn:${partition}:`)) {
    return { why: 'principal partition', code: 'INVALID_FIELD' };
  }
  const policyMatch = /^arn:([^:]+):eks::aws:cluster-access-policy\/(.+)$/.exec(request.policyArn);
  if (!policyMatch || policyMatch[1] !== partition) return { why: 'policy partition', code: 'INVALID_FIELD' };
  return undefined;
}

function integrationOf(rules: AccessRules, caller: Caller): Integration {
  const integration = rules.integrations.find((candidate) => candidate.id === caller.integration);
  if (!integration) throw new Error(`oracle: no integration ${caller.integration}`);
  return integration;
}

/** Why `rule` does not allow `request` from `caller` under `rules`, or undefined when it does. */
export function oracleRefusal(
  rules: AccessRules,
  rule: AccessRule,
  request: GrantRequest,
  caller: Caller,
): string | undefined {
  const integration = integrationOf(rules, caller);
  const refused = integrationRefusal(integration, request, caller) ?? requestRefusal(rules, request);
  if (refused) return refused.why;
  if (!integration.rules.includes(rule.id)) return 'outside the ceiling';
  const policy = /\/([^/]+)$/.exec(request.policyArn)?.[1] ?? '';
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
  if (
    rule.self &&
    !(caller.proven !== undefined && provenIsBeneficiary(caller.proven, request.principalArn))
  ) {
    return 'self';
  }
  if (rule.requireProof && caller.proven === undefined) return 'proof';
  return undefined;
}

export type OracleDecision =
  | { readonly allowed: true; readonly ruleId: string }
  /** `code`: the code of a refusal before any rule is tried; absent when every rule of the ceiling refused. */
  | { readonly allowed: false; readonly code?: RejectionCode };

/** The oracle's own decision: the first rule of the caller's ceiling, in file order, that allows the request. */
export function oracleDecision(rules: AccessRules, request: GrantRequest, caller: Caller): OracleDecision {
  const integration = integrationOf(rules, caller);
  const refused = integrationRefusal(integration, request, caller) ?? requestRefusal(rules, request);
  if (refused) return { allowed: false, code: refused.code };
  const rule = rules.rules.find(
    (candidate) => oracleRefusal(rules, candidate, request, caller) === undefined,
  );
  return rule ? { allowed: true, ruleId: rule.id } : { allowed: false };
}

/** The ARN STS answers for the beneficiary itself: its role's session, or the user. */
export function provenAs(principalArn: string): string {
  const role = /^arn:([^:]+):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(principalArn);
  return role ? `arn:${role[1]}:sts::${role[2]}:assumed-role/${role[3]}/guardrails` : principalArn;
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
export function requestsFor(
  rules: AccessRules,
  near: readonly AccessRule[] = rules.rules,
): fc.Arbitrary<GrantDetail> {
  if (near.length === 0) return grantDetailArb;
  const nearRule = fc
    .record({ rule: fc.constantFrom(...near), change: fc.nat({ max: 9 }), other: grantDetailArb })
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
  return fc.oneof(nearRule, grantDetailArb);
}

/** A grant request and who sent it. */
export interface Attempt {
  readonly detail: GrantDetail;
  readonly source: string;
  readonly caller: Caller;
}

/**
 * Attempts through the integrations of `rules`: mostly near a rule of the caller's ceiling, through its own
 * source, sometimes through another integration's source; proven as the beneficiary, as someone else, or not.
 */
export function attemptsFor(rules: AccessRules): fc.Arbitrary<Attempt> {
  return fc.constantFrom(...rules.integrations).chain((integration) =>
    fc
      .record({
        detail: requestsFor(
          rules,
          rules.rules.filter((rule) => integration.rules.includes(rule.id)),
        ),
        foreign: fc.constantFrom(...rules.sources, 'com.example.nobody'),
        useForeign: fc.nat({ max: 5 }),
        proof: fc.constantFrom('none', 'none', 'beneficiary', 'beneficiary', 'someone else'),
      })
      .map(({ detail, foreign, useForeign, proof }): Attempt => {
        const own = integration.sources[0] ?? QUEUE_SOURCE;
        const source = useForeign === 0 ? foreign : own;
        const proven =
          proof === 'none'
            ? undefined
            : proof === 'beneficiary'
              ? provenAs(detail.principalArn)
              : 'arn:aws:sts::111122223333:assumed-role/someone-else/guardrails';
        return {
          detail,
          source,
          caller: {
            integration: integration.id,
            sender: integration.queue ? QUEUE_ROLE : `111122223333:${source}`,
            ...(proven === undefined ? {} : { proven }),
          },
        };
      }),
  );
}
