/**
 * The request contract v1: the envelope (`source`, `detail-type`, `detail`) and the three details, as zod
 * schemas, and the parser that turns whatever arrived (an EventBridge event, an SQS body) into a normalized
 * BrokerRequest or a Rejection. The parser never throws: every input, however hostile, ends in a result, so
 * the handler can always publish exactly one outcome event.
 *
 * Field rules follow what EKS documents it accepts (principal ARNs, policy ARNs, cluster names), so a request
 * that passes here fails at EKS mostly for reasons that depend on EKS's state. Namespace names and their number
 * are the broker's own bounds: EKS documents none but the trailing wildcard, and a scope it refuses ends the
 * grant with EKS's answer, naming the policy and the namespaces (functions/adapters/eks-access.ts).
 * Every string is bounded, so nothing unbounded reaches the lease table or the outcome events.
 */
// A namespace import, not `{ z }`: esbuild then keeps only what is used (with `{ z }` every locale of zod
// comes along, ~350 KiB of each function's bundle).
import * as z from 'zod';
import { GRANTABLE_POLICY_NAMES, normalizePolicyArn, PARTITIONS } from './access-policies';
import { checkPrincipalArn, PRINCIPAL_ARN_PATTERN } from './iam-principal';
import type {
  AccessScope,
  BrokerRequest,
  ExtendRequest,
  GrantRequest,
  Rejection,
  RevokeRequest,
  Ticket,
} from './model';
import { BROKER_NAME } from './names';
import { ProofSchema } from './proof';
import {
  deepFreeze,
  describeIssues,
  type FieldProblem,
  isRecord,
  MISSING_IS_REQUIRED,
  show,
} from './validation';

export const DETAIL_TYPES = {
  grant: 'Access Grant Requested',
  revoke: 'Access Revoke Requested',
  extend: 'Access Extend Requested',
} as const;

type DetailType = (typeof DETAIL_TYPES)[keyof typeof DETAIL_TYPES];

/** Seven days: the longest lease a request may ask for (rules usually allow far less). */
export const MAX_DURATION_SECONDS = 604_800;
/** The broker's bound, not EKS's (which publishes none): the union over leases may still meet EKS's. */
const MAX_NAMESPACES = 25;
/** EventBridge caps an event at 256 KiB; a body beyond that is not one of ours, and is not worth parsing. */
export const MAX_BODY_LENGTH = 262_144;

const REQUEST_ID = /^[A-Za-z0-9._:/#-]{1,128}$/;
/** The regular expression EKS states in its own InvalidParameterException for cluster names. */
export const CLUSTER_NAME = /^[0-9A-Za-z][A-Za-z0-9-_]*$/;
/** A DNS-1123 label, or a prefix of one followed by the `*` wildcard EKS accepts at the end of a namespace. */
const NAMESPACE = /^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?|[a-z0-9][-a-z0-9]*\*|\*)$/;

// Free text ends up in DynamoDB, events and logs: control characters (tab and line breaks aside) and lone
// surrogates, which have no UTF-8 encoding, are refused rather than stored mangled.
function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) || code === 0x7f) return true;
  }
  return false;
}
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1, { error: 'must not be blank' })
    .max(max, { error: `must be at most ${max} characters`, abort: true })
    .refine((value) => !hasControlCharacter(value), { error: 'must not contain control characters' })
    .refine((value) => !LONE_SURROGATE.test(value), { error: 'must be valid Unicode text' });

const SourceSchema = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(256, { error: 'must be at most 256 characters' })
  .meta({ description: 'The EventBridge source of the producer; must be on the broker allow-list.' });

const RequestIdSchema = z
  .string()
  .regex(REQUEST_ID, { error: 'must be 1-128 characters of A-Z a-z 0-9 . _ : / # -' })
  .meta({ description: 'Idempotency key of the request (for revoke and extend: of the grant).' });

const ClusterNameSchema = z
  .string()
  .max(100, { error: 'must be at most 100 characters', abort: true })
  .regex(CLUSTER_NAME, {
    error: 'must start with a letter or digit and contain only letters, digits, - and _',
  });

