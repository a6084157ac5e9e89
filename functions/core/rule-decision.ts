/**
 * Answers a grant request against the access rules (rules.ts validates them), for the integration it came
 * through: allowed by the first rule of that integration's ceiling in file order, or refused with the reason
 * that tells the requester what to change.
 */
import { policyName, policyPartition } from './access-policies';
import { globMatch, namespaceCovered } from './glob';
import { sameRole } from './integrations';
import type { Caller, GrantRequest, Rejection } from './model';
import type { AccessRule, AccessRules, ClusterConfig, Integration } from './rules';
import { TICKET_EVENT_SOURCE } from './tickets/ticket-event';

export type Decision =
  | {
      readonly allowed: true;
      readonly rule: AccessRule;
      readonly maxDurationSeconds: number;
      readonly cluster: ClusterConfig;
    }
  | { readonly allowed: false; readonly rejection: Rejection };

export function clusterConfig(rules: AccessRules, name: string): ClusterConfig | undefined {
  return rules.clusters.find((cluster) => cluster.name === name);
}

/** How far a rule got before it failed to match: the furthest miss explains a refusal best. */
const STAGE = {
  cluster: 0,
  principal: 1,
  policy: 2,
  scope: 3,
  mode: 4,
  reason: 5,
  duration: 6,
  proof: 7,
  self: 8,
} as const;
type Stage = (typeof STAGE)[keyof typeof STAGE];

interface Miss {
  readonly stage: Stage;
  readonly rule: AccessRule;
}

/**
 * Decides a grant request that came through `caller`'s integration: the source must be one the integration
 * owns, break-glass and an unproven requester must be within what the integration may send, the cluster must
 * be known; then the first rule of the integration's ceiling in file order that allows it wins. When none
 * does, the refusal explains the closest miss (the rule that got furthest), so the requester learns what to
 * change: scope, break-glass, reason, duration, proof or beneficiary. Throws when the caller names an
 * integration the rules do not have: whoever built the caller took it from these rules, so that is a bug.
 */
export function evaluateGrant(rules: AccessRules, request: GrantRequest, caller: Caller): Decision {
  const integration = rules.integrations.find((candidate) => candidate.id === caller.integration);
  if (!integration) {
    throw new Error(`caller's integration ${JSON.stringify(caller.integration)} is not in ${rules.origin}`);
  }
  // Also checked when the request is parsed (contract.ts) and taken in on purpose: defence in depth. A webhook
  // integration's requests are made by the broker from the tickets it read back, under its own source.
  const sources = integration.webhook ? [TICKET_EVENT_SOURCE] : integration.sources;
  if (!sources.includes(request.source)) {
    return deny(
      'SOURCE_NOT_ALLOWED',
      `source ${JSON.stringify(request.source)} is not allowed for integration ${integration.id}`,
      'source',
    );
  }
  if (request.breakGlass && !integration.breakGlass) {
    return deny(
      'BREAK_GLASS_NOT_ALLOWED',
      `integration ${integration.id} may not send break-glass requests`,
      'detail.breakGlass',
    );
  }
  if (integration.requestedBy === 'read-back' && caller.readBack === undefined) {
    return deny(
      'PROOF_REQUIRED',
      `integration ${integration.id} acts only on tickets the broker read back from its vendor`,
    );
  }
  if (integration.requestedBy === 'proven' && caller.proven === undefined) {
    return deny(
      'PROOF_REQUIRED',
      `integration ${integration.id} requires the requester's proof (a presigned sts:GetCallerIdentity) on every request`,
    );
  }
  const cluster = clusterConfig(rules, request.clusterName);
  if (!cluster) {
    return deny(
      'UNKNOWN_CLUSTER',
      `cluster ${JSON.stringify(request.clusterName)} is not managed by the broker`,
      'detail.clusterName',
    );
  }
  if (!request.principalArn.startsWith(`arn:${cluster.partition}:`)) {
    return deny(
      'INVALID_FIELD',
      `principal must be in partition ${cluster.partition}, the partition of cluster ${cluster.name} (${cluster.region})`,
      'detail.principalArn',
    );
  }
  const policy = policyName(request.policyArn);
  if (policyPartition(request.policyArn) !== cluster.partition) {
    return deny(
      'INVALID_FIELD',
      `cluster ${cluster.name} is in partition ${cluster.partition}: use the full ARN arn:${cluster.partition}:eks::aws:cluster-access-policy/${policy ?? '<name>'}`,
      'detail.policyArn',
    );
  }

  let closest: Miss | undefined;
  for (const rule of rules.rules) {
    if (!integration.rules.includes(rule.id)) continue;
    const stage = missedStage(rules, rule, request, caller, policy);
    if (stage === undefined) {
      const cap =
        rule.breakGlassOnly && rules.breakGlass
          ? Math.min(rule.maxDurationSeconds, rules.breakGlass.maxDurationSeconds)
          : rule.maxDurationSeconds;
      return { allowed: true, rule, maxDurationSeconds: cap, cluster };
    }
    // Among rules that fail only on duration, the most generous one tells the requester what is possible.
    const moreGenerous =
      stage === closest?.stage &&
      stage === STAGE.duration &&
      rule.maxDurationSeconds > closest.rule.maxDurationSeconds;
    if (!closest || stage > closest.stage || moreGenerous) {
      closest = { stage, rule };
    }
  }
  return {
    allowed: false,
    rejection: explain(rules, integration, request, caller, policy ?? request.policyArn, closest),
  };
}

