/**
 * Access rules (guardrails), deny by default: who may get which access policy, on which cluster, in which
 * namespaces, for how long. The file is reviewed like code, validated when the stack is packaged and again at
 * every cold start; any problem in it stops both with every problem listed, because a half-understood rule
 * file is a security hole.
 *
 * People write the file in YAML (functions/config/access-rules-yaml.ts reads it); the functions receive the
 * same document as JSON, compiled at package time, so no YAML parser ships in a Lambda bundle. This module
 * validates the document, whatever text it came from; rule-decision.ts answers requests against it.
 *
 * Format (shown in YAML), see infra/access-rules.yaml for a commented example:
 *
 *   version: 2                          # required; a version 1 file is refused with how to migrate
 *   clusters:                           # the clusters the broker manages (1+); requests name one of these
 *     - name: demo                      # the EKS cluster name, unique
 *       region: us-east-1
 *       accountId: '111122223333'       # quoted: YAML reads bare digits as a number and drops leading zeros
 *       roleArn: arn:aws:iam::444455556666:role/eks-access-broker   # optional: assumed for a cross-account cluster
 *   breakGlass:                         # required when a rule is breakGlassOnly
 *     minReasonLength: 20               # a break-glass request must explain itself
 *     maxDurationSeconds: 3600          # no breakGlassOnly rule may allow more
 *   integrations:                       # who may ask (1+): a request is trusted for what its integration may ask
 *     - id: ticketing                   # unique, same characters as a rule id; recorded on every lease
 *       description: Jira relays approved tickets   # optional
 *       principals:                     # IAM role or user ARNs allowed to send for it; each names its account
 *         - arn:aws:iam::111122223333:role/ticketing-integration   # globs (`*`) only when queue is false
 *       sources: [com.example.ticketing]   # EventBridge sources it owns (1+), each owned by one integration
 *       queue: true                     # optional (default false): may send on the requests queue
 *       rules: [developers]             # its ceiling: the rules it may use, in any order ([]: refuses every grant)
 *       breakGlass: false               # optional (default false): may send break-glass requests
 *       requestedBy: asserted           # asserted: a system relaying its user; proven: every request carries
 *                                       # the requester's STS proof; read-back: webhook integrations only
 *     - id: jira                        # a webhook integration (URL path /webhooks/<id>): no principals, sources
 *       requestedBy: read-back          # or queue (absent or empty); the broker reads each ticket back
 *       rules: [developers]
 *       webhook:                        # functions/core/tickets/config.ts documents each field
 *         vendor: jira                  # exactly these keys (optional: statuses.extend, approverGroup,
 *         secret: /eks-access-broker/jira/webhook-secret   # fields.namespaces, fields.extensionHours, owners)
 *         url: https://example.atlassian.net   # https; http only for 127.0.0.1 or localhost
 *         user: eks-access-broker@example.com
 *         token: /eks-access-broker/jira/api-token   # secrets: an SSM name (/...) or secretsmanager:<name|ARN>
 *         projects: [ACCESS]
 *         statuses: { approved: [Approved], closed: [Done], extend: [Extension Approved] }   # each status in one
 *         approverGroup: eks-access-approvers
 *         fields: { cluster: customfield_10100, principal: customfield_10101, policy: customfield_10102,
 *                   namespaces: customfield_10103, durationHours: customfield_10104,
 *                   extensionHours: customfield_10105 }   # extensionHours: required with statuses.extend
 *         owners: [{ principal: 'arn:aws:iam::111122223333:role/dev-*', accountIds: ['712020:...'] }]
 *     - id: pagerduty
 *       requestedBy: read-back
 *       breakGlass: true                # required: its grants are break-glass
 *       rules: [oncall-admin]
 *       webhook:
 *         vendor: pagerduty             # exactly these keys, all required
 *         secret: /eks-access-broker/pagerduty/webhook-secret
 *         url: https://api.pagerduty.com
 *         token: /eks-access-broker/pagerduty/api-key
 *         from: eks-access-broker@example.com
 *         services: [{ id: PSVC001, cluster: demo }]   # each cluster declared under clusters
 *         users: [{ id: PUSR0AL, principal: arn:aws:iam::111122223333:role/oncall-alice }]   # role ARNs
 *         policy: AmazonEKSClusterAdminPolicy   # a name or full ARN, grantable policies only
 *         durationSeconds: 3600         # at most breakGlass.maxDurationSeconds
 *   rules:                              # tried in file order; the first rule of the ceiling that allows wins
 *     - id: developers                  # unique; recorded on every lease the rule allowed
 *       description: Developers read and edit workloads   # optional
 *       clusters: [demo]                # names or globs (`*` matches any characters); each must match a cluster
 *       principals:                     # IAM role or user ARN globs; `*` matches any characters, `/` included
 *         - arn:aws:iam::111122223333:role/*
 *       policies: [AmazonEKSViewPolicy, AmazonEKSEditPolicy]   # names or full ARNs, grantable policies only
 *       namespaces: ['team-*']          # optional globs; absent: no namespace-scoped grants
 *       clusterScope: false             # optional (default false): may grant cluster-wide
 *       maxDurationSeconds: 28800       # longest lease, extensions included
 *       breakGlassOnly: false           # optional (default false): only break-glass requests, and they only here
 *       requireProof: false             # optional (default: breakGlassOnly): the request must carry an STS proof;
 *                                       # false on a breakGlassOnly rule (with self: false) for a webhook
 *                                       # integration's ceiling, whose read-back binds the person instead
 *       self: false                     # optional (default: breakGlassOnly): the beneficiary must be the proven
 *                                       # requester; needs requireProof
 *
 * The EventBridge sources the broker accepts (AccessRules.sources) are the integrations' sources, in file order.
 * A rule must grant something: clusterScope true, or namespaces. Unknown keys anywhere are errors. The schemas
 * of each entry are in rules-schema.ts; this module adds the checks across entries (rules-webhooks.ts those of a
 * webhook integration).
 */
