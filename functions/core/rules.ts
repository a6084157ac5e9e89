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
 *                                       # the requester's STS proof
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
 *       requireProof: false             # optional (default: breakGlassOnly): the request must carry an STS proof
 *       self: false                     # optional (default: breakGlassOnly): the beneficiary must be the proven
 *                                       # requester; needs requireProof
 *
 * The EventBridge sources the broker accepts (AccessRules.sources) are the integrations' sources, in file order.
 * A rule must grant something: clusterScope true, or namespaces. Unknown keys anywhere are errors.
 */
// A namespace import, not `{ z }`: esbuild then keeps only what is used (with `{ z }` every locale of zod
// comes along, ~350 KiB of each function's bundle).
import * as z from 'zod';
import { type GrantablePolicyName, normalizePolicyArn, type PARTITIONS } from './access-policies';
import { CLUSTER_NAME, MAX_DURATION_SECONDS } from './contract';
import { ConfigurationError } from './errors';
import { globMatch } from './glob';
import { checkPrincipalArn } from './iam-principal';
import { OUTCOME_SOURCE } from './names';
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
  /** IAM role or user ARNs allowed to send for it; exact ARNs when it uses the queue. */
  readonly principals: readonly string[];
  /** The EventBridge sources it owns; no other integration owns them. */
  readonly sources: readonly string[];
  /** May send on the requests queue. */
  readonly queue: boolean;
  /** Ids of the rules it may use (its ceiling); only these decide its requests. */
  readonly rules: readonly string[];
  /** May send break-glass requests. */
  readonly breakGlass: boolean;
  /** asserted: a system relaying its user; proven: every request carries the requester's STS proof. */
  readonly requestedBy: 'asserted' | 'proven';
}

export interface AccessRules {
  readonly version: 2;
  /** Where the rules came from (a path), for messages. */
  readonly origin: string;
  /** Derived: every integration's sources, in file order (the EventBridge pattern and the contract's allow-list). */
  readonly sources: readonly string[];
  readonly clusters: readonly ClusterConfig[];
  readonly breakGlass?: BreakGlassConfig;
  readonly integrations: readonly Integration[];
  readonly rules: readonly AccessRule[];
}

