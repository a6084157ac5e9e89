/**
 * The zod schemas of the access rules: what each entry of the file may hold on its own. rules.ts validates the
 * document entry by entry with them and adds the checks across entries (duplicates, undeclared clusters and
 * rules, break-glass caps); the format is documented there.
 */
// A namespace import, not `{ z }`: esbuild then keeps only what is used (with `{ z }` every locale of zod
// comes along, ~350 KiB of each function's bundle).
import * as z from 'zod';
import { type GrantablePolicyName, normalizePolicyArn } from './access-policies';
import { CLUSTER_NAME, MAX_DURATION_SECONDS } from './contract';
import { checkPrincipalArn } from './iam-principal';
import { OUTCOME_SOURCE } from './names';
import type { WebhookConfig } from './tickets/config';
import { isRecord } from './validation';

// Also the integration ids, which name the webhook path `/webhooks/<id>`: only URL-safe characters, and no
// `.` or `..` segment since the first character is a letter or digit.
export const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RULE_ID_MESSAGE = 'must be 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit';
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
export const CLUSTER_GLOB = /^[0-9A-Za-z*][A-Za-z0-9-_*]*$/;
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

const RoleArnSchema = z
  .string()
  .max(2048, { abort: true })
  .check((ctx) => {
    const principal = checkPrincipalArn(ctx.value);
    if (!principal.ok) ctx.issues.push({ code: 'custom', message: principal.reason, input: ctx.value });
    else if (principal.kind !== 'role')
      ctx.issues.push({ code: 'custom', message: 'must be an IAM role ARN', input: ctx.value });
  });

const ClusterNameSchema = z
  .string()
  .max(100, { error: 'must be at most 100 characters', abort: true })
  .regex(CLUSTER_NAME, { error: 'is not a valid EKS cluster name' });

export const ClusterSchema = z.strictObject({
  name: ClusterNameSchema,
  region: z.string().regex(REGION, { error: 'is not an AWS region name like us-east-1' }),
  accountId: z
    .string({
      error: (issue) =>
        typeof issue.input === 'number'
          ? "must be a quoted string ('111122223333'): YAML reads bare digits as a number and drops leading zeros"
          : undefined,
    })
    .regex(/^\d{12}$/, { error: 'must be 12 digits' }),
  roleArn: RoleArnSchema.optional(),
});