import type * as z from 'zod';
import type { GrantablePolicyName, PARTITIONS } from './access-policies';
import { ConfigurationError } from './errors';
import { globMatch } from './glob';
import { fieldOf, own, reportDuplicates } from './rules-fields';
import {
  BreakGlassSchema,
  CLUSTER_GLOB,
  ClusterSchema,
  IntegrationSchema,
  principalGlobProblem,
  RootSchema,
  RULE_ID,
  RuleSchema,
  WebhookIntegrationSchema,
} from './rules-schema';
import { checkWebhook } from './rules-webhooks';
import type { WebhookConfig } from './tickets/config';
import {
  deepFreeze,
  describeIssues,
  type FieldProblem,
  formatPath,
  isRecord,
  MISSING_IS_REQUIRED,
} from './validation';

export interface ClusterConfig {
  readonly name: string;
  readonly region: string;
  readonly accountId: string;
  /** Role the broker assumes to manage a cluster in another account; absent: its own credentials. */
  readonly roleArn?: string;
  /** Derived from the region: the partition of every ARN on this cluster (principals, policies). */
  readonly partition: string;
}

interface BreakGlassConfig {
  readonly minReasonLength: number;
  readonly maxDurationSeconds: number;
}

export interface AccessRule {
  readonly id: string;
  readonly description?: string;
  readonly clusters: readonly string[];
  readonly principals: readonly string[];
  /** Policy names (full ARNs in the file are reduced to their names; the partition comes from the cluster). */
  readonly policies: readonly GrantablePolicyName[];
  /** Namespace globs; absent: the rule allows no namespace-scoped grant. */
  readonly namespaces?: readonly string[];
  readonly clusterScope: boolean;
  readonly maxDurationSeconds: number;
  readonly breakGlassOnly: boolean;
  /** The request must carry the requester's STS proof (default: breakGlassOnly). */
  readonly requireProof: boolean;
  /** The beneficiary must be the proven requester (default: breakGlassOnly); implies requireProof. */
  readonly self: boolean;
}

/** A named producer of requests and its ceiling: what a request is trusted for, whatever its payload claims. */
export interface Integration {
  readonly id: string;
  readonly description?: string;
  /** IAM role or user ARNs allowed to send for it; exact ARNs when it uses the queue. Empty for a webhook. */
  readonly principals: readonly string[];
  /** The EventBridge sources it owns; no other integration owns them. Empty for a webhook. */
  readonly sources: readonly string[];
  /** May send on the requests queue (never a webhook integration: the broker's webhook function queues for it). */
  readonly queue: boolean;
  /** Ids of the rules it may use (its ceiling); only these decide its requests. */
  readonly rules: readonly string[];
  /** May send break-glass requests. */
  readonly breakGlass: boolean;
  /**
   * asserted: a system relaying its user; proven: every request carries the requester's STS proof; read-back
   * (webhook integrations only): the broker read the ticket back from its vendor and took the request from it.
   */
  readonly requestedBy: 'asserted' | 'proven' | 'read-back';
  /** A ticketing or paging system whose webhooks the broker takes as hints (requestedBy is read-back). */
  readonly webhook?: WebhookConfig;
}