const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RULE_ID_MESSAGE = 'must be 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit';
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
const CLUSTER_GLOB = /^[0-9A-Za-z*][A-Za-z0-9-_*]*$/;
const NAMESPACE_GLOB = /^[a-z0-9*-]+$/;
const PRINCIPAL_GLOB = /^arn:[\w+=,.@:/*-]+$/;

const SourceEntrySchema = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(256, { error: 'must be at most 256 characters' })
  // The broker publishes its outcome events under this source; accepting it as input would let it talk
  // to itself.
  .refine((source) => source !== OUTCOME_SOURCE, { error: `${OUTCOME_SOURCE} is the broker's own source` })
  .refine((source) => !source.startsWith('aws.'), { error: 'aws.* sources are reserved for AWS services' });

const ClusterSchema = z.strictObject({
  name: z
    .string()
    .max(100, { error: 'must be at most 100 characters', abort: true })
    .regex(CLUSTER_NAME, { error: 'is not a valid EKS cluster name' }),
  region: z.string().regex(REGION, { error: 'is not an AWS region name like us-east-1' }),
  accountId: z
    .string({
      error: (issue) =>
        typeof issue.input === 'number'
          ? "must be a quoted string ('111122223333'): YAML reads bare digits as a number and drops leading zeros"
          : undefined,
    })
    .regex(/^\d{12}$/, { error: 'must be 12 digits' }),
  roleArn: z
    .string()
    .max(2048, { abort: true })
    .check((ctx) => {
      const principal = checkPrincipalArn(ctx.value);
      if (!principal.ok) ctx.issues.push({ code: 'custom', message: principal.reason, input: ctx.value });
      else if (principal.kind !== 'role')
        ctx.issues.push({ code: 'custom', message: 'must be an IAM role ARN', input: ctx.value });
    })
    .optional(),
});

const wholeNumber = (max: number) =>
  z
    .int({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a whole number') })
    .min(1, { error: 'must be at least 1' })
    .max(max, { error: `must be at most ${max}` });

const BreakGlassSchema = z.strictObject({
  minReasonLength: wholeNumber(1024),
  maxDurationSeconds: wholeNumber(MAX_DURATION_SECONDS),
});

const PrincipalGlobSchema = z
  .string()
  .max(2048, { abort: true })
  .check((ctx) => {
    const reason = principalGlobProblem(ctx.value);
    if (reason) ctx.issues.push({ code: 'custom', message: reason, input: ctx.value });
  });

const PolicySchema = z
  .string()
  .max(256, { abort: true })
  .check((ctx) => {
    const result = normalizePolicyArn(ctx.value);
    if (!result.ok) ctx.issues.push({ code: 'custom', message: result.reason, input: ctx.value });
  })
  .transform((value): GrantablePolicyName => {
    const result = normalizePolicyArn(value);
    // The check above has refused everything else; this branch only satisfies the type.
    return result.ok ? result.name : 'AmazonEKSViewPolicy';
  });

const RuleSchema = z.strictObject({
  id: z.string().regex(RULE_ID, { error: RULE_ID_MESSAGE }),
  description: z.string().trim().min(1).max(1024).optional(),
  clusters: z
    .array(
      z.string().max(100, { abort: true }).regex(CLUSTER_GLOB, { error: 'is not a cluster name or glob' }),
    )
    .min(1),
  principals: z.array(PrincipalGlobSchema).min(1),
  policies: z.array(PolicySchema).min(1),
  namespaces: z
    .array(
      z
        .string()
        .max(63, { abort: true })
        .regex(NAMESPACE_GLOB, { error: 'is not a namespace glob (a-z, 0-9, - and *)' }),
    )
    .min(1, { error: 'must list at least one namespace glob, or be left out (no namespace-scoped grants)' })
    .optional(),
  clusterScope: z.boolean().default(false),
  maxDurationSeconds: wholeNumber(MAX_DURATION_SECONDS),
  breakGlassOnly: z.boolean().default(false),
  // Absent: the rule's breakGlassOnly value (break-glass rules require proof and self unless they say not).
  requireProof: z.boolean().optional(),
  self: z.boolean().optional(),
});

const IntegrationSchema = z.strictObject({
  id: z.string().regex(RULE_ID, { error: RULE_ID_MESSAGE }),
  description: z.string().trim().min(1).max(1024).optional(),
  principals: z.array(PrincipalGlobSchema).min(1),
  sources: z.array(SourceEntrySchema).min(1, { error: 'must list at least one source' }),
  queue: z.boolean().default(false),
  // May be empty: an integration frozen (every grant refused) without touching the bus or the queue.
  rules: z.array(z.string().regex(RULE_ID, { error: RULE_ID_MESSAGE })),
  breakGlass: z.boolean().default(false),
  requestedBy: z.enum(['asserted', 'proven'], {
    error: (issue) =>
      issue.input === undefined
        ? 'is required'
        : "must be asserted (a system relaying its user) or proven (every request carries the requester's STS proof)",
  }),
});

const RootSchema = z.strictObject({
  version: z.literal(2, { error: 'must be 2' }),
  clusters: z.array(z.unknown()).min(1, { error: 'must list at least one cluster' }),
  breakGlass: z.unknown().optional(),
  integrations: z.array(z.unknown()).min(1, { error: 'must list at least one integration' }),
  rules: z.array(z.unknown()),
});

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

  const integrations = list('integrations').map((item, index) =>
    validateIntegration(item, index, ruleIds, parse, problems),
  );
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

/**
 * One integration: its schema, then what its schema cannot see: a queue integration names exact principals
 * (the broker resolves a queue message's sender by its exact role), every principal names its account (the
 * broker checks an event's account against it), and its ceiling names declared rules.
 */
function validateIntegration(
  item: unknown,
  index: number,
  ruleIds: ReadonlySet<string>,
  parse: Parse,
  problems: FieldProblem[],
): Integration | undefined {
  const value = parse(IntegrationSchema, item, ['integrations', index]);
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
  const ceiling = own(item, 'rules');
  (Array.isArray(ceiling) ? ceiling : []).forEach((id: unknown, i) => {
    if (typeof id === 'string' && RULE_ID.test(id) && !ruleIds.has(id)) {
      problems.push({
        field: at('rules', i),
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

/** One field of an entry, when that field alone is valid (absent optional fields take their defaults). */
function fieldOf<S extends z.ZodRawShape, K extends keyof S & string>(
  schema: z.ZodObject<S>,
  item: unknown,
  key: K,
): z.output<S[K]> | undefined {
  const field = schema.shape[key];
  if (!field || !isRecord(item)) return undefined;
  const result = z.safeParse(field, own(item, key));
  return result.success ? (result.data as z.output<S[K]>) : undefined;
}

/** An own property only: a YAML key named `__proto__` or `constructor` must not reach the prototype chain. */
function own(value: unknown, key: string): unknown {
  return isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined;
}

/** Reports every repeat of a key, naming where it was first seen; entries that are not strings are skipped. */
function reportDuplicates(
  entries: readonly { readonly key: unknown; readonly path: readonly PropertyKey[] }[],
  what: string,
  problems: FieldProblem[],
): void {
  const first = new Map<string, readonly PropertyKey[]>();
  for (const { key, path } of entries) {
    if (typeof key !== 'string') continue;
    const seen = first.get(key);
    if (seen === undefined) first.set(key, path);
    else {
      problems.push({
        field: formatPath(path),
        message: `duplicate ${what} ${JSON.stringify(key)} (also at ${formatPath(seen)})`,
      });
    }
  }
}

function principalGlobProblem(glob: string): string | undefined {
  if (!PRINCIPAL_GLOB.test(glob)) {
    return 'must be an IAM role or user ARN, optionally with * wildcards (arn:aws:iam::111122223333:role/*)';
  }
  if (glob.includes(':sts:') || glob.includes('assumed-role/')) {
    return 'STS session ARNs never match: requests carry the role ARN (arn:aws:iam::<account>:role/<name>)';
  }
  if (glob.includes(':group/')) return 'IAM groups cannot have access entries: name the roles or users';
  if (glob.includes('role/aws-service-role/')) return 'service-linked roles cannot have access entries';
  if (!glob.includes('*')) {
    const principal = checkPrincipalArn(glob);
    if (!principal.ok) return principal.reason;
  }
  return undefined;
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