function missedStage(
  rules: AccessRules,
  rule: AccessRule,
  request: GrantRequest,
  caller: Caller,
  policy: string | undefined,
): Stage | undefined {
  if (!rule.clusters.some((pattern) => globMatch(pattern, request.clusterName))) return STAGE.cluster;
  if (!rule.principals.some((pattern) => globMatch(pattern, request.principalArn))) return STAGE.principal;
  if (policy === undefined || !(rule.policies as readonly string[]).includes(policy)) return STAGE.policy;
  if (!scopeAllowed(rule, request)) return STAGE.scope;
  if (rule.breakGlassOnly !== request.breakGlass) return STAGE.mode;
  if (
    request.breakGlass &&
    request.reason.length < (rules.breakGlass?.minReasonLength ?? Number.POSITIVE_INFINITY)
  ) {
    return STAGE.reason;
  }
  if (request.durationSeconds > rule.maxDurationSeconds) return STAGE.duration;
  if ((rule.requireProof || rule.self) && caller.proven === undefined) return STAGE.proof;
  if (rule.self && !sameRole(request.principalArn, caller.proven ?? '')) return STAGE.self;
  return undefined;
}

function scopeAllowed(rule: AccessRule, request: GrantRequest): boolean {
  const scope = request.accessScope;
  if (scope.type === 'cluster') return rule.clusterScope;
  const globs = rule.namespaces;
  return globs !== undefined && scope.namespaces.every((namespace) => namespaceCovered(namespace, globs));
}

function explain(
  rules: AccessRules,
  integration: Integration,
  request: GrantRequest,
  caller: Caller,
  policy: string,
  miss: Miss | undefined,
): Rejection {
  const what = `${policy} for ${request.principalArn} on cluster ${request.clusterName}`;
  if (!miss || miss.stage < STAGE.scope) {
    return { code: 'NOT_ALLOWED', reason: `no rule of integration ${integration.id} allows ${what}` };
  }
  const { rule } = miss;
  switch (miss.stage) {
    case STAGE.scope: {
      const asked =
        request.accessScope.type === 'cluster'
          ? 'at cluster scope'
          : `in namespaces ${request.accessScope.namespaces.join(', ')}`;
      const offered = [
        ...(rule.clusterScope ? ['at cluster scope'] : []),
        ...(rule.namespaces ? [`in namespaces matching ${rule.namespaces.join(', ')}`] : []),
      ].join(' or ');
      return {
        code: 'NOT_ALLOWED',
        field: 'detail.accessScope',
        reason: `no rule allows ${what} ${asked} (rule ${rule.id} allows it only ${offered})`,
      };
    }
    case STAGE.mode:
      return request.breakGlass
        ? {
            code: 'NOT_ALLOWED',
            field: 'detail.breakGlass',
            reason: `no break-glass rule allows ${what}; rule ${rule.id} allows it as a normal request (without breakGlass)`,
          }
        : {
            code: 'BREAK_GLASS_REQUIRED',
            field: 'detail.breakGlass',
            reason: `only break-glass rule ${rule.id} allows ${what}: send it as a break-glass request (breakGlass: true)`,
          };
    case STAGE.proof:
      return {
        code: 'PROOF_REQUIRED',
        reason: `rule ${rule.id} allows ${what} only with the requester's proof (a presigned sts:GetCallerIdentity)`,
      };
    case STAGE.self:
      return {
        code: 'NOT_SELF',
        field: 'detail.principalArn',
        reason: `rule ${rule.id} allows ${policy} on cluster ${request.clusterName} only to the requester: ${caller.proven ?? 'nobody'} was proven, not ${request.principalArn}`,
      };
    case STAGE.reason:
      return {
        code: 'BREAK_GLASS_REASON_REQUIRED',
        field: 'detail.reason',
        reason: `a break-glass request needs a reason of at least ${rules.breakGlass?.minReasonLength ?? 0} characters (got ${request.reason.length})`,
      };
    default:
      return {
        code: 'DURATION_TOO_LONG',
        field: 'detail.durationSeconds',
        reason: `rule ${rule.id} allows ${what} for at most ${rule.maxDurationSeconds} seconds (${humanDuration(rule.maxDurationSeconds)}); ${request.durationSeconds} requested`,
      };
  }
}

function deny(code: Rejection['code'], reason: string, field?: string): Decision {
  return { allowed: false, rejection: { code, reason, ...(field ? { field } : {}) } };
}

function humanDuration(seconds: number): string {
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  const parts = [hours ? `${hours} h` : '', minutes ? `${minutes} min` : '', rest ? `${rest} s` : ''];
  return parts.filter(Boolean).join(' ');
}