export interface AccessRules {
  readonly version: 2;
  /** Where the rules came from (a path), for messages. */
  readonly origin: string;
  /**
   * Derived: every integration's sources, in file order (the EventBridge pattern and the contract's allow-list);
   * webhook integrations own none.
   */
  readonly sources: readonly string[];
  readonly clusters: readonly ClusterConfig[];
  readonly breakGlass?: BreakGlassConfig;
  readonly integrations: readonly Integration[];
  readonly rules: readonly AccessRule[];
}

/** The one problem of a version 1 file: everything else about it would be noise until it is migrated. */
const VERSION_1_PROBLEM =
  'version 1 is no longer read: set version: 2 and replace the top-level sources with an integrations list, ' +
  'one entry per producer of requests (id, principals: the IAM roles that send for it, sources: move yours ' +
  'here, rules: the rule ids it may use, requestedBy: asserted or proven; optional queue, breakGlass, ' +
  'description); see infra/access-rules.yaml and functions/core/rules.ts';

/**
 * Validates a rules document (the file's content as plain data: mappings, lists, strings, numbers). Throws
 * ConfigurationError listing every problem with its path (`rules[2].policies[0]: unknown access policy ...`);
 * `origin` names the file in that message. The result is deeply frozen.
 */
export function validateRules(document: unknown, origin: string): AccessRules {
  const problems: FieldProblem[] = [];
  const rules = validate(document, problems);
  if (!rules || problems.length > 0) {
    throw rulesError(
      origin,
      problems.map((problem) => `${problem.field || '(file)'}: ${problem.message}`),
    );
  }
  return deepFreeze({ ...rules, origin });
}

/**
 * Validates the document part by part, so that one bad entry does not hide the problems of the others: each
 * entry is checked against its schema, and the checks across entries (duplicates, undeclared clusters,
 * break-glass caps) read every field that is valid on its own, even in entries that have other problems.
 */