const PrincipalArnSchema = z
  .string()
  .max(2048, { error: 'must be at most 2048 characters', abort: true })
  .check((ctx) => {
    const result = checkPrincipalArn(ctx.value);
    if (!result.ok) ctx.issues.push({ code: 'custom', message: result.reason, input: ctx.value });
  })
  .meta({
    description: 'ARN of the IAM role or user (path included) to grant access to.',
    pattern: PRINCIPAL_ARN_PATTERN,
  });

const PolicyArnSchema = z
  .string()
  .max(256, { error: 'must be at most 256 characters', abort: true })
  .check((ctx) => {
    const result = normalizePolicyArn(ctx.value);
    if (!result.ok) ctx.issues.push({ code: 'custom', message: result.reason, input: ctx.value });
  })
  .transform((value) => {
    const result = normalizePolicyArn(value);
    return result.ok ? result.arn : value;
  })
  .meta({
    description: 'An AWS-managed access policy meant for people: full ARN, or the bare name (partition aws).',
    pattern: `^(?:arn:(?:${PARTITIONS.join('|')}):eks::aws:cluster-access-policy/)?(?:${GRANTABLE_POLICY_NAMES.join('|')})$`,
  });

const NamespaceSchema = z
  .string()
  .max(63, { error: 'must be at most 63 characters', abort: true })
  .regex(NAMESPACE, { error: 'must be a DNS-1123 label (a-z, 0-9, -), optionally ending in a * wildcard' });

const ClusterScopeSchema = z
  .strictObject({
    type: z.literal('cluster'),
    namespaces: z
      .array(z.string())
      .max(0, {
        error: "must be absent or empty for type 'cluster' (use type 'namespace' to name namespaces)",
      })
      .optional(),
  })
  .transform((): AccessScope => ({ type: 'cluster' }));

const NamespaceScopeSchema = z
  .strictObject({
    type: z.literal('namespace'),
    namespaces: z
      .array(NamespaceSchema)
      .min(1, { error: "must name at least one namespace for type 'namespace'" })
      .max(MAX_NAMESPACES, { error: `must name at most ${MAX_NAMESPACES} namespaces` }),
  })
  .transform(
    (scope): AccessScope => ({ type: 'namespace', namespaces: [...new Set(scope.namespaces)].sort() }),
  );

const AccessScopeSchema = z
  .discriminatedUnion('type', [ClusterScopeSchema, NamespaceScopeSchema], {
    error: (issue) =>
      issue.code === 'invalid_union' ? "must be 'cluster' or 'namespace'" : 'must be an object with a type',
  })
  .meta({
    description: 'The EKS accessScope: {"type":"cluster"} or {"type":"namespace","namespaces":[...]}.',
  });