const wholeNumber = (max: number) =>
  z
    .int({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a whole number') })
    .min(1, { error: 'must be at least 1' })
    .max(max, { error: `must be at most ${max}` });

export const BreakGlassSchema = z.strictObject({
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

export const RuleSchema = z.strictObject({
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

const REQUESTED_BY_MESSAGE =
  "must be asserted (a system relaying its user), proven (every request carries the requester's STS proof) or read-back (a webhook integration: the broker reads the ticket back)";

/** An integration that sends on the bus or the queue: its principals and sources say who may send for it. */
export const IntegrationSchema = z.strictObject({
  id: z.string().regex(RULE_ID, { error: RULE_ID_MESSAGE }),
  description: z.string().trim().min(1).max(1024).optional(),
  principals: z.array(PrincipalGlobSchema).min(1),
  sources: z.array(SourceEntrySchema).min(1, { error: 'must list at least one source' }),
  queue: z.boolean().default(false),
  // May be empty: an integration frozen (every grant refused) without touching the bus or the queue.
  rules: z.array(z.string().regex(RULE_ID, { error: RULE_ID_MESSAGE })),
  breakGlass: z.boolean().default(false),
  requestedBy: z.enum(['asserted', 'proven'], {
    error: (issue) => {
      if (issue.input === undefined) return 'is required';
      if (issue.input === 'read-back') {
        return 'read-back is only for a webhook integration (one with a webhook section): use asserted or proven';
      }
      return REQUESTED_BY_MESSAGE;
    },
  }),
});

/** Where a secret is kept, never the secret: an SSM parameter name, or a Secrets Manager secret. */
const SecretRefSchema = z
  .string()
  .max(2048, { abort: true })
  .regex(
    /^(?:\/[A-Za-z0-9_.\-/]+|secretsmanager:(?:[A-Za-z0-9/_+=.@-]{1,512}|arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}))$/,
    {
      // The message never shows the value: a secret pasted here by mistake must not reach a log.
      error:
        'must name where the secret is kept: an SSM parameter (/path/name) or secretsmanager:<name or ARN>',
    },
  );

/** The vendor's base URL, without a trailing `/` (the broker appends the API paths). */
const VendorUrlSchema = z
  .string()
  .max(2048, { abort: true })
  .check((ctx) => {
    const reason = vendorUrlProblem(ctx.value);
    if (reason) ctx.issues.push({ code: 'custom', message: reason, input: ctx.value });
  })
  .transform((url) => url.replace(/\/+$/, ''));

const EmailSchema = z
  .string()
  .max(254, { abort: true })
  .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, { error: 'must be an email address' });

const NonEmptySchema = z.string().min(1, { error: 'must not be empty' }).max(255);

const StatusListSchema = z.array(NonEmptySchema).min(1, { error: 'must list at least one status' });

// People often write the field's name ("Cluster") where Jira wants its id.
const JiraFieldSchema = z.string().regex(/^(?:customfield_\d{1,20}|[a-z][A-Za-z0-9]{0,63})$/, {
  error: 'must be a Jira field id (customfield_10100, or a system field such as summary), not its name',
});

const PagerDutyIdSchema = z.string().regex(/^[A-Z0-9]{1,64}$/, {
  error: 'is not a PagerDuty id (upper-case letters and digits, like PABC123)',
});

const JiraWebhookSchema = z.strictObject({
  vendor: z.literal('jira'),
  secret: SecretRefSchema,
  url: VendorUrlSchema,
  user: EmailSchema,
  token: SecretRefSchema,
  projects: z
    .array(
      z.string().regex(/^[A-Z][A-Z0-9_]{1,254}$/, {
        error: 'is not a Jira project key (an upper-case letter, then upper-case letters, digits or _)',
      }),
    )
    .min(1, { error: 'must list at least one project key' }),
  statuses: z.strictObject({
    approved: StatusListSchema,
    closed: StatusListSchema,
    extend: z
      .array(NonEmptySchema)
      .min(1, { error: 'must list at least one status, or be left out (no extension)' })
      .optional(),
  }),
  approverGroup: NonEmptySchema.optional(),
  fields: z.strictObject({
    cluster: JiraFieldSchema,
    principal: JiraFieldSchema,
    policy: JiraFieldSchema,
    namespaces: JiraFieldSchema.optional(),
    durationHours: JiraFieldSchema,
    extensionHours: JiraFieldSchema.optional(),
  }),
  owners: z
    .array(
      z.strictObject({
        principal: PrincipalGlobSchema,
        accountIds: z.array(NonEmptySchema).min(1, { error: 'must list at least one Jira account id' }),
      }),
    )
    .default([]),
});

const PagerDutyWebhookSchema = z.strictObject({
  vendor: z.literal('pagerduty'),
  secret: SecretRefSchema,
  url: VendorUrlSchema,
  token: SecretRefSchema,
  from: EmailSchema,
  services: z
    .array(z.strictObject({ id: PagerDutyIdSchema, cluster: ClusterNameSchema }))
    .min(1, { error: 'must list at least one service' }),
  users: z
    .array(z.strictObject({ id: PagerDutyIdSchema, principal: RoleArnSchema }))
    .min(1, { error: 'must list at least one user' }),
  policy: PolicySchema,
  durationSeconds: wholeNumber(MAX_DURATION_SECONDS),
});

// Annotated so that what passes is exactly the type the webhook code reads.
export const WebhookSchema: z.ZodType<WebhookConfig> = z.discriminatedUnion(
  'vendor',
  [JiraWebhookSchema, PagerDutyWebhookSchema],
  {
    error: (issue) => {
      const input: unknown = issue.input;
      if (!isRecord(input)) return 'must be a mapping with vendor (jira or pagerduty) and its settings';
      return Object.hasOwn(input, 'vendor') ? 'must be jira or pagerduty' : 'is required';
    },
  },
);

/**
 * A webhook integration: nobody sends for it (no principals, sources or queue, absent or empty); the broker's
 * webhook function queues a hint and the broker reads the ticket back from the vendor.
 */
export const WebhookIntegrationSchema = IntegrationSchema.extend({
  principals: z
    .array(z.unknown())
    .max(0, {
      error:
        'must be empty or left out for a webhook integration: nobody sends for it, the broker reads each ticket back from its vendor',
    })
    .optional(),
  sources: z
    .array(z.unknown())
    .max(0, {
      error: 'must be empty or left out for a webhook integration: its requests never come from the bus',
    })
    .optional(),
  queue: z
    .literal(false, {
      error:
        "must be false or left out for a webhook integration: only the broker's webhook function queues its requests",
    })
    .optional(),
  requestedBy: z.literal('read-back', {
    error: (issue) =>
      issue.input === undefined
        ? 'is required'
        : 'must be read-back for a webhook integration: the broker reads each ticket back from its vendor and takes the request from it',
  }),
  webhook: WebhookSchema,
});

export const RootSchema = z.strictObject({
  version: z.literal(2, { error: 'must be 2' }),
  clusters: z.array(z.unknown()).min(1, { error: 'must list at least one cluster' }),
  breakGlass: z.unknown().optional(),
  integrations: z.array(z.unknown()).min(1, { error: 'must list at least one integration' }),
  rules: z.array(z.unknown()),
});

export function principalGlobProblem(glob: string): string | undefined {
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

/** https only, since the broker sends its API token there; plain http only to this machine (the local fakes). */
function vendorUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an https URL (http only for 127.0.0.1 or localhost)';
  }
  const local = url.hostname === '127.0.0.1' || url.hostname === 'localhost';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    return 'must be an https URL (http only for 127.0.0.1 or localhost)';
  }
  if (url.username || url.password || url.search || url.hash || value.includes('?') || value.includes('#')) {
    return 'must have no user, password, query or fragment: the broker adds the API paths to it';
  }
  return undefined;
}