function validate(raw: unknown, problems: FieldProblem[]): Omit<AccessRules, 'origin'> | undefined {
  if (!isRecord(raw)) {
    problems.push({
      field: '',
      message: 'must be a mapping with version, clusters, integrations and rules',
    });
    return undefined;
  }
  if (own(raw, 'version') === 1) {
    problems.push({ field: 'version', message: VERSION_1_PROBLEM });
    return undefined;
  }
  const root = RootSchema.safeParse(raw, MISSING_IS_REQUIRED);
  if (!root.success) {
    problems.push(
      ...describeIssues(root.error.issues, []).map((problem) =>
        problem.field === 'sources' && problem.message === 'unknown field'
          ? {
              field: 'sources',
              message: 'unknown field: in version 2 each integration lists the sources it owns',
            }
          : problem,
      ),
    );
  }
  const list = (key: string): readonly unknown[] => {
    const value = own(raw, key);
    return Array.isArray(value) ? value : [];
  };
  const parse = <T>(schema: z.ZodType<T>, value: unknown, path: readonly PropertyKey[]): T | undefined => {
    const result = schema.safeParse(value, MISSING_IS_REQUIRED);
    if (result.success) return result.data;
    problems.push(...describeIssues(result.error.issues, path));
    return undefined;
  };

  const clusters = list('clusters').map((item, index): ClusterConfig | undefined => {
    const value = parse(ClusterSchema, item, ['clusters', index]);
    if (!value) return undefined;
    const cluster: ClusterConfig = { ...value, partition: partitionOfRegion(value.region) };
    if (value.roleArn !== undefined && !value.roleArn.startsWith(`arn:${cluster.partition}:`)) {
      problems.push({
        field: formatPath(['clusters', index, 'roleArn']),
        message: `must be in partition ${cluster.partition}, the partition of region ${value.region}`,
      });
    }
    return cluster;
  });
  reportDuplicates(
    list('clusters').map((item, index) => ({ key: own(item, 'name'), path: ['clusters', index, 'name'] })),
    'cluster name',
    problems,
  );
  const declared = new Set(list('clusters').flatMap((item) => fieldOf(ClusterSchema, item, 'name') ?? []));

  const rawBreakGlass = own(raw, 'breakGlass');
  const breakGlass =
    rawBreakGlass === undefined ? undefined : parse(BreakGlassSchema, rawBreakGlass, ['breakGlass']);

  const rules = list('rules').map((item, index): AccessRule | undefined => {
    const value = parse(RuleSchema, item, ['rules', index]);
    const at = (...path: PropertyKey[]) => formatPath(['rules', index, ...path]);
    const clusterPatterns = own(item, 'clusters');
    (Array.isArray(clusterPatterns) ? clusterPatterns : []).forEach((pattern: unknown, i) => {
      if (typeof pattern !== 'string' || !CLUSTER_GLOB.test(pattern)) return;
      if (!pattern.includes('*') && !declared.has(pattern)) {
        problems.push({
          field: at('clusters', i),
          message: `cluster ${JSON.stringify(pattern)} is not declared under clusters`,
        });
      } else if (pattern.includes('*') && ![...declared].some((name) => globMatch(pattern, name))) {
        problems.push({
          field: at('clusters', i),
          message: `glob ${JSON.stringify(pattern)} matches no declared cluster`,
        });
      }
    });
    const clusterScope = fieldOf(RuleSchema, item, 'clusterScope');
    const namespaces = own(item, 'namespaces');
    if (clusterScope === false && namespaces === undefined) {
      problems.push({ field: at(), message: 'grants nothing: set clusterScope: true, or list namespaces' });
    }
    const maxDurationSeconds = fieldOf(RuleSchema, item, 'maxDurationSeconds');
    if (fieldOf(RuleSchema, item, 'breakGlassOnly') === true) {
      if (rawBreakGlass === undefined) {
        problems.push({
          field: at('breakGlassOnly'),
          message: 'a breakGlassOnly rule needs the breakGlass section (minReasonLength, maxDurationSeconds)',
        });
      } else if (
        breakGlass &&
        maxDurationSeconds !== undefined &&
        maxDurationSeconds > breakGlass.maxDurationSeconds
      ) {
        problems.push({
          field: at('maxDurationSeconds'),
          message: `${maxDurationSeconds} is above breakGlass.maxDurationSeconds (${breakGlass.maxDurationSeconds}) for a breakGlassOnly rule`,
        });
      }
    }
    const breakGlassOnly = fieldOf(RuleSchema, item, 'breakGlassOnly');
    const requireProof = fieldOf(RuleSchema, item, 'requireProof') ?? breakGlassOnly;
    if (fieldOf(RuleSchema, item, 'self') ?? breakGlassOnly) {
      if (requireProof === false) {
        problems.push({
          field: at('self'),
          message:
            'a self rule needs requireProof: only a proven requester can be compared with the beneficiary (set requireProof: true, or self: false)',
        });
      }
    }
    if (!value) return undefined;
    return {
      id: value.id,
      ...(value.description === undefined ? {} : { description: value.description }),
      clusters: value.clusters,
      principals: value.principals,
      policies: [...new Set(value.policies)],
      ...(value.namespaces === undefined ? {} : { namespaces: value.namespaces }),
      clusterScope: value.clusterScope,
      maxDurationSeconds: value.maxDurationSeconds,
      breakGlassOnly: value.breakGlassOnly,
      requireProof: value.requireProof ?? value.breakGlassOnly,
      self: value.self ?? value.breakGlassOnly,
    };
  });
  reportDuplicates(
    list('rules').map((item, index) => ({ key: own(item, 'id'), path: ['rules', index, 'id'] })),
    'rule id',
    problems,
  );
  const ruleIds = new Set(list('rules').flatMap((item) => fieldOf(RuleSchema, item, 'id') ?? []));

  const context: IntegrationContext = { ruleIds, clusters: declared, breakGlass, parse, problems };
  const integrations = list('integrations').map((item, index) => validateIntegration(item, index, context));
  reportDuplicates(
    list('integrations').map((item, index) => ({
      key: own(item, 'id'),
      path: ['integrations', index, 'id'],
    })),
    'integration id',
    problems,
  );
  // A source owned twice would make the owner of an event ambiguous, and the bus policy with it.
  reportDuplicates(
    list('integrations').flatMap((item, index) => {
      const sources = own(item, 'sources');
      return (Array.isArray(sources) ? sources : []).map((key: unknown, i) => ({
        key,
        path: ['integrations', index, 'sources', i],
      }));
    }),
    'source',
    problems,
  );

  const valid = integrations.filter((integration) => integration !== undefined);
  return {
    version: 2,
    sources: valid.flatMap((integration) => integration.sources),
    clusters: clusters.filter((cluster) => cluster !== undefined),
    ...(breakGlass ? { breakGlass } : {}),
    integrations: valid,
    rules: rules.filter((rule) => rule !== undefined),
  };
}