const DurationSecondsSchema = z
  .number({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a number of seconds') })
  .int({ error: 'must be a whole number of seconds' })
  .min(1, { error: 'must be at least 1 second' })
  .max(MAX_DURATION_SECONDS, { error: `must be at most ${MAX_DURATION_SECONDS} seconds (7 days)` });

const TicketSchema = z.strictObject({
  system: text(64),
  key: text(128),
  url: z
    .url({ protocol: /^https$/, error: 'must be an https URL' })
    .max(2048, { error: 'must be at most 2048 characters' })
    .optional(),
});

const GrantDetailSchema = z.strictObject({
  requestId: RequestIdSchema,
  clusterName: ClusterNameSchema,
  principalArn: PrincipalArnSchema,
  policyArn: PolicyArnSchema,
  accessScope: AccessScopeSchema,
  durationSeconds: DurationSecondsSchema,
  requestedBy: text(256),
  reason: text(1024),
  ticket: TicketSchema.optional(),
  breakGlass: z.boolean().default(false),
  proof: ProofSchema.optional(),
});

const RevokeDetailSchema = z.strictObject({
  requestId: RequestIdSchema,
  requestedBy: text(256),
  reason: text(1024),
  proof: ProofSchema.optional(),
});

const ExtendDetailSchema = z.strictObject({
  requestId: RequestIdSchema,
  durationSeconds: DurationSecondsSchema.meta({ description: 'Seconds added to the lease.' }),
  requestedBy: text(256),
  reason: text(1024),
  proof: ProofSchema.optional(),
});

// Envelopes are not strict: EventBridge adds version, id, account, time, region and resources (and replay-name
// on replays), and may add more; only the three keys below carry meaning for the broker.
const envelope = <T extends DetailType, D extends z.ZodType>(detailType: T, detail: D) =>
  z.object({ source: SourceSchema, 'detail-type': z.literal(detailType), detail });

const GrantEnvelopeSchema = envelope(DETAIL_TYPES.grant, GrantDetailSchema);
const RevokeEnvelopeSchema = envelope(DETAIL_TYPES.revoke, RevokeDetailSchema);
const ExtendEnvelopeSchema = envelope(DETAIL_TYPES.extend, ExtendDetailSchema);

const RequestEnvelopeSchema = z
  .discriminatedUnion('detail-type', [GrantEnvelopeSchema, RevokeEnvelopeSchema, ExtendEnvelopeSchema])
  .meta({
    title: `${BROKER_NAME} request contract v1`,
    description:
      'An EventBridge event (or the same envelope as an SQS message body) asking the broker to grant, revoke or extend access to an EKS cluster. Other envelope keys (version, id, account, time, region, resources) are ignored.',
  });

/** The JSON Schema (draft 2020-12) of what producers send, generated from the schemas the parser uses. */
export function contractJsonSchema(): object {
  return z.toJSONSchema(RequestEnvelopeSchema, { target: 'draft-2020-12', io: 'input' });
}

interface ParseOptions {
  readonly allowedSources: readonly string[];
}

export type ParseResult =
  | { readonly ok: true; readonly request: BrokerRequest }
  | {
      readonly ok: false;
      readonly rejection: Rejection;
      readonly requestId?: string;
      readonly detailType?: string;
    };

const BaseEnvelopeSchema = z.object({
  source: SourceSchema,
  'detail-type': z.string().max(256, { error: 'must be at most 256 characters' }),
  // Not z.record: it would copy the detail key by key, and a `__proto__` key would vanish into the prototype
  // instead of being refused as an unknown field.
  detail: z.custom<object>(isRecord, {
    error: (issue) => (issue.input === undefined ? 'is required' : 'must be a JSON object'),
  }),
});

/** Parses an SQS message body: JSON text holding the envelope, exactly what EventBridge delivers to SQS. */
export function parseSqsBody(body: string, options: ParseOptions): ParseResult {
  if (typeof body !== 'string') return envelopeRejection('the message body must be text');
  if (body.length > MAX_BODY_LENGTH) {
    return envelopeRejection(`the message body is longer than ${MAX_BODY_LENGTH} characters`);
  }
  let input: unknown;
  try {
    input = JSON.parse(body);
  } catch {
    return envelopeRejection('the message body is not JSON: expected {"source", "detail-type", "detail"}');
  }
  return parseRequest(input, options);
}

/** Parses an EventBridge event (or a parsed SQS body) into a normalized request, or says why not. */
export function parseRequest(input: unknown, options: ParseOptions): ParseResult {
  try {
    return parseUnsafe(input, options);
  } catch {
    // Only a hostile object (a throwing getter, a revoked proxy) gets here: JSON never does.
    return envelopeRejection('the request could not be read as a JSON object');
  }
}

function parseUnsafe(input: unknown, options: ParseOptions): ParseResult {
  if (!isRecord(input)) {
    return envelopeRejection('the request must be a JSON object with source, detail-type and detail');
  }
  const base = BaseEnvelopeSchema.safeParse(input, MISSING_IS_REQUIRED);
  const correlation = correlate(input);
  if (!base.success) {
    const [first, ...rest] = describeIssues(base.error.issues, []);
    return { ok: false, rejection: rejection('INVALID_ENVELOPE', first, rest), ...correlation };
  }
  const { source, 'detail-type': detailType, detail } = base.data;
  // Checked again by evaluateGrant (rule-decision.ts) on purpose: defence in depth, one more gate.
  if (!options.allowedSources.includes(source)) {
    return {
      ok: false,
      rejection: {
        code: 'SOURCE_NOT_ALLOWED',
        field: 'source',
        reason: `source ${show(source)} is not allowed`,
      },
      ...correlation,
    };
  }
  switch (detailType) {
    case DETAIL_TYPES.grant:
      return parseDetail(GrantDetailSchema, detail, correlation, (d): GrantRequest => {
        const ticket = d.ticket ? toTicket(d.ticket) : undefined;
        return {
          kind: 'grant',
          requestId: d.requestId,
          clusterName: d.clusterName,
          principalArn: d.principalArn,
          policyArn: d.policyArn,
          accessScope: d.accessScope,
          durationSeconds: d.durationSeconds,
          requestedBy: d.requestedBy,
          reason: d.reason,
          ...(ticket ? { ticket } : {}),
          breakGlass: d.breakGlass,
          source,
        };
      });
    case DETAIL_TYPES.revoke:
      return parseDetail(
        RevokeDetailSchema,
        detail,
        correlation,
        (d): RevokeRequest => ({
          kind: 'revoke',
          requestId: d.requestId,
          requestedBy: d.requestedBy,
          reason: d.reason,
          source,
        }),
      );
    case DETAIL_TYPES.extend:
      return parseDetail(
        ExtendDetailSchema,
        detail,
        correlation,
        (d): ExtendRequest => ({
          kind: 'extend',
          requestId: d.requestId,
          durationSeconds: d.durationSeconds,
          requestedBy: d.requestedBy,
          reason: d.reason,
          source,
        }),
      );
    default:
      return {
        ok: false,
        rejection: {
          code: 'UNKNOWN_DETAIL_TYPE',
          field: 'detail-type',
          reason: `detail-type ${show(detailType)} is not one of ${Object.values(DETAIL_TYPES).join(', ')}`,
        },
        ...correlation,
      };
  }
}

interface Correlation {
  requestId?: string;
  detailType?: string;
}

function parseDetail<S extends z.ZodType, R extends BrokerRequest>(
  schema: S,
  detail: unknown,
  correlation: Correlation,
  build: (data: z.output<S>) => R,
): ParseResult {
  const result = schema.safeParse(detail, MISSING_IS_REQUIRED);
  if (!result.success) {
    const [first, ...rest] = describeIssues(result.error.issues, ['detail']);
    // A request whose only fault is its proof is refused as an invalid proof, with the proof's own code.
    const onlyProof = result.error.issues.every((issue) => issue.path[0] === 'proof');
    return {
      ok: false,
      rejection: rejection(onlyProof ? 'PROOF_INVALID' : 'INVALID_FIELD', first, rest),
      ...correlation,
    };
  }
  return { ok: true, request: deepFreeze(build(result.data)) };
}

function toTicket(ticket: { system: string; key: string; url?: string | undefined }): Ticket {
  return { system: ticket.system, key: ticket.key, ...(ticket.url === undefined ? {} : { url: ticket.url }) };
}

/** What can be read from a request that failed, so its outcome event still names the request it answers. */
function correlate(input: object): Correlation {
  const correlation: Correlation = {};
  const detailType = Reflect.get(input, 'detail-type');
  if ((Object.values(DETAIL_TYPES) as unknown[]).includes(detailType))
    correlation.detailType = String(detailType);
  const detail: unknown = Reflect.get(input, 'detail');
  if (isRecord(detail)) {
    const requestId: unknown = Reflect.get(detail, 'requestId');
    if (typeof requestId === 'string' && REQUEST_ID.test(requestId)) correlation.requestId = requestId;
  }
  return correlation;
}

const MAX_LISTED_PROBLEMS = 5;

function rejection(
  code: 'INVALID_ENVELOPE' | 'INVALID_FIELD' | 'PROOF_INVALID',
  first: FieldProblem | undefined,
  rest: readonly FieldProblem[],
): Rejection {
  if (!first) return { code, reason: 'the request is invalid' };
  const listed = [first, ...rest.slice(0, MAX_LISTED_PROBLEMS - 1)].map(
    (p) => `${p.field || '(request)'}: ${p.message}`,
  );
  const more =
    rest.length >= MAX_LISTED_PROBLEMS ? `; and ${rest.length - MAX_LISTED_PROBLEMS + 1} more` : '';
  return { code, ...(first.field ? { field: first.field } : {}), reason: `${listed.join('; ')}${more}` };
}

function envelopeRejection(reason: string): ParseResult {
  return { ok: false, rejection: { code: 'INVALID_ENVELOPE', reason } };
}