type Parse = <T>(schema: z.ZodType<T>, value: unknown, path: readonly PropertyKey[]) => T | undefined;

/** What an integration is checked against: the other parts of the file, and where problems go. */
interface IntegrationContext {
  readonly ruleIds: ReadonlySet<string>;
  /** The names of the declared clusters (valid ones). */
  readonly clusters: ReadonlySet<string>;
  readonly breakGlass: BreakGlassConfig | undefined;
  readonly parse: Parse;
  readonly problems: FieldProblem[];
}

/**
 * One integration: its schema (a webhook integration has its own), then what its schema cannot see: a queue
 * integration names exact principals (the broker resolves a queue message's sender by its exact role), every
 * principal names its account (the broker checks an event's account against it), its ceiling names declared
 * rules, and a webhook fits the rest of the file.
 */
function validateIntegration(
  item: unknown,
  index: number,
  context: IntegrationContext,
): Integration | undefined {
  const { problems } = context;
  const webhook = own(item, 'webhook');
  if (webhook !== undefined) return validateWebhookIntegration(item, index, webhook, context);
  const value = context.parse(IntegrationSchema, item, ['integrations', index]);
  const at = (...path: PropertyKey[]) => formatPath(['integrations', index, ...path]);
  const queue = fieldOf(IntegrationSchema, item, 'queue');
  const principals = own(item, 'principals');
  (Array.isArray(principals) ? principals : []).forEach((principal: unknown, i) => {
    if (typeof principal !== 'string' || principalGlobProblem(principal) !== undefined) return;
    const account = principal.split(':')[4] ?? '';
    if (!/^\d{12}$/.test(account)) {
      problems.push({
        field: at('principals', i),
        message:
          'must name its account (12 digits, no *): the broker checks that an event comes from the account of its integration',
      });
    } else if (queue === true && principal.includes('*')) {
      problems.push({
        field: at('principals', i),
        message:
          "must be an exact ARN, without *, because the integration uses the queue: the broker resolves a queue message's sender by its exact role",
      });
    }
  });
  checkCeiling(item, index, context);
  if (!value) return undefined;
  return {
    id: value.id,
    ...(value.description === undefined ? {} : { description: value.description }),
    principals: value.principals,
    sources: value.sources,
    queue: value.queue,
    rules: value.rules,
    breakGlass: value.breakGlass,
    requestedBy: value.requestedBy,
  };
}

/** Its ceiling names declared rules, each once. */
function checkCeiling(item: unknown, index: number, { ruleIds, problems }: IntegrationContext): void {
  const ceiling = own(item, 'rules');
  (Array.isArray(ceiling) ? ceiling : []).forEach((id: unknown, i) => {
    if (typeof id === 'string' && RULE_ID.test(id) && !ruleIds.has(id)) {
      problems.push({
        field: formatPath(['integrations', index, 'rules', i]),
        message: `rule ${JSON.stringify(id)} is not declared under rules`,
      });
    }
  });
  reportDuplicates(
    (Array.isArray(ceiling) ? ceiling : []).map((key: unknown, i) => ({
      key,
      path: ['integrations', index, 'rules', i],
    })),
    'rule',
    problems,
  );
}

/**
 * A webhook integration (nobody sends for it: the broker reads each ticket back from its vendor): its own
 * schema, its ceiling, then what its schema cannot see (rules-webhooks.ts).
 */
function validateWebhookIntegration(
  item: unknown,
  index: number,
  webhook: unknown,
  context: IntegrationContext,
): Integration | undefined {
  const value = context.parse(WebhookIntegrationSchema, item, ['integrations', index]);
  checkCeiling(item, index, context);
  checkWebhook(item, index, webhook, context);
  if (!value) return undefined;
  return {
    id: value.id,
    ...(value.description === undefined ? {} : { description: value.description }),
    principals: [],
    sources: [],
    queue: false,
    rules: value.rules,
    breakGlass: value.breakGlass,
    requestedBy: value.requestedBy,
    webhook: value.webhook,
  };
}

function partitionOfRegion(region: string): (typeof PARTITIONS)[number] {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-isob-')) return 'aws-iso-b';
  if (region.startsWith('us-iso-')) return 'aws-iso';
  return 'aws';
}

/** The error that stops packaging or a cold start: the file, then each problem on a line of its own. */
export function rulesError(origin: string, problems: readonly string[]): ConfigurationError {
  const noun = problems.length === 1 ? 'problem' : 'problems';
  return new ConfigurationError(
    `invalid access rules in ${origin} (${problems.length} ${noun}):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
  );
}
